"""The 'openai' backend: the same typed candidates as the local engine, chosen by an
OpenAI-compatible server under a JSON schema made of them.

For each article the replica finds the candidates the local engine ranks
(``service.candidates.find_candidates``: one code path for both backends), orders each field's
by the probability of a ranker fitted on the candidates' own features alone (``features_only`` in
``ranker.json``; the local engine's ranker adds its model's scores; here the server's model makes
the last choice), keeps the best few, and
sends them as the answer's JSON schema: ``who`` and ``where`` arrays of ``enum``s, ``when`` an
``enum`` (``null`` only when the article has no time expression), ``what`` an ``enum`` of event
phrases. vLLM, SGLang, llama.cpp's ``llama-server`` and llama-cpp-python all enforce ``enum``,
so every value that comes back is a candidate, with its position: grounded by construction.

The structured-output field is negotiated: ``json_schema`` first; a server that rejects it
(an error naming the field: llama-cpp-python's answers 500 with its validation error) gets ``json_object`` with the schema
from then on, for the whole process, and the switch is logged once.

Imports neither torch nor transformers (a test checks): a replica stays small and starts at once.
For the same reason the calls are plain httpx (already loaded by the web framework) rather than
the openai SDK, whose import alone took 0.3 s of a replica's 2 s start: one endpoint, a retry
loop and an error shape are all this backend needs of it.
"""

from __future__ import annotations

import importlib.abc
import json
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, Field, ValidationError

from service.article import Article, Draft, Layout, Span, sentence_cut
from service.candidates import FIELDS, Candidate, Candidates, find_candidates, ner_model
from service.errors import Cancelled, InferenceServerError
from service.prompts import Prompts
from service.ranking import Ranker, ValueScore
from service.schemas import Answer
from service.settings import Settings

log = logging.getLogger(__name__)

LIST_FIELDS = ("who", "where")
RETRIED = (408, 409, 429)  # retried, with every 5xx and a failed connection (as OpenAI's own clients do)
FIRST_BACKOFF_S, MAX_BACKOFF_S = 0.5, 8.0  # doubling between retries; a Retry-After of up to MAX_RETRY_AFTER_S is honoured
MAX_RETRY_AFTER_S = 60.0
JSON_SCHEMA, JSON_OBJECT = "json_schema", "json_object"
# What a server's rejection of a response_format names (llama-cpp-python: 500 "('body', 'response_format', 'type') Input should be 'text' or 'json_object'").
FORMAT_WORDS = ("response_format", "json_schema")

# How each server (by base URL) took the schema so far: json_schema, or json_object after it rejected json_schema.
_server_formats: dict[str, str] = {}
_format_lock = threading.Lock()


