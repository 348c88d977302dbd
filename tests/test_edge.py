"""The HTTP edge: the batch endpoint, admission by expected wait, and refusals every client can read.

All but the last test run on a stand-in for the model (tests/stub_model.py); the last sends 64
real articles through the real model.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import pytest
import requests
from litestar.testing import TestClient

from service.api.app import create_app
from service.errors import QueueFull
from service.scheduler import Admission, Scheduler
from service.schemas import SummaryRequest
from service.settings import Settings
from service.tools.evaluation import article_request
from tests.conftest import dev_articles
from tests.stub_model import StubSummarizer, uvicorn_server
from tests.test_api import assert_grounded, assert_problem

BBC_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "bbc-sample.jsonl"
BATCH = "/v1/summaries:batch"


def ndjson(response) -> list[dict]:
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines() if line]


# Admission by expected wait: the rule, on fake service times.


def test_a_request_is_admitted_while_its_expected_wait_leaves_time_to_serve_it():
    admission = Admission(deadline_s=10, per_request_s=1.0, batch_s=2.0)
    assert admission.fits(8)  # 8 s waiting + a 2 s model batch = the deadline
    assert not admission.fits(9)


def test_service_time_is_a_moving_average_of_batch_seconds_per_request():
    admission = Admission(deadline_s=60, per_request_s=1.0, weight=0.5)
    admission.observe(batch_seconds=2.0, size=8)  # 0.25 s per request
    assert admission.per_request_s == pytest.approx(0.625) and admission.batch_s == pytest.approx(1.5)
    admission.observe(batch_seconds=2.0, size=8)
    assert admission.per_request_s == pytest.approx(0.4375) and admission.batch_s == pytest.approx(1.75)


def test_batches_run_in_parallel_shorten_the_service_time_per_request():
    admission = Admission(deadline_s=60, per_request_s=6.0, weight=1.0, parallel=8)
    admission.observe(batch_seconds=6.0, size=1)
    assert admission.per_request_s == pytest.approx(0.75)


def test_retry_after_is_the_expected_wait_rounded_up_to_whole_seconds():
    admission = Admission(deadline_s=60, per_request_s=0.85)
    assert admission.retry_after_s(10) == 9  # 8.5 s
    assert admission.retry_after_s(0) == 1


def test_the_scheduler_measures_service_time_and_refuses_what_cannot_finish_in_time():
    ticks = iter(range(0, 1000, 20))  # a fake clock: every reading is 20 s after the last

    async def scenario() -> None:
        model = StubSummarizer()
        scheduler = Scheduler(model, max_queue=8, deadline_s=25, clock=lambda: float(next(ticks)))  # type: ignore[arg-type]
        await scheduler.summarize(SummaryRequest(text="measured"))  # took 20 "seconds"
        assert scheduler.admission.per_request_s == pytest.approx(1.0 + 0.3 * (20 - 1.0))  # 6.7 s, a batch of one
        model.release.clear()
        held = asyncio.ensure_future(scheduler.summarize(SummaryRequest(text="held")))
        await asyncio.sleep(0.05)
        assert scheduler.expected_wait_s == pytest.approx(6.7)
        # 2 ahead: 13.4 s waiting + 6.7 s served fits 25 s; 3 ahead (26.8 s) do not.
        second = asyncio.ensure_future(scheduler.summarize(SummaryRequest(text="second")))
        third = asyncio.ensure_future(scheduler.summarize(SummaryRequest(text="third")))
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFull) as refused:
            await scheduler.summarize(SummaryRequest(text="refused"))
        assert refused.value.retry_after_s == 21 and "expected wait of 20.1 s" in str(refused.value)
        model.release.set()
        await asyncio.gather(held, second, third)
        scheduler.close()

    asyncio.run(scenario())


def test_a_request_that_cannot_be_served_in_time_gets_503_with_retry_after_the_expected_wait():
    model = StubSummarizer(released=False)
    app = create_app(Settings(request_timeout_s=5), summarizer=model)  # type: ignore[arg-type]

    async def scenario() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            app.state.runtime.start_loading()
            admission = app.state.runtime.scheduler().admission
            admission.per_request_s = admission.batch_s = 3.0  # 1 ahead: 3 s waiting + 3 s served > 5 s
            first = asyncio.ensure_future(client.post("/v1/summaries", json={"text": "first"}))
            await asyncio.sleep(0.1)
            refused = await client.post("/v1/summaries", json={"text": "second"})
            metrics = await client.get("/metrics")
            model.release.set()
            return [await first, refused, metrics]

    first, refused, metrics = asyncio.run(scenario())
    assert first.status_code == 200
    assert "expected wait of 3.0 s" in assert_problem(refused, 503)["detail"]
    assert refused.headers["retry-after"] == "3"
    assert "summarizer_expected_wait_seconds 3.0" in metrics.text


# The batch endpoint, on the stand-in model.


@pytest.fixture
def stub_client():
    with TestClient(create_app(Settings(max_batch_items=5, max_batch_bytes=2048), summarizer=StubSummarizer())) as client:  # type: ignore[arg-type]
        yield client


def test_a_json_array_batch_answers_one_ndjson_line_per_article_with_its_id_and_index(stub_client: TestClient):
    response = stub_client.post(BATCH, json=[{"id": "a", "text": "Rain in Oslo."}, {"id": 7, "text": "Snow in Bergen."}, {"text": "Sun."}])
    assert response.status_code == 200
    lines = sorted(ndjson(response), key=lambda line: line["index"])
    assert [(line["index"], line["id"], line["status"]) for line in lines] == [(0, "a", 200), (1, 7, 200), (2, None, 200)]
    assert [line["summary"]["what"]["text"] for line in lines] == ["Rain in Oslo.", "Snow in Bergen.", "Sun."]


def test_an_invalid_article_gets_its_own_problem_line_and_the_others_are_summarised(stub_client: TestClient):
    body = '{"id": "ok", "text": "Rain in Oslo."}\n{"id": "broken", "text": \n\n{"id": "blank", "text": "  "}\n{"text": "x", "extra": 1}\n'
    response = stub_client.post(BATCH, content=body.encode(), headers={"content-type": "application/x-ndjson"})
    assert response.status_code == 200
    by_index = {line["index"]: line for line in ndjson(response)}
    assert sorted(by_index) == [0, 1, 2, 3]
    assert by_index[0]["status"] == 200 and by_index[0]["summary"]["what"]["text"] == "Rain in Oslo."
    assert by_index[1]["status"] == 400 and "malformed JSON on line 2" in by_index[1]["problem"]["detail"]
    assert by_index[2]["status"] == 422 and by_index[2]["id"] == "blank" and by_index[2]["problem"]["errors"][0]["field"] == "text"
    assert by_index[3]["status"] == 422 and by_index[3]["problem"]["errors"][0]["field"] == "extra"


def test_a_batch_over_the_article_limit_is_413_naming_the_limit(stub_client: TestClient):
    response = stub_client.post(BATCH, json=[{"text": "a"}] * 6)
    assert "the limit is 5 (SUMMARIZER_MAX_BATCH_ITEMS)" in assert_problem(response, 413)["detail"]


def test_a_batch_body_over_the_byte_limit_is_413_naming_the_limit(stub_client: TestClient):
    response = stub_client.post(BATCH, json=[{"text": "a" * 3000}])
    assert "the limit is 2048 bytes (SUMMARIZER_MAX_BATCH_BYTES)" in assert_problem(response, 413)["detail"]


def test_a_malformed_array_or_another_media_type_fails_the_whole_batch(stub_client: TestClient):
    assert_problem(stub_client.post(BATCH, content=b'[{"text": "a"}', headers={"content-type": "application/json"}), 400)
    assert_problem(stub_client.post(BATCH, content=b"Rain.", headers={"content-type": "text/plain"}), 415)
    assert_problem(stub_client.post(BATCH, json=[]), 422)
    assert_problem(stub_client.post(BATCH, json={"text": "an object, not an array"}), 422)


def test_a_batch_that_cannot_start_in_time_is_refused_whole_with_503_and_retry_after():
    model = StubSummarizer(released=False)
    app = create_app(Settings(request_timeout_s=5), summarizer=model)  # type: ignore[arg-type]

    async def scenario() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            app.state.runtime.start_loading()
            app.state.runtime.scheduler().admission.batch_s = 10.0  # a model batch takes longer than the deadline
            first = asyncio.ensure_future(client.post("/v1/summaries", json={"text": "first"}))
            await asyncio.sleep(0.1)
            refused = await client.post(BATCH, json=[{"text": "a"}, {"text": "b"}])
            model.release.set()
            await first
            return refused

    response = asyncio.run(scenario())
    assert_problem(response, 503)
    assert response.headers["retry-after"] == "1"  # 1 ahead x 1 s per request (the prior)


def test_an_idle_model_takes_a_request_whatever_the_estimate():
    admission = Admission(deadline_s=0.05, per_request_s=1.0, batch_s=1.0)
    assert admission.fits(0) and not admission.fits(1)


def test_the_batch_endpoint_is_documented_with_examples(stub_client: TestClient):
    operation = stub_client.get("/docs/openapi.json").json()["paths"][BATCH]["post"]
    body = operation["requestBody"]["content"]
    assert body["application/json"]["examples"]["articles"]["value"][0]["text"]
    assert "application/x-ndjson" in operation["requestBody"]["description"]
    answer = operation["responses"]["200"]["content"]["application/x-ndjson"]
    assert json.loads(answer["examples"]["lines"]["value"].splitlines()[1])["summary"]["who"]
    for status in ("400", "413", "415", "503"):
        assert "application/problem+json" in operation["responses"][status]["content"]


# Fairness and cancellation, in the scheduler.


def test_a_single_request_is_not_starved_by_a_running_batch():
    async def scenario() -> StubSummarizer:
        model = StubSummarizer(seconds=0.03)
        scheduler = Scheduler(model, max_queue=64, deadline_s=30, max_batch=4, gather_s=0.005)  # type: ignore[arg-type]
        assert scheduler.batch_places == 4
        items = [(n, SummaryRequest(text=f"batch {n}")) for n in range(40)]

        async def drain() -> list[int]:
            return [key async for key, _ in scheduler.summarize_many(items)]

        batch = asyncio.ensure_future(drain())
        await asyncio.sleep(0.05)  # the batch is running
        single = await scheduler.summarize(SummaryRequest(text="single"))
        assert single.what.text == "single"
        assert len(await batch) == 40
        scheduler.close()
        return model

    model = asyncio.run(scenario())
    started = next(number for number, batch in enumerate(model.batches) if "single" in batch)
    assert started <= 2, model.batches  # behind at most the running batch and the 4 batch places
    assert len(model.batches) >= 10  # while the batch's 40 articles took 10 or more model batches


def test_two_batch_requests_take_turns():
    async def scenario() -> StubSummarizer:
        model = StubSummarizer(seconds=0.02)
        scheduler = Scheduler(model, max_queue=64, deadline_s=30, max_batch=2, gather_s=0.005, batch_places=2)  # type: ignore[arg-type]

        async def drain(name: str) -> int:
            items = [(n, SummaryRequest(text=f"{name}{n}")) for n in range(10)]
            return len([key async for key, _ in scheduler.summarize_many(items)])

        assert await asyncio.gather(drain("A"), drain("B")) == [10, 10]
        scheduler.close()
        return model

    order = [text[0] for text in asyncio.run(scenario()).ran]
    assert order.index("B") <= 3 and "".join(order).rfind("A") >= 15, order  # interleaved, not A first then B


def test_closing_a_batch_stops_its_articles_that_are_not_done():
    async def scenario() -> tuple[StubSummarizer, Scheduler]:
        model = StubSummarizer(seconds=0.05)
        scheduler = Scheduler(model, max_queue=64, deadline_s=30, max_batch=2, gather_s=0.005)  # type: ignore[arg-type]
        results = scheduler.summarize_many([(n, SummaryRequest(text=f"a{n}")) for n in range(30)])
        await results.__anext__()
        await results.aclose()
        await asyncio.sleep(0.3)
        return model, scheduler

    model, scheduler = asyncio.run(scenario())
    assert len(model.ran) <= 8 and scheduler.depth == 0
    scheduler.close()


def test_a_client_that_disconnects_mid_batch_stops_the_rest_of_its_articles():
    model = StubSummarizer(seconds=0.1)
    app = create_app(Settings(max_batch=2), summarizer=model)  # type: ignore[arg-type]
    with uvicorn_server(app) as url:
        with httpx.stream("POST", f"{url}{BATCH}", json=[{"text": f"article {n}"} for n in range(40)], timeout=30) as response:
            first = next(response.iter_lines())
        assert json.loads(first)["status"] == 200
        time.sleep(0.6)
        assert app.state.runtime.depth == 0
        ran = len(model.ran)
    assert ran < 16, ran


# Refusals clients can read: bodies over the limit, over a real socket, by three clients.


def post_urllib(url: str, body: bytes) -> tuple[int, str, dict]:
    request = urllib.request.Request(url, data=body, headers={"content-type": "text/plain"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers["content-type"], json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, error.headers["content-type"], json.load(error)


def post_requests(url: str, body: bytes) -> tuple[int, str, dict]:
    response = requests.post(url, data=body, headers={"content-type": "text/plain"}, timeout=30)
    return response.status_code, response.headers["content-type"], response.json()


def post_httpx(url: str, body: bytes) -> tuple[int, str, dict]:
    response = httpx.post(url, content=body, headers={"content-type": "text/plain"}, timeout=30)
    return response.status_code, response.headers["content-type"], response.json()


@pytest.fixture(scope="module")
def live_url():
    with uvicorn_server(create_app(Settings(), summarizer=StubSummarizer())) as url:  # type: ignore[arg-type]
        yield url


@pytest.mark.parametrize("size", [10_000_000, 2_000_000], ids=["10MB", "2MB"])
@pytest.mark.parametrize("post", [post_urllib, post_requests, post_httpx], ids=["urllib", "requests", "httpx"])
def test_a_body_over_the_limit_gets_413_problem_json_naming_the_limit_in_every_client(live_url: str, post, size: int):
    status, content_type, problem = post(f"{live_url}/v1/summaries", b"a" * size)
    assert status == 413 and content_type.startswith("application/problem+json")
    assert problem["detail"] == (
        f"the body has {size} bytes; the limit is 1265536 bytes (room for SUMMARIZER_MAX_TEXT_CHARS = 200000 characters of text)"
    )


# The real model.


def test_64_articles_in_one_batch_request_give_64_lines_each_grounded_or_an_item_problem(client: TestClient):
    with BBC_FILE.open(encoding="utf-8") as rows:
        bbc = [json.loads(row) for row in rows][:30]
    articles = [{"id": row["id"], "text": row["text"], "title": row["title"]} for row in bbc]
    # As the eval sends them (a row whose date_publish is "None" goes without a date).
    articles += [{"id": row["id"], **article_request(row).model_dump(mode="json", exclude_none=True)} for row in dev_articles()]
    articles += [{"id": "blank", "text": " "}, {"id": "not-a-date", "text": "Rain in Oslo.", "published_at": "someday"}]
    assert len(articles) == 64
    response = client.post(BATCH, json=articles, timeout=600)
    assert response.status_code == 200
    lines = ndjson(response)
    assert sorted(line["index"] for line in lines) == list(range(64))
    for line in lines:
        article = articles[line["index"]]
        assert line["id"] == article["id"]
        if line["id"] in ("blank", "not-a-date"):
            assert line["status"] == 422 and line["problem"]["detail"]
        else:
            assert line["status"] == 200, line
            assert_grounded(line["summary"], article["text"])
