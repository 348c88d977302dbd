"""Staying up under load, faults and hostile input: queue, deadlines, cancellation, access."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient

from service.api.app import create_app
from service.article import Article
from service.errors import Cancelled, ClientGone, DeadlineExceeded, QueueFull
from service.scheduler import Scheduler
from service.schemas import Summary, SummaryRequest
from service.settings import Settings
from tests.conftest import dev_articles, request_body
from tests.test_api import assert_grounded, assert_problem

# The scheduler on its own, around a stand-in for the model (the real one is used below).


class SlowSummarizer:
    """Blocks each summary until released, and records what ran and what was cancelled."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.ran: list[str] = []
        self.stopped: list[str] = []
        self.batches: list[list[str]] = []

    def summarize(self, request: SummaryRequest, cancel: threading.Event) -> Summary:
        while not self.release.wait(0.01):
            if cancel.is_set():
                self.stopped.append(request.text)
                raise Cancelled
        self.ran.append(request.text)
        return Summary(who=[], what={"text": request.text}, when=None, where=[], model="slow", prompt_version="x", timings_ms={})

    def summarize_batch(self, requests: list[SummaryRequest], cancels: list[threading.Event]) -> list[Summary | BaseException]:
        self.batches.append([request.text for request in requests])
        results: list[Summary | BaseException] = []
        for request, cancel in zip(requests, cancels):
            try:
                results.append(self.summarize(request, cancel))
            except Cancelled as error:
                results.append(error)
        return results


def test_a_full_queue_refuses_at_once():
    async def scenario() -> None:
        model = SlowSummarizer()
        scheduler = Scheduler(model, max_queue=2, deadline_s=5)  # type: ignore[arg-type]
        first = asyncio.ensure_future(scheduler.summarize(SummaryRequest(text="one")))
        second = asyncio.ensure_future(scheduler.summarize(SummaryRequest(text="two")))
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFull):
            await scheduler.summarize(SummaryRequest(text="three"))
        model.release.set()
        assert [s.what.text for s in await asyncio.gather(first, second)] == ["one", "two"]
        scheduler.close()

    asyncio.run(scenario())


def test_requests_that_arrive_together_are_read_as_one_batch():
    async def scenario() -> SlowSummarizer:
        model = SlowSummarizer()
        model.release.set()
        scheduler = Scheduler(model, max_queue=8, deadline_s=5, max_batch=4, gather_s=0.05)  # type: ignore[arg-type]
        texts = ["a", "b", "c", "d", "e"]
        summaries = await asyncio.gather(*(scheduler.summarize(SummaryRequest(text=text)) for text in texts))
        assert [summary.what.text for summary in summaries] == texts
        scheduler.close()
        return model

    assert asyncio.run(scenario()).batches == [["a", "b", "c", "d"], ["e"]]


def test_a_request_arriving_during_a_batch_goes_in_the_next_one_in_order():
    async def scenario() -> SlowSummarizer:
        model = SlowSummarizer()
        scheduler = Scheduler(model, max_queue=8, deadline_s=5, max_batch=8, gather_s=0.01)  # type: ignore[arg-type]
        first = asyncio.ensure_future(scheduler.summarize(SummaryRequest(text="first")))
        await asyncio.sleep(0.1)  # the first batch is running and blocked
        later = [asyncio.ensure_future(scheduler.summarize(SummaryRequest(text=text))) for text in ("second", "third")]
        await asyncio.sleep(0.05)
        model.release.set()
        await asyncio.gather(first, *later)
        scheduler.close()
        return model

    assert asyncio.run(scenario()).batches == [["first"], ["second", "third"]]


def test_a_request_past_its_deadline_is_cancelled_and_stops_the_model():
    async def scenario() -> SlowSummarizer:
        model = SlowSummarizer()
        scheduler = Scheduler(model, max_queue=4, deadline_s=0.2)  # type: ignore[arg-type]
        with pytest.raises(DeadlineExceeded):
            await scheduler.summarize(SummaryRequest(text="slow"))
        await asyncio.sleep(0.1)
        assert scheduler.depth == 0
        scheduler.close()
        return model

    model = asyncio.run(scenario())
    assert model.stopped == ["slow"] and model.ran == []


