"""The local backend: reads articles with a model loaded in this process.

The KV cache of the fixed prompt prefix (system text and worked example) is computed once and
reused by every request; requests that arrive together are read as one batch.
"""

from __future__ import annotations

import threading
import time

import torch
from transformers import DynamicCache

from service.article import Article, Draft, Layout, sentence_cut
from service.backends import only
from service.backends.local.batching import Row, run_rows
from service.backends.local.kv_cache import KVCacheBatch
from service.backends.local.loader import LoadedModel
from service.backends.local.walk import Decisions, Openings, Walker
from service.candidates import find_candidates, parse
from service.errors import Cancelled
from service.prompts import Prompts
from service.ranking import Ranker
from service.settings import Settings

ARTICLE_SENTINEL = "\u0000ARTICLE\u0000"


class LocalBackend:
    """Reads articles with one loaded model; requests that arrive together are read as one batch."""

    def __init__(self, loaded: LoadedModel, prompts: Prompts, settings: Settings) -> None:
        self.loaded = loaded
        self.prompts = prompts
        self.settings = settings
        self.tokenizer = loaded.tokenizer
        self.walker = Walker(Openings.build(self.encode), self.encode, Ranker.load(), settings.max_candidates)
        parse("Loaded in London on Monday.")  # the NER model loads with the backend, not on the first request
        self._lock = threading.Lock()
        # Everything before the article's user turn is the same for every request, so its KV
        # cache is computed once here and each request continues from it.
        conversation = prompts.conversation(ARTICLE_SENTINEL, self.tokenizer)
        self.prefix_text, self.suffix_text = conversation.split(ARTICLE_SENTINEL)
        self.prefix_ids = self.encode(self.prefix_text)
        self.prefix_cache = DynamicCache()
        with torch.inference_mode():
            input_ids = torch.tensor([self.prefix_ids], dtype=torch.long, device=loaded.device)
            loaded.model(input_ids=input_ids, cache=self.prefix_cache, use_cache=True, logits_to_keep=1)

    @property
    def model_name(self) -> str:
        return self.loaded.name

    @property
    def load_seconds(self) -> float:
        return self.loaded.load_seconds

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def window_chars(self, text: str) -> int:
        """How many characters of ``text`` the model reads, lead first.

        The cut falls at a sentence end (or at least a word end) within the token budget.
        """
        budget = self.settings.window_tokens
        head = text[: budget * 12]  # enough characters for the budget; tokenising a whole long text is waste
        offsets = self.tokenizer(head, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        if len(offsets) <= budget and len(head) == len(text):
            return len(text)
        limit = offsets[budget - 1][1] if len(offsets) >= budget else len(head)
        return sentence_cut(text, limit)

    def read(self, article: Article, cancel: threading.Event | None = None) -> Draft:
        """The model's answer for ``article``; stops with ``Cancelled`` once ``cancel`` is set."""
        return only(self.read_batch([article], [cancel]))

    def read_batch(
        self, articles: list[Article], cancels: list[threading.Event | None]
    ) -> list[Draft | BaseException]:
        """The answers for several articles, read together: one forward pass per step for all.

        Each result is a Draft, or the exception that ended that request alone (``Cancelled``
        once its ``cancel`` is set); the other requests go on.
        """
        started = time.perf_counter()
        layouts, prompt_ids, rows, window_ms, candidates_ms = self._run(articles, cancels)
        results: list[Draft | BaseException] = []
        for layout, ids, row in zip(layouts, prompt_ids, rows):
            if not isinstance(row.result, Decisions):
                results.append(row.result or Cancelled())
                continue
            decisions = row.result
            timings = {
                "window": window_ms,
                "candidates": candidates_ms,
                "prefill": row.prefill_ms,
                "scoring": (row.finished_at - started) * 1000 - window_ms - candidates_ms - row.prefill_ms,
                "total": (row.finished_at - started) * 1000,
            }
            results.append(Draft(
                who=decisions.who, what=decisions.what, when=decisions.when, where=decisions.where,
                source=layout.source, text_offset=layout.text_offset, window_chars=layout.window_chars,
                truncated=layout.truncated, prompt_tokens=len(self.prefix_ids) + len(ids),
                scored_tokens=decisions.scored_tokens,
                timings_ms={name: round(value, 1) for name, value in timings.items()},
            ))
        return results

    def decide(self, article: Article) -> Decisions:
        """The candidates of ``article``, their model scores and the ranker's choice (for fitting the ranker)."""
        *_, rows, _, _ = self._run([article], [None])
        return only([rows[0].result or Cancelled()])  # type: ignore[list-item]

    def _run(
        self, articles: list[Article], cancels: list[threading.Event | None]
    ) -> tuple[list[Layout], list[list[int]], list[Row[Decisions]], float, float]:
        """Lay out, find candidates, and walk every article: one batched forward pass per step."""
        started = time.perf_counter()
        layouts = [Layout.of(article, self.window_chars(article.text), self.prompts) for article in articles]
        prompt_ids = [self.encode(layout.user + self.suffix_text) for layout in layouts]
        window_ms = (time.perf_counter() - started) * 1000
        candidates = [find_candidates(layout.source, layout.text_offset, article.text) for layout, article in zip(layouts, articles)]
        candidates_ms = (time.perf_counter() - started) * 1000 - window_ms
        rows: list[Row[Decisions]] = [
            Row(walk=self.walker.walk(ids, found), cancel=cancel)
            for ids, found, cancel in zip(prompt_ids, candidates, cancels)
        ]
        with self._lock, torch.inference_mode():
            batch = KVCacheBatch(self.loaded.model, self.loaded.device, self.prefix_cache, len(self.prefix_ids), len(rows))
            run_rows(rows, batch)
        return layouts, prompt_ids, rows, window_ms, candidates_ms