class _NoModelLibraries(importlib.abc.MetaPathFinder):
    """Makes ``import torch`` / ``import transformers`` fail while installed (see ``load_ner``)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] in ("torch", "transformers"):
            raise ModuleNotFoundError(f"{name} is not loaded by the 'openai' backend", name=name)
        return None


@contextmanager
def _without_model_libraries() -> Iterator[None]:
    blocker = _NoModelLibraries()
    sys.meta_path.insert(0, blocker)
    try:
        yield
    finally:
        sys.meta_path.remove(blocker)


def load_ner() -> None:
    """Load spaCy's pipeline without torch.

    spaCy's thinc imports torch when it is installed (``thinc.compat``: optional torch layers,
    which en_core_web_sm does not use), and the local backend's dependencies put torch in the same
    environment. Blocking the import while spaCy loads leaves thinc on its numpy ops; nothing is
    added to ``sys.modules``, and where torch is already loaded (a process that also runs the local
    backend) the block changes nothing.
    """
    with _without_model_libraries():
        ner_model()


@dataclass(frozen=True)
class Offer:
    """What the server is asked to choose among, field by field."""

    candidates: dict[str, list[tuple[Candidate, float]]]  # best first, with the ranker's probability
    most_items: dict[str, int]  # the longest list the server may answer (who, where)


class OpenAIBackend:
    """Chooses among an article's candidates through an OpenAI-compatible chat completions endpoint."""

    def __init__(
        self, prompts: Prompts, settings: Settings, http: httpx.Client | None = None, ranker: Ranker | None = None
    ) -> None:
        started = time.perf_counter()
        self.prompts = prompts
        self.settings = settings
        self.ranker = ranker or Ranker.load(features_only=True)
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
        self.http = http or httpx.Client(timeout=settings.openai_timeout_s)
        self.http.headers["Authorization"] = f"Bearer {key}"
        self.url = f"{str(settings.openai_base_url).rstrip('/')}/chat/completions"
        load_ner()  # at start, so the first request is not the slow one
        self._load_seconds = time.perf_counter() - started

    @property
    def model_name(self) -> str:
        return str(self.settings.openai_model)

    @property
    def load_seconds(self) -> float:
        return self._load_seconds  # the NER pipeline; no language model in this process

    def read_batch(self, articles: list[Article], cancels: list[threading.Event | None]) -> list[Draft | BaseException]:
        """One call per article (the scheduler sends one at a time; the server does the batching)."""
        results: list[Draft | BaseException] = []
        for article, cancel in zip(articles, cancels):
            try:
                results.append(self.read(article, cancel))
            except Exception as error:  # one article's failure stays its own
                results.append(error)
        return results

    def offer(self, candidates: Candidates) -> Offer:
        """Each field's candidates the server chooses among: the ranker's most probable from their
        features alone, best first, at most ``openai_candidates[field]``; and for a list, how many items
        it may have: as many as the ranker itself would choose (its fitted limit and threshold)."""
        offered, most = {}, {}
        for field in FIELDS:
            found = candidates[field][: self.settings.max_candidates]
            ranked = self.ranker.rank(field, found, ValueScore.unscored(len(found)))  # features only
            offered[field] = [(item.candidate, item.probability) for item in ranked[: self.settings.openai_candidates[field]]]
            most[field] = min(len(self.ranker.choose_ranked(field, ranked)), self.settings.max_items, len(offered[field]))
        return Offer(offered, most)

    def schema(self, offer: Offer) -> dict[str, Any]:
        """The answer's JSON schema: every value the label of one of the offered candidates."""

        def choice(field: str) -> dict[str, Any]:
            return {"type": "string", "enum": list(labels(offer.candidates[field]))}

        properties: dict[str, Any] = {}
        for field in FIELDS:
            if field in LIST_FIELDS:
                most = offer.most_items[field]
                # const, not maxItems 0: llama-cpp-python's grammar ignores a list's bounds without items.
                properties[field] = {"type": "array", "items": choice(field), "minItems": 1, "maxItems": most} if most else {"const": []}
            elif offer.candidates[field]:
                properties[field] = choice(field)
            else:
                properties[field] = {"type": "null"} if field == "when" else {"const": ""}
        return {"type": "object", "properties": properties, "required": list(FIELDS), "additionalProperties": False}

    def read(self, article: Article, cancel: threading.Event | None = None) -> Draft:
        started = time.perf_counter()
        layout = Layout.of(article, sentence_cut(article.text, self.settings.openai_max_chars), self.prompts)
        offer = self.offer(find_candidates(layout.source, layout.text_offset, article.text))
        timings = {"candidates": (time.perf_counter() - started) * 1000}
        if cancel is not None and cancel.is_set():
            raise Cancelled
        tick = time.perf_counter()
        answer, usage = self._complete(self.prompts.messages(layout.user), self.schema(offer))
        timings["engine"] = (time.perf_counter() - tick) * 1000
        if cancel is not None and cancel.is_set():
            raise Cancelled

        def spans(field: str, values: list[str]) -> list[Span]:
            by_text = labels(offer.candidates[field])
            chosen: list[Span] = []
            for value in values:
                if value not in by_text:  # a server that ignored the schema
                    raise InferenceServerError(f"the inference server answered {field}={value!r}, which is not one of the candidates it was given")
                candidate, probability = by_text[value]
                if all(span.text != candidate.text for span in chosen):
                    # The features-only ranker's calibration map, fitted on its own held-out choices.
                    confidence = self.ranker.models[field].calibration(probability)
                    chosen.append(Span(candidate.text, candidate.position, round(probability, 4), round(confidence, 3)))
            return chosen

        who, where = spans("who", answer.who), spans("where", answer.where)
        what = spans("what", [answer.what] if answer.what else [])
        when = spans("when", [answer.when] if answer.when else [])
        timings["total"] = (time.perf_counter() - started) * 1000
        return Draft(
            who=who, what=next(iter(what), None), when=next(iter(when), None), where=where,
            source=layout.source, text_offset=layout.text_offset, window_chars=layout.window_chars, truncated=layout.truncated,
            prompt_tokens=usage[0], generated_tokens=usage[1],
            timings_ms={name: round(value, 1) for name, value in timings.items()},
        )

    def response_format(self, kind: str, schema: dict[str, Any]) -> dict[str, Any]:
        if kind == JSON_SCHEMA:
            return {"type": JSON_SCHEMA, "json_schema": {"name": "answer", "schema": schema, "strict": True}}
        return {"type": JSON_OBJECT, "schema": schema}

    def _complete(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> tuple[Answer, tuple[int, int]]:
        """The server's answer, validated, and its token usage; InferenceServerError if it fails."""
        where = self.settings.openai_base_url
        try:
            response = self._negotiated(messages, schema)
        except ServerRefused as error:
            raise InferenceServerError(f"the inference server at {where} answered {error.status_code}: {error.message}") from error
        except httpx.TransportError as error:  # includes timeouts
            raise InferenceServerError(f"the inference server at {where} did not answer: {error!r}") from error
        choice = response.choices[0]
        if choice.finish_reason == "length":
            raise InferenceServerError(
                f"the inference server stopped at max_tokens={self.settings.openai_max_tokens} before the answer was complete"
            )
        try:
            answer = Answer.model_validate_json(choice.message.content or "")
        except ValidationError as error:
            raise InferenceServerError(f"the inference server's answer does not match the schema: {error.errors()[0]['msg']}") from error
        usage = (response.usage.prompt_tokens, response.usage.completion_tokens) if response.usage else (0, 0)
        return answer, usage

    def _negotiated(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> Completion:
        """The completion, sent the way this server takes the schema.

        The setting, if not 'auto'; else what this process learnt about the server; else a first
        try of json_schema without retries (llama-cpp-python rejects it with a 500 that would
        otherwise be retried): a rejection naming the field switches this server to json_object
        for the process; any other failure is tried again as usual, with retries.
        """
        url = str(self.settings.openai_base_url)
        kind = self.settings.openai_response_format
        if kind == "auto":
            kind = _server_formats.get(url, "")
        if kind:
            return self._create(messages, self.response_format(kind, schema))
        try:
            response = self._create(messages, self.response_format(JSON_SCHEMA, schema), retries=0)
        except ServerRefused as error:
            if not error.names_the_format():
                if error.status_code < 500 and error.status_code not in RETRIED:
                    raise
                return self._create(messages, self.response_format(JSON_SCHEMA, schema))
            self._remember_json_object(error)
            return self._create(messages, self.response_format(JSON_OBJECT, schema))
        except httpx.TransportError:
            return self._create(messages, self.response_format(JSON_SCHEMA, schema))
        with _format_lock:
            _server_formats.setdefault(url, JSON_SCHEMA)
        return response

    def _create(self, messages: list[dict[str, str]], response_format: dict[str, Any], retries: int | None = None) -> Completion:
        """One chat completion, retried after 408/409/429/5xx or a failed connection with doubling
        backoff (or the server's Retry-After), ``openai_max_retries`` times unless told otherwise."""
        body = {
            "model": self.model_name, "messages": messages, "temperature": 0,
            "max_tokens": self.settings.openai_max_tokens, "response_format": response_format,
        }
        retries = self.settings.openai_max_retries if retries is None else retries
        for attempt in range(retries + 1):
            last = attempt == retries
            try:
                response = self.http.post(self.url, json=body)
            except httpx.TransportError:
                if last:
                    raise
                time.sleep(_backoff(attempt, None))
                continue
            if response.is_success:
                try:
                    return Completion.model_validate_json(response.content)
                except ValidationError as error:
                    raise ServerRefused(response.status_code, f"not a chat completion: {error.errors()[0]['msg']}", None) from error
            if last or not (response.status_code in RETRIED or response.status_code >= 500):
                raise ServerRefused.of(response)
            time.sleep(_backoff(attempt, response.headers.get("retry-after")))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _remember_json_object(self, error: ServerRefused) -> None:
        url = str(self.settings.openai_base_url)
        with _format_lock:
            first = _server_formats.get(url) != JSON_OBJECT
            _server_formats[url] = JSON_OBJECT
        if first:
            log.warning(
                "the inference server at %s rejected response_format json_schema (%s); sending json_object with the "
                "schema from now on", url, error.status_code,
            )


def label(text: str) -> str:
    """A candidate's text as an enum value: no double quotes, backslashes or control characters.

    llama-cpp-python's schema-to-grammar conversion breaks on escaped quotes in an enum (the
    server then fails the request, or crashes); the answer maps back to the candidate itself.
    """
    return "".join("'" if char == '"' else "/" if char == "\\" else " " if char < " " else char for char in text)


def labels(offered: list[tuple[Candidate, float]]) -> dict[str, tuple[Candidate, float]]:
    """Each offered candidate by its label (the first, where two share one)."""
    found: dict[str, tuple[Candidate, float]] = {}
    for candidate, probability in offered:
        found.setdefault(label(candidate.text), (candidate, probability))
    return found


class ServerRefused(Exception):
    """The inference server answered with an error status (after any retries)."""

    def __init__(self, status_code: int, message: str, body: Any) -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code, self.message, self.body = status_code, message, body

    @classmethod
    def of(cls, response: httpx.Response) -> ServerRefused:
        """The error, with the message where OpenAI-compatible servers put it ({"error": {"message"}}, "detail", or the text)."""
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        message = response.text[:500]
        if isinstance(body, dict):
            error = body.get("error")
            said = error.get("message") if isinstance(error, dict) else error or body.get("detail") or body.get("message")
            message = str(said) if said else message
        return cls(response.status_code, message, body)

    def names_the_format(self) -> bool:
        """Whether a 4xx/5xx is about the response_format field (not, say, a prompt too long)."""
        said = f"{self.message} {json.dumps(self.body, default=str) if self.body is not None else ''}".lower()
        return any(word in said for word in FORMAT_WORDS)


def _backoff(attempt: int, retry_after: str | None) -> float:
    """Seconds before retry ``attempt + 1``: the server's Retry-After (in seconds) if it gave a usable one."""
    try:
        wanted = float(retry_after) if retry_after is not None else -1.0
    except ValueError:
        wanted = -1.0  # an HTTP date: back off as usual
    if 0 <= wanted <= MAX_RETRY_AFTER_S:
        return wanted
    return min(FIRST_BACKOFF_S * 2**attempt, MAX_BACKOFF_S)


class _Message(BaseModel):
    content: str | None = None


class _Choice(BaseModel):
    message: _Message
    finish_reason: str | None = None


class _Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Completion(BaseModel):
    """The part of an OpenAI chat completion this backend reads."""

    choices: list[_Choice] = Field(min_length=1)
    usage: _Usage | None = None
