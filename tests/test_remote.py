"""The 'openai' backend around a scripted inference server: the schema made of the article's
candidates, what comes back tied to their positions, response-format negotiation, retries, and
the 502 when the server stays down. (The real llama.cpp server: tests/test_llamacpp.py.)"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import httpx
import pytest
from litestar.testing import TestClient

from service.api.app import create_app
from service.article import Article
from service.backends import backend_plan
from service.backends import openai as openai_backend
from service.backends.openai import OpenAIBackend
from service.candidates import find_candidates
from service.errors import InferenceServerError
from service.prompts import load_prompts
from service.ranking import ValueScore
from service.schemas import (
    EXAMPLE_PUBLISHED,
    EXAMPLE_TEXT,
    EXAMPLE_TITLE,
    Summary,
    SummaryRequest,
)
from service.settings import Settings
from service.summarizer import Summarizer

Handler = Callable[[httpx.Request], httpx.Response]


def completion(answer: dict | str, finish_reason: str = "stop") -> httpx.Response:
    content = answer if isinstance(answer, str) else json.dumps(answer)
    return httpx.Response(
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
    settings = (settings or remote_settings()).model_copy(update={"openai_max_retries": retries})
    return OpenAIBackend(load_prompts(), settings, http=httpx.Client(transport=httpx.MockTransport(handler)))


def schema_of(body: dict) -> dict:
    """The answer schema a request carries, whichever way it was sent."""
    response_format = body["response_format"]
    return response_format["json_schema"]["schema"] if response_format["type"] == "json_schema" else response_format["schema"]


def first_choices(body: dict) -> dict:
    """What a server enforcing the schema could answer: each field's first allowed value."""
    answer: dict = {}
    for name, rule in schema_of(body)["properties"].items():
        if "const" in rule:
            answer[name] = rule["const"]
        elif rule["type"] == "array":
            answer[name] = rule["items"]["enum"][:1]
        else:
            answer[name] = rule["enum"][0] if "enum" in rule else None
    return answer


def enforcing(request: httpx.Request) -> httpx.Response:
    return completion(first_choices(json.loads(request.content)))


@pytest.fixture(autouse=True)
def fresh_format_memory() -> Iterator[None]:
    """Each test starts as a new process would: no server known to reject json_schema."""
    openai_backend._server_formats.clear()
    yield
    openai_backend._server_formats.clear()


EXAMPLE = Article(text=EXAMPLE_TEXT, title=EXAMPLE_TITLE, published=EXAMPLE_PUBLISHED)
EXAMPLE_REQUEST = SummaryRequest(text=EXAMPLE_TEXT, title=EXAMPLE_TITLE, published_at=EXAMPLE_PUBLISHED)


def test_request_carries_the_prompt_templates_and_a_schema_of_the_articles_candidates():
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return enforcing(request)

    backend_with(handler).read(EXAMPLE)
    body = seen[0]
    assert body["model"] == "smollm2" and body["temperature"] == 0
    assert [message["role"] for message in body["messages"]] == ["system", "user", "assistant", "user"]
    assert EXAMPLE_TEXT in body["messages"][-1]["content"]
    assert body["response_format"]["type"] == "json_schema"  # no setting: json_schema first
    schema = schema_of(body)
    assert schema["required"] == ["who", "what", "when", "where"] and schema["additionalProperties"] is False
    properties = schema["properties"]
    source = f"{EXAMPLE_TITLE}\n\n{EXAMPLE_TEXT}"
    candidates = find_candidates(source, len(EXAMPLE_TITLE) + 2, EXAMPLE_TEXT)
    for name in ("who", "where"):
        assert 1 <= properties[name]["maxItems"] <= 3 and properties[name]["minItems"] == 1
        assert set(properties[name]["items"]["enum"]) <= {candidate.text for candidate in candidates[name]}
    for name in ("what", "when"):
        assert set(properties[name]["enum"]) <= {candidate.text for candidate in candidates[name]}
    assert "The Hague" in properties["where"]["items"]["enum"] and "on Wednesday" in properties["when"]["enum"]
    # The candidate lists are in the schema, not the prompt.
    assert "enum" not in json.dumps(body["messages"])


def test_candidates_are_offered_best_first_by_the_rankers_features():
    backend = backend_with(enforcing)
    source = f"{EXAMPLE_TITLE}\n\n{EXAMPLE_TEXT}"
    offer = backend.offer(find_candidates(source, len(EXAMPLE_TITLE) + 2, EXAMPLE_TEXT))
    for name, ranked in offer.candidates.items():
        probabilities = [probability for _, probability in ranked]
        assert probabilities == sorted(probabilities, reverse=True) and len(ranked) <= backend.settings.openai_candidates[name]