def test_a_client_that_disconnects_stops_costing_compute():
    async def scenario() -> SlowSummarizer:
        model = SlowSummarizer()
        scheduler = Scheduler(model, max_queue=4, deadline_s=5)  # type: ignore[arg-type]
        with pytest.raises(ClientGone):
            await scheduler.summarize(SummaryRequest(text="gone"), disconnected=lambda: asyncio.sleep(0.1))
        await asyncio.sleep(0.1)
        scheduler.close()
        return model

    assert asyncio.run(scenario()).stopped == ["gone"]


# The real model.


class SetAtSecondLook(threading.Event):
    """A cancel flag that turns set the second time it is looked at: after the article's prefill,
    before its candidates are scored (the engine looks once per step). A timer could fire after a
    fast machine had already finished."""

    def __init__(self) -> None:
        super().__init__()
        self.looks = 0

    def is_set(self) -> bool:
        self.looks += 1
        return self.looks >= 2


def test_a_cancelled_read_leaves_the_backend_intact_for_the_next_request(summarizer):
    backend = summarizer.backend
    article = Article(text=dev_articles()[3]["text"], title=dev_articles()[3]["title"], published="2016-11-09")
    before = backend.read(article)
    cancel = SetAtSecondLook()
    with pytest.raises(Cancelled):
        backend.read(article, cancel)
    after = backend.read(article)
    assert (after.who, after.what, after.when, after.where) == (before.who, before.what, before.when, before.where)


def test_deadline_gives_504_problem(summarizer):
    app = create_app(Settings(request_timeout_s=0.05), summarizer=summarizer)
    with TestClient(app) as client:
        response = client.post("/v1/summaries", json=request_body(dev_articles()[0]))
    assert "longer than 0.05 s" in assert_problem(response, 504)["detail"]


def test_concurrent_requests_over_the_queue_get_503_with_retry_after_and_the_rest_succeed(summarizer):
    article = dev_articles()[5]

    async def burst() -> list:
        app = create_app(Settings(max_queue=2), summarizer=summarizer)
        # httpx's ASGI transport runs the five requests concurrently in this event loop.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await asyncio.gather(*[client.post("/v1/summaries", json=request_body(article)) for _ in range(5)])

    responses = asyncio.run(burst())
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 200, 503, 503, 503]
    for response in responses:
        if response.status_code == 503:
            assert response.headers["retry-after"] and "busy" in response.json()["detail"]
        else:
            assert_grounded(response.json(), article["text"])


# Hostile input.


def test_nul_characters_are_accepted_but_never_copied(client: TestClient):
    text = "Rain\u0000 fell in Oslo\u0000 on Monday, the Norwegian Meteorological Institute said.\u0000"
    response = client.post("/v1/summaries", json={"text": text, "published_at": "2024-01-10"})
    assert response.status_code == 200, response.text
    summary = response.json()
    assert_grounded(summary, text)
    assert all("\u0000" not in item["text"] for item in summary["who"] + summary["where"] + [summary["what"]])


def test_a_50000_word_article_is_over_the_default_limit(client: TestClient):
    text = " ".join(["background"] * 50_000)
    assert "limit is 200000" in assert_problem(client.post("/v1/summaries", json={"text": text}), 413)["detail"]


def test_a_10_mb_body_is_413_naming_the_byte_limit(client: TestClient):
    response = client.post("/v1/summaries", content=b"a" * 10_000_000, headers={"content-type": "text/plain"})
    assert "the limit is 1265536 bytes" in assert_problem(response, 413)["detail"]


def test_a_50000_word_article_is_read_lead_first_in_bounded_time(summarizer):
    # 50,000 words is over the default 200,000-character limit (413, tested above); with the
    # limit raised, only the lead is read, so the time does not grow with the length.
    article = dev_articles()[0]
    text = article["text"] + " " + " ".join(["background"] * 50_000)
    with TestClient(create_app(Settings(max_text_chars=1_000_000), summarizer=summarizer)) as client:
        response = client.post("/v1/summaries", json={"text": text, "title": article["title"]})
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["warnings"] and summary["warnings"][0].startswith("article truncated:")
    assert_grounded(summary, text)


# Access: keys, rate limits, CORS, request ids.


@pytest.fixture(scope="module")
def keyed(summarizer):
    with TestClient(create_app(Settings(api_keys=["s3cret", "other"]), summarizer=summarizer)) as client:
        yield client


