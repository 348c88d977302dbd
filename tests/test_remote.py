"""The 'openai' backend around a scripted inference server: grounding of free answers, retries,
and the 502 when the server stays down. (The real llama.cpp server: tests/test_llamacpp.py.)"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx2
import openai
import pytest
from litestar.testing import TestClient

from service.api.app import create_app
from service.article import Article
from service.backends import backend_plan
from service.backends.openai import OpenAIBackend
from service.errors import InferenceServerError
from service.grounding import align
from service.prompts import load_prompts
from service.schemas import (
    EXAMPLE_PUBLISHED,
    EXAMPLE_TEXT,
    EXAMPLE_TITLE,
    Summary,
    SummaryRequest,
)
from service.settings import Settings
from service.summarizer import Summarizer

Handler = Callable[[httpx2.Request], httpx2.Response]


def completion(answer: dict | str, finish_reason: str = "stop") -> httpx2.Response:
    content = answer if isinstance(answer, str) else json.dumps(answer)
    return httpx2.Response(
        200,
        json={
            "id": "c1", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": finish_reason, "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 400, "completion_tokens": 30, "total_tokens": 430},
        },
    )


def remote_settings(**overrides: object) -> Settings:
    values = {"backend": "openai", "openai_base_url": "http://engine.test/v1", "openai_model": "smollm2", **overrides}
    return Settings(**values)  # type: ignore[arg-type]


def backend_with(handler: Handler, settings: Settings | None = None, retries: int = 2) -> OpenAIBackend:
    settings = settings or remote_settings()
    client = openai.OpenAI(
        base_url=settings.openai_base_url, api_key="k", max_retries=retries,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    return OpenAIBackend(load_prompts(), settings, client=client)


GOOD_ANSWER = {"who": ["Royal Dutch Shell", "judge larisa alwin"], "what": "ordered Royal Dutch Shell to cut its carbon emissions", "when": "on Wednesday", "where": ["The Hague"]}
EXAMPLE = Article(text=EXAMPLE_TEXT, title=EXAMPLE_TITLE, published=EXAMPLE_PUBLISHED)
EXAMPLE_REQUEST = SummaryRequest(text=EXAMPLE_TEXT, title=EXAMPLE_TITLE, published_at=EXAMPLE_PUBLISHED)


def test_align_finds_a_value_verbatim():
    span = align("Title\n\nA court in The Hague ruled.", "The Hague")
    assert span is not None and span.text == "The Hague" and span.position == 18


def test_align_ignores_case_and_spacing_and_keeps_the_articles_characters():
    source = "A court in The  Hague ruled."
    span = align(source, "the hague")
    assert span is not None and span.text == "The  Hague" and source[span.position : span.position + len(span.text)] == span.text


def test_align_prefers_an_occurrence_in_the_text_over_the_title():
    span = align("Shell loses case\n\nShell must cut emissions.", "Shell", prefer_from=18)
    assert span is not None and span.position == 18


def test_align_gives_none_for_a_value_not_in_the_article():
    assert align("A court in The Hague ruled.", "Amsterdam") is None


def test_request_carries_the_prompt_templates_and_the_answer_schema():
    seen: list[dict] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        return completion(GOOD_ANSWER)

    backend_with(handler).read(EXAMPLE)
    body = seen[0]
    assert body["model"] == "smollm2" and body["temperature"] == 0
    assert [message["role"] for message in body["messages"]] == ["system", "user", "assistant", "user"]
    assert EXAMPLE_TEXT in body["messages"][-1]["content"]
    schema = body["response_format"]["json_schema"]["schema"]
    assert body["response_format"]["type"] == "json_schema"
    assert schema["required"] == ["who", "what", "when", "where"] and schema["properties"]["who"]["maxItems"] == 3


def test_json_object_format_sends_the_schema_inline():
    seen: list[dict] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        return completion(GOOD_ANSWER)

    backend_with(handler, remote_settings(openai_response_format="json_object")).read(EXAMPLE)
    assert seen[0]["response_format"]["type"] == "json_object"
    assert seen[0]["response_format"]["schema"]["title"] == "Answer"


def test_answers_are_grounded_at_the_articles_offsets():
    summary = Summarizer(backend_with(lambda request: completion(GOOD_ANSWER))).summarize(EXAMPLE_REQUEST)
    assert [item.text for item in summary.who] == ["Royal Dutch Shell", "Judge Larisa Alwin"]
    for item in [*summary.who, *summary.where, summary.when, summary.what]:
        assert item is not None and EXAMPLE_TEXT[item.start : item.end] == item.text
    assert summary.when is not None and str(summary.when.date) == "2021-05-26"
    assert summary.usage == {"prompt_tokens": 400, "generated_tokens": 30, "scored_tokens": 0}


def test_a_value_not_in_the_article_is_dropped_and_reported():
    answer = {**GOOD_ANSWER, "where": ["The Hague", "Amsterdam"]}
    summary = Summarizer(backend_with(lambda request: completion(answer))).summarize(EXAMPLE_REQUEST)
    assert [item.text for item in summary.where] == ["The Hague"]
    assert any("Amsterdam" in warning for warning in summary.warnings)


def test_server_errors_are_retried_until_the_server_answers():
    calls: list[int] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(1)
        return httpx2.Response(503, json={"error": "warming up"}) if len(calls) < 3 else completion(GOOD_ANSWER)

    draft = backend_with(handler, retries=2).read(EXAMPLE)
    assert len(calls) == 3 and draft.who


def test_rate_limit_is_retried():
    calls: list[int] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(1)
        return httpx2.Response(429, headers={"retry-after": "0"}) if len(calls) == 1 else completion(GOOD_ANSWER)

    backend_with(handler).read(EXAMPLE)
    assert len(calls) == 2


def test_a_server_that_stays_down_raises_inference_server_error():
    with pytest.raises(InferenceServerError, match="answered 500"):
        backend_with(lambda request: httpx2.Response(500, json={"error": "boom"}), retries=1).read(EXAMPLE)


def test_an_answer_that_breaks_the_schema_raises_inference_server_error():
    with pytest.raises(InferenceServerError, match="does not match the schema"):
        backend_with(lambda request: completion({"who": "not a list"})).read(EXAMPLE)


def test_an_answer_cut_at_max_tokens_raises_inference_server_error():
    with pytest.raises(InferenceServerError, match="max_tokens"):
        backend_with(lambda request: completion('{"who": ["Shell"', finish_reason="length")).read(EXAMPLE)


def test_api_answers_502_problem_when_the_inference_server_stays_down():
    settings = remote_settings()
    backend = backend_with(lambda request: httpx2.Response(502, text="bad gateway"), settings, retries=0)
    with TestClient(create_app(settings, summarizer=Summarizer(backend))) as client:
        response = client.post("/v1/summaries", json={"text": EXAMPLE_TEXT})
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "inference server" in response.json()["detail"]


def test_api_returns_the_summary_schema_from_the_openai_backend():
    settings = remote_settings()
    backend = backend_with(lambda request: completion(GOOD_ANSWER), settings)
    with TestClient(create_app(settings, summarizer=Summarizer(backend))) as client:
        response = client.post("/v1/summaries", json={"text": EXAMPLE_TEXT, "title": EXAMPLE_TITLE})
    assert response.status_code == 200, response.text
    assert Summary.model_validate(response.json()).model == "smollm2"


def test_openai_backend_needs_a_base_url_and_model():
    with pytest.raises(ValueError, match="SUMMARIZER_OPENAI_BASE_URL"):
        backend_plan(Settings(backend="openai"))
