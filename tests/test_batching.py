"""Concurrent requests read as one batch on the real model: same answers as alone, no request lost."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from pathlib import Path

import httpx
import pytest
import torch
from transformers import DynamicCache

from service.api.app import create_app
from service.article import Article
from service.backends.local.kv_cache import KVCacheBatch
from service.backends.local.loader import load_model
from service.errors import Cancelled
from service.settings import Settings
from service.summarizer import Summarizer

BBC_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "bbc-sample.jsonl"


def bbc_articles(indexes: list[int]) -> list[Article]:
    with BBC_FILE.open(encoding="utf-8") as rows:
        articles = [json.loads(row) for row in rows]
    return [Article(text=articles[index]["text"], title=articles[index]["title"], published="2005-03-10") for index in indexes]


def answers(draft) -> tuple:
    """The answers and where they are (probabilities may differ in the last digits: bfloat16 sums
    in another order when rows are padded together)."""
    def place(span):
        return (span.text, span.position) if span else None

    return ([place(span) for span in draft.who], place(draft.what), place(draft.when), [place(span) for span in draft.where])


def test_articles_read_together_get_the_answers_they_get_alone(summarizer: Summarizer):
    articles = bbc_articles([3, 25, 61])
    alone = [answers(summarizer.backend.read(article)) for article in articles]
    together = summarizer.backend.read_batch(articles, [None] * len(articles))
    assert [answers(draft) for draft in together] == alone


def test_a_cancelled_request_leaves_the_rest_of_its_batch_unharmed(summarizer: Summarizer):
    articles = bbc_articles([3, 25, 61])
    alone = [answers(summarizer.backend.read(article)) for article in (articles[0], articles[2])]
    cancel = threading.Event()
    cancel.set()
    together = summarizer.backend.read_batch(articles, [None, cancel, None])
    assert isinstance(together[1], Cancelled)
    assert [answers(together[0]), answers(together[2])] == alone


def test_concurrent_http_requests_share_batches_and_all_get_their_own_summary(summarizer: Summarizer):
    articles = bbc_articles([3, 25, 61, 80])
    app = create_app(Settings(max_batch=4, batch_wait_ms=50), summarizer=summarizer)

    async def post_all() -> list[httpx.Response]:
        # httpx's ASGI transport runs the four requests concurrently in this event loop.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=120) as client:
            return await asyncio.gather(*(
                client.post("/v1/summaries", json={"text": article.text, "title": article.title}) for article in articles
            ))

    responses = asyncio.run(post_all())
    assert [response.status_code for response in responses] == [200] * 4
    for article, response in zip(articles, responses):
        summary = response.json()
        for item in summary["who"] + summary["where"]:
            assert article.text[item["start"] : item["end"]] == item["text"]


def test_packed_candidate_scores_equal_each_value_written_alone():
    """The one packed scoring pass (shared field openings, a custom attention mask) gives each
    value the mean and first-token log-probabilities it gets when written alone after its opening
    (float32: exact to rounding)."""
    loaded = load_model(Settings(dtype="float32"))
    encode = lambda text: loaded.tokenizer.encode(text, add_special_tokens=False)
    prompt = encode("Title: Storm hits Braga\n\nHeavy rain flooded homes in Braga on Monday, the mayor said.")
    pairs = [
        (encode('{"who": ["'), encode('the mayor"')),
        (encode('{"where": ["'), encode('Braga"')),
        (encode('{"who": ["'), encode('Heavy rain"')),
        (encode('{"when": "'), encode('on Monday"')),
    ]
    with torch.inference_mode():
        batch = KVCacheBatch(loaded.model, loaded.device, DynamicCache(), 0, 1)
        batch.feed([prompt])
        before = copy.deepcopy(batch.cache)
        packed = batch.score(0, pairs)
        alone = []
        for context, value in pairs:
            cache = copy.deepcopy(before)
            ids = torch.tensor([context + value])
            logits = loaded.model(input_ids=ids, cache=cache, use_cache=True).logits[0].float()
            steps = range(len(context) - 1, len(context) + len(value) - 1)
            token_scores = [float(torch.log_softmax(logits[step], -1)[ids[0, step + 1]]) for step in steps]
            alone.append((sum(token_scores) / len(value), token_scores[0]))
    assert batch.cache.get_seq_length() == before.get_seq_length()  # the scored values were cut again
    assert [(score.mean, score.first) for score in packed] == [pytest.approx(pair, abs=1e-4) for pair in alone]
