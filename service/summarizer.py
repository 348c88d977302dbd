"""The one path from a request to a Summary: read with the backend, then ground and validate."""

from __future__ import annotations

import datetime as dt
import threading

from service.article import Article, Draft
from service.backends import Backend, backend_plan, only
from service.grounding import confident, ground
from service.ranking import default_min_confidence
from service.schemas import Summary, SummaryRequest
from service.settings import Settings


class Summarizer:
    """Turns article requests into validated, grounded summaries with one backend."""

    def __init__(self, backend: Backend, min_confidence: float | None = None) -> None:
        self.backend = backend
        # Answers below it are left out; None: the default fit-ranker chose (ranker.json).
        self.min_confidence = default_min_confidence() if min_confidence is None else min_confidence

    @classmethod
    def load(cls, settings: Settings) -> Summarizer:
        """A Summarizer on the configured backend, started (for a local model: loaded)."""
        return cls(backend_plan(settings).start(), settings.min_confidence)

    @property
    def model_name(self) -> str:
        return self.backend.model_name

    @property
    def load_seconds(self) -> float:
        return self.backend.load_seconds

    def summarize(self, request: SummaryRequest, cancel: threading.Event | None = None) -> Summary:
        return only(self.summarize_batch([request], [cancel]))

    def summarize_batch(
        self, requests: list[SummaryRequest], cancels: list[threading.Event | None]
    ) -> list[Summary | BaseException]:
        """Summaries of requests read together; a request that failed gets its exception instead."""
        published = [publication_date(request.published_at) for request in requests]
        articles = [
            Article(text=request.text, title=request.title, published=date.isoformat() if date else None)
            for request, date in zip(requests, published)
        ]
        drafts = self.backend.read_batch(articles, cancels)
        results: list[Summary | BaseException] = []
        for request, date, draft in zip(requests, published, drafts):
            try:
                results.append(draft if isinstance(draft, BaseException) else self._summary(request, date, draft))
            except Exception as error:  # one request's failure stays its own
                results.append(error)
        return results

    def _summary(self, request: SummaryRequest, published: dt.date | None, draft: Draft) -> Summary:
        who, what, when, where = ground(draft, request.text, published)
        minimum = self.min_confidence if request.min_confidence is None else request.min_confidence
        who, what, when, where, abstained = confident(who, what, when, where, minimum)
        warnings = []
        if draft.truncated:
            warnings.append(
                f"article truncated: the model read the first {draft.window_chars} of {len(request.text)} characters"
            )
        warnings += [f"dropped an answer that is not in the article: {value!r}" for value in draft.dropped]
        warnings += abstained
        if not what.text and not any(line.startswith("what:") for line in abstained):
            warnings.append("no event description could be copied from the article")
        return Summary(
            who=who,
            what=what,
            when=when,
            where=where,
            model=self.model_name,
            prompt_version=self.backend.prompts.version,
            timings_ms=draft.timings_ms,
            usage={"prompt_tokens": draft.prompt_tokens, "generated_tokens": draft.generated_tokens, "scored_tokens": draft.scored_tokens},
            warnings=warnings,
        )


def publication_date(published_at: dt.date | dt.datetime | None) -> dt.date | None:
    if isinstance(published_at, dt.datetime):
        return published_at.date()
    return published_at