def test_each_field_offers_as_many_candidates_as_its_setting_names():
    backend = backend_with(enforcing, remote_settings(openai_candidates={"who": 3, "what": 2}))
    source = f"{EXAMPLE_TITLE}\n\n{EXAMPLE_TEXT}"
    offer = backend.offer(find_candidates(source, len(EXAMPLE_TITLE) + 2, EXAMPLE_TEXT))
    assert {name: len(ranked) for name, ranked in offer.candidates.items()} == {"who": 3, "what": 2, "when": 2, "where": 1}


def test_one_number_sets_the_candidates_of_every_field():
    assert remote_settings(openai_candidates=4).openai_candidates == {"who": 4, "what": 4, "when": 4, "where": 4}


def test_a_list_may_be_as_long_as_the_ranker_would_make_it():
    backend = backend_with(enforcing, remote_settings(openai_candidates=8))
    source = f"{EXAMPLE_TITLE}\n\n{EXAMPLE_TEXT}"
    found = find_candidates(source, len(EXAMPLE_TITLE) + 2, EXAMPLE_TEXT)
    offer = backend.offer(found)
    for name in ("who", "where"):
        chosen = backend.ranker.choose(name, found[name], ValueScore.unscored(len(found[name])))
        assert offer.most_items[name] == len(chosen)
    assert offer.most_items["who"] < len(offer.candidates["who"])  # the limit is the ranker's, not the offer's


def test_a_text_without_time_expressions_allows_only_null_when():
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return enforcing(request)

    draft = backend_with(handler).read(Article(text="Shell agreed to sell its stake in the Dutch refinery."))
    assert schema_of(seen[0])["properties"]["when"] == {"type": "null"} and draft.when is None


def test_quotes_in_a_candidate_become_an_enum_label_that_maps_back_to_the_article():
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return enforcing(request)

    text = 'Horner hails Verstappen\'s "amazing" drive in Brazil on Sunday.'
    title = 'Horner hails Verstappen\'s "amazing" drive'
    summary = Summarizer(backend_with(handler)).summarize(SummaryRequest(text=text, title=title))
    enums = json.dumps(schema_of(seen[0]))
    assert '\\"' not in enums and "\\\\" not in enums  # no escaped quote or backslash in any value
    assert '"amazing"' in summary.what.text  # the article's own characters


def test_a_field_without_candidates_is_a_constant():
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return enforcing(request)

    draft = backend_with(handler).read(Article(text="it rained."))
    properties = schema_of(seen[0])["properties"]
    assert properties["where"] == {"const": []} and draft.where == []


def test_json_object_setting_sends_the_schema_inline():
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return enforcing(request)

    backend_with(handler, remote_settings(openai_response_format="json_object")).read(EXAMPLE)
    assert seen[0]["response_format"]["type"] == "json_object"
    assert "enum" in seen[0]["response_format"]["schema"]["properties"]["when"]


@pytest.mark.parametrize("status", [400, 422, 500])  # llama-cpp-python's server answers 500
def test_a_server_that_rejects_json_schema_gets_json_object_from_then_on(caplog: pytest.LogCaptureFixture, status: int):
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body["response_format"]["type"])
        if body["response_format"]["type"] != "json_object":  # as llama-cpp-python's server answers
            detail = [{"type": "literal_error", "loc": ["body", "response_format", "type"], "msg": "Input should be 'text' or 'json_object'"}]
            return httpx.Response(status, json={"detail": detail})
        return enforcing(request)

    backend = backend_with(handler)
    with caplog.at_level(logging.WARNING, logger="service.backends.openai"):
        for _ in range(3):
            assert backend.read(EXAMPLE).where
    assert sent == ["json_schema", "json_object", "json_object", "json_object"]
    assert sum("rejected response_format json_schema" in record.message for record in caplog.records) == 1
    # Remembered for the process: another backend on the same server goes straight to json_object.
    backend_with(handler).read(EXAMPLE)
    assert sent[-1] == "json_object" and len(sent) == 5


def test_a_server_that_only_accepts_json_schema_works_without_a_setting():
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body["response_format"]["type"])
        if body["response_format"]["type"] != "json_schema":
            return httpx.Response(400, json={"error": {"message": "response_format.type must be json_schema", "type": "invalid_request_error"}})
        return enforcing(request)

    summary = Summarizer(backend_with(handler)).summarize(EXAMPLE_REQUEST)
    Summarizer(backend_with(handler)).summarize(EXAMPLE_REQUEST)
    assert sent == ["json_schema", "json_schema"] and summary.where


def test_a_bad_request_about_something_else_is_not_retried_as_json_object():
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content)["response_format"]["type"])
        return httpx.Response(400, json={"error": {"message": "the prompt is longer than the context window"}})

    with pytest.raises(InferenceServerError, match="answered 400"):
        backend_with(handler).read(EXAMPLE)
    assert sent == ["json_schema"]


