"""The 'openai' backend: the same prompts and schema, answered by an OpenAI-compatible server.

vLLM, llama.cpp's server and others serve ``/v1/chat/completions`` with structured output, so
many stateless API replicas can share one GPU engine. The server writes the answer under the
JSON schema of ``Answer``; this module then ties every value to the article's own characters
(values that are not in the article are dropped and reported) and hands the Summarizer the same
``Draft`` the local engine does, so validation, grounding and date normalisation are shared.
"""

from __future__ import annotations

import threading
import time

import openai
from pydantic import ValidationError

from service.article import Article, Draft, Layout, Span, sentence_cut
from service.errors import Cancelled, InferenceServerError
from service.grounding import align
from service.prompts import Prompts
from service.schemas import Answer, answer_schema
from service.settings import Settings

MAX_VALUE_CHARS = 200  # longest value the schema allows; a headline-like 'what' fits with room


class OpenAIBackend:
    """Reads articles through an OpenAI-compatible chat completions endpoint."""

    def __init__(self, prompts: Prompts, settings: Settings, client: openai.OpenAI | None = None) -> None:
        self.prompts = prompts
        self.settings = settings
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
        # The client retries 408/409/429/5xx and connection errors with exponential backoff
        # (0.5 s doubling, up to 8 s, honouring Retry-After), so none of that is written here.
        self.client = client or openai.OpenAI(
            base_url=settings.openai_base_url,
            api_key=key,
            timeout=settings.openai_timeout_s,
            max_retries=settings.openai_max_retries,
        )
        schema = answer_schema(settings.max_items, MAX_VALUE_CHARS)
        if settings.openai_response_format == "json_schema":
            self.response_format: dict[str, object] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": True},
            }
        else:
            self.response_format = {"type": "json_object", "schema": schema}

    @property
    def model_name(self) -> str:
        return str(self.settings.openai_model)

    @property
    def load_seconds(self) -> float:
        return 0.0  # nothing to load in this process

    def read_batch(self, articles: list[Article], cancels: list[threading.Event | None]) -> list[Draft | BaseException]:
        """One call per article (the scheduler sends one at a time; the server does the batching)."""
        results: list[Draft | BaseException] = []
        for article, cancel in zip(articles, cancels):
            try:
                results.append(self.read(article, cancel))
            except Exception as error:  # one article's failure stays its own
                results.append(error)
        return results

    def read(self, article: Article, cancel: threading.Event | None = None) -> Draft:
        started = time.perf_counter()
        layout = Layout.of(article, sentence_cut(article.text, self.settings.openai_max_chars), self.prompts)
        source, text_offset = layout.source, layout.text_offset
        if cancel is not None and cancel.is_set():
            raise Cancelled
        tick = time.perf_counter()
        answer, usage = self._complete(self.prompts.messages(layout.user))
        timings = {"engine": (time.perf_counter() - tick) * 1000}
        if cancel is not None and cancel.is_set():
            raise Cancelled

        dropped: list[str] = []

        def grounded(values: list[str]) -> list[Span]:
            spans: list[Span] = []
            for value in values:
                span = align(source, value, prefer_from=text_offset)
                if span is None:
                    if value.strip():
                        dropped.append(value)
                elif all(span.text.lower() != known.text.lower() for known in spans):
                    spans.append(span)
            return spans[: self.settings.max_items]

        who = grounded(answer.who)
        what = grounded([answer.what])
        when = grounded([answer.when] if answer.when else [])
        where = grounded(answer.where)
        timings["total"] = (time.perf_counter() - started) * 1000
        return Draft(
            who=who, what=what[0] if what else None, when=when[0] if when else None, where=where,
            source=source, text_offset=text_offset, window_chars=layout.window_chars, truncated=layout.truncated,
            prompt_tokens=usage[0], generated_tokens=usage[1],
            timings_ms={name: round(value, 1) for name, value in timings.items()}, dropped=dropped,
        )

    def _complete(self, messages: list[dict[str, str]]) -> tuple[Answer, tuple[int, int]]:
        """The server's answer, validated, and its token usage; InferenceServerError if it fails."""
        where = self.settings.openai_base_url
        try:
            response = self.client.chat.completions.create(
                model=self.model_name,
                messages=messages,  # type: ignore[arg-type]
                temperature=0,
                max_tokens=self.settings.openai_max_tokens,
                response_format=self.response_format,  # type: ignore[arg-type]
            )
        except openai.APIStatusError as error:
            raise InferenceServerError(f"the inference server at {where} answered {error.status_code}: {error.message}") from error
        except openai.APIConnectionError as error:  # includes timeouts
            raise InferenceServerError(f"the inference server at {where} did not answer: {error}") from error
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