def test_without_a_key_summaries_are_401_problem(keyed: TestClient):
    response = keyed.post("/v1/summaries", json={"text": "Rain fell in Oslo."})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_wrong_key_is_401(keyed: TestClient):
    assert_problem(keyed.post("/v1/summaries", json={"text": "Rain."}, headers={"Authorization": "Bearer nope"}), 401)


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer s3cret"}, {"X-API-Key": "other"}])
def test_a_valid_key_in_either_header_is_accepted(keyed: TestClient, headers: dict):
    response = keyed.post("/v1/summaries", json={"text": "Heavy snow closed roads in Oslo on Monday."}, headers=headers)
    assert response.status_code == 200, response.text


def test_health_readiness_and_docs_stay_open_with_keys(keyed: TestClient):
    for path in ("/healthz", "/readyz", "/docs", "/docs/openapi.json"):
        assert keyed.get(path).status_code == 200, path


def test_over_the_rate_limit_is_429_with_ratelimit_headers(summarizer):
    with TestClient(create_app(Settings(rate_limit_per_minute=2), summarizer=summarizer)) as client:
        statuses = [client.post("/v1/summaries", content=b"x", headers={"content-type": "text/csv"}) for _ in range(3)]
        assert [r.status_code for r in statuses] == [415, 415, 429]
        assert_problem(statuses[2], 429)
        assert "ratelimit-limit" in {name.lower() for name in statuses[0].headers}
        assert client.get("/healthz").status_code == 200  # health checks are never limited


def test_rate_limits_count_per_api_key(summarizer):
    settings = Settings(rate_limit_per_minute=1, api_keys=["a", "b"])
    with TestClient(create_app(settings, summarizer=summarizer)) as client:
        def send(key: str) -> int:
            return client.post("/v1/summaries", content=b"x", headers={"content-type": "text/csv", "X-API-Key": key}).status_code

        assert [send("a"), send("a"), send("b")] == [415, 429, 415]


def test_cors_is_off_by_default(client: TestClient):
    response = client.options("/v1/summaries", headers={"Origin": "https://news.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_configured_origins(summarizer):
    with TestClient(create_app(Settings(cors_origins=["https://news.example"]), summarizer=summarizer)) as client:
        response = client.options(
            "/v1/summaries", headers={"Origin": "https://news.example", "Access-Control-Request-Method": "POST"}
        )
    assert response.headers["access-control-allow-origin"] == "https://news.example"


def test_request_ids_are_echoed_or_made_up(client: TestClient):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    made_up = client.get("/nowhere").headers["x-request-id"]
    assert len(made_up) == 32


def test_access_log_has_request_ids_and_never_the_article(client: TestClient, caplog):
    secret = "The secret source Zelda Quarterback met officials in Bergen."
    with caplog.at_level("INFO", logger="service"):
        client.post("/v1/summaries", json={"text": secret}, headers={"X-Request-ID": "log-check"})
    access = [r for r in caplog.records if r.name == "service.access" and getattr(r, "request_id", "") == "log-check"]
    assert access and access[0].status == 200 and access[0].path == "/v1/summaries"
    assert all("Zelda" not in record.getMessage() and "Zelda" not in str(record.__dict__) for record in caplog.records)


# Batch without loss.


def test_batch_killed_midway_and_restarted_writes_every_input_exactly_once(tmp_path: Path):
    articles = dev_articles()[:6]
    source, results = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps({"id": a["id"], **request_body(a)}) + "\n" for a in articles))
    command = [sys.executable, "-m", "service.cli", "batch", str(source), str(results)]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not results.exists() or results.read_text().count("\n") < 2):
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    written_before = results.read_text().count("\n")
    assert 2 <= written_before < len(articles), "the kill should land mid-run"
    with results.open("a") as out:  # as if the kill had cut a line in half
        out.write('{"id": "half-writ')
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    ids = [json.loads(line)["id"] for line in results.read_text().splitlines()]
    assert sorted(ids) == sorted(a["id"] for a in articles) and len(ids) == len(set(ids))
    for line in results.read_text().splitlines():
        Summary.model_validate(json.loads(line)["summary"])


def test_an_app_started_again_after_shutdown_still_serves(summarizer):
    app = create_app(Settings(), summarizer=summarizer)
    with TestClient(app) as client:
        assert client.post("/v1/summaries", json={"text": "Rain fell in Oslo on Monday."}).status_code == 200
    with TestClient(app) as client:
        assert client.post("/v1/summaries", json={"text": "Rain fell in Oslo on Monday."}).status_code == 200