def test_answers_are_candidates_at_the_articles_offsets():
    summary = Summarizer(backend_with(enforcing)).summarize(EXAMPLE_REQUEST)
    assert summary.who and summary.where and summary.when is not None and summary.what.text
    for item in [*summary.who, *summary.where, summary.when]:
        assert item.start is not None and EXAMPLE_TEXT[item.start : item.end] == item.text
    assert summary.what.text in f"{EXAMPLE_TITLE}\n\n{EXAMPLE_TEXT}"
    assert summary.when.text.endswith("Wednesday") and str(summary.when.date) == "2021-05-26"
    assert summary.usage["prompt_tokens"] == 400 and summary.usage["generated_tokens"] == 30
    assert not any("dropped" in warning for warning in summary.warnings)


def test_a_value_that_is_not_a_candidate_is_a_server_error():
    def handler(request: httpx.Request) -> httpx.Response:
        return completion(first_choices(json.loads(request.content)) | {"where": ["Amsterdam"]})

    with pytest.raises(InferenceServerError, match="not one of the candidates"):
        backend_with(handler).read(EXAMPLE)


def test_server_errors_are_retried_until_the_server_answers():
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, json={"error": "warming up"}) if len(calls) < 3 else enforcing(request)

    draft = backend_with(handler, retries=2).read(EXAMPLE)
    assert len(calls) == 3 and draft.who


def test_rate_limit_is_retried():
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(429, headers={"retry-after": "0"}) if len(calls) == 1 else enforcing(request)

    backend_with(handler).read(EXAMPLE)
    assert len(calls) == 2


def test_a_server_that_cannot_be_reached_raises_inference_server_error():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(InferenceServerError, match="did not answer"):
        backend_with(handler, retries=1).read(EXAMPLE)


def test_a_retry_after_header_sets_the_wait_and_a_date_falls_back_to_backoff():
    assert openai_backend._backoff(0, "3") == 3.0
    assert openai_backend._backoff(2, "Wed, 21 Oct 2026 07:28:00 GMT") == 2.0
    assert openai_backend._backoff(10, None) == openai_backend.MAX_BACKOFF_S


def test_the_api_key_is_sent_as_a_bearer_token():
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return enforcing(request)

    backend_with(handler, remote_settings(openai_api_key="sk-test")).read(EXAMPLE)
    assert seen == ["Bearer sk-test"]


def test_a_server_that_stays_down_raises_inference_server_error():
    with pytest.raises(InferenceServerError, match="answered 500"):
        backend_with(lambda request: httpx.Response(500, json={"error": "boom"}), retries=1).read(EXAMPLE)


def test_an_answer_that_breaks_the_schema_raises_inference_server_error():
    with pytest.raises(InferenceServerError, match="does not match the schema"):
        backend_with(lambda request: completion({"who": "not a list"})).read(EXAMPLE)


def test_an_answer_cut_at_max_tokens_raises_inference_server_error():
    with pytest.raises(InferenceServerError, match="max_tokens"):
        backend_with(lambda request: completion('{"who": ["Shell"', finish_reason="length")).read(EXAMPLE)


def test_api_answers_502_problem_when_the_inference_server_stays_down():
    settings = remote_settings()
    backend = backend_with(lambda request: httpx.Response(502, text="bad gateway"), settings, retries=0)
    with TestClient(create_app(settings, summarizer=Summarizer(backend))) as client:
        response = client.post("/v1/summaries", json={"text": EXAMPLE_TEXT})
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "inference server" in response.json()["detail"]


def test_api_returns_the_summary_schema_from_the_openai_backend():
    settings = remote_settings()
    backend = backend_with(enforcing, settings)
    with TestClient(create_app(settings, summarizer=Summarizer(backend))) as client:
        response = client.post("/v1/summaries", json={"text": EXAMPLE_TEXT, "title": EXAMPLE_TITLE})
    assert response.status_code == 200, response.text
    assert Summary.model_validate(response.json()).model == "smollm2"


def test_openai_backend_needs_a_base_url_and_model():
    with pytest.raises(ValueError, match="SUMMARIZER_OPENAI_BASE_URL"):
        backend_plan(Settings(backend="openai"))


def test_answers_carry_the_features_only_rankers_calibrated_confidence():
    backend = backend_with(enforcing)
    summary = Summarizer(backend, min_confidence=0.0).summarize(EXAMPLE_REQUEST)
    source = f"{EXAMPLE_TITLE}\n\n{EXAMPLE_TEXT}"
    offer = backend.offer(find_candidates(source, len(EXAMPLE_TITLE) + 2, EXAMPLE_TEXT))
    for name, items in (("who", summary.who), ("where", summary.where), ("when", [summary.when])):
        probability = {candidate.text: value for candidate, value in offer.candidates[name]}
        for item in items:
            assert item.confidence == round(backend.ranker.models[name].calibration(probability[item.text]), 3)
            assert 0.0 < item.confidence < 1.0
