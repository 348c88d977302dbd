"""``POST /v1/summaries:batch``: many articles in one request, one NDJSON line back per article.

The body is a JSON array of articles, or NDJSON (one article per line); each article is a
``SummaryRequest`` with an optional ``id``. Each answer line is written as soon as that article is
done (so lines come in completion order; ``index`` is the article's place in the body) and is
either ``{"index", "id", "status": 200, "summary"}`` or ``{"index", "id", "status", "problem"}``
for that article alone: an invalid article never fails the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from litestar.openapi.spec import (
    Example,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    RequestBody,
    Schema,
)
from litestar.plugins.problem_details import ProblemDetailsException
from pydantic import Field, ValidationError

from service.api.problems import problem, problem_dict
from service.schemas import (
    EXAMPLE_PUBLISHED,
    EXAMPLE_TEXT,
    EXAMPLE_TITLE,
    SUMMARY_EXAMPLE,
    SummaryRequest,
)
from service.settings import Settings

NDJSON = "application/x-ndjson"
BATCH_TYPES = ("application/json", NDJSON, "application/jsonl", "application/ndjson", "application/x-jsonlines")


class BatchItem(SummaryRequest):
    """One article of a batch: a SummaryRequest with an optional id, echoed on its answer line."""

    id: str | int | None = Field(None, description="Your id for the article, echoed on its line.")


@dataclass
class Parsed:
    """One article of the body: where it was, its id, and its request or the problem with it."""

    index: int
    id: str | int | None
    request: SummaryRequest | None = None
    problem: ProblemDetailsException | None = None


def validated(payload: Any, settings: Settings, model: type[SummaryRequest] = SummaryRequest) -> SummaryRequest:
    """``payload`` as a ``model``; 413 for a text over the limit, 422 for anything else wrong."""
    if isinstance(payload, dict) and isinstance(payload.get("text"), str) and len(payload["text"]) > settings.max_text_chars:
        raise problem(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"text has {len(payload['text'])} characters; the limit is {settings.max_text_chars} (SUMMARIZER_MAX_TEXT_CHARS)",
        )
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        errors = [
            {"field": ".".join(map(str, item["loc"])) or "body", "message": item["msg"], "type": item["type"]}
            for item in error.errors(include_url=False, include_context=False, include_input=False)
        ]
        detail = "; ".join(f"{item['field']}: {item['message']}" for item in errors)
        raise problem(HTTPStatus.UNPROCESSABLE_ENTITY, detail, errors) from error


def parse_batch(body: bytes, media_type: str, settings: Settings) -> list[Parsed]:
    """The articles of a batch body: a JSON array (application/json), or NDJSON (one article per
    non-blank line).

    A body that is not UTF-8, a malformed array or one over ``max_batch_items`` articles fails
    the whole request; a malformed NDJSON line or an invalid article fails only its own line.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise problem(HTTPStatus.BAD_REQUEST, f"the body is not valid UTF-8 ({error.reason} at byte {error.start})") from error
    payloads: list[Any] = []  # each a decoded article, or the problem with its line
    if media_type == "application/json":
        try:
            array = json.loads(text)
        except json.JSONDecodeError as error:
            raise problem(HTTPStatus.BAD_REQUEST, f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}") from error
        if not isinstance(array, list):
            raise problem(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                f"an application/json batch is a JSON array of articles (send NDJSON as {NDJSON})",
            )
        payloads = list(array)
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                payloads.append(json.loads(line))
            except json.JSONDecodeError as error:
                payloads.append(problem(HTTPStatus.BAD_REQUEST, f"malformed JSON on line {number}: {error.msg} at column {error.colno}"))
    if not payloads:
        raise problem(HTTPStatus.UNPROCESSABLE_ENTITY, "the batch has no articles")
    if len(payloads) > settings.max_batch_items:
        raise problem(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"the batch has {len(payloads)} articles; the limit is {settings.max_batch_items} (SUMMARIZER_MAX_BATCH_ITEMS)",
        )
    parsed = []
    for index, payload in enumerate(payloads):
        item_id = payload.get("id") if isinstance(payload, dict) and isinstance(payload.get("id"), (str, int)) else None
        if isinstance(payload, ProblemDetailsException):
            parsed.append(Parsed(index, None, problem=payload))
            continue
        try:
            item = validated(payload, settings, BatchItem)
        except ProblemDetailsException as error:
            parsed.append(Parsed(index, item_id, problem=error))
            continue
        request = SummaryRequest.model_validate(item.model_dump(exclude={"id"}))
        parsed.append(Parsed(index, item_id, request=request))
    return parsed


def line(index: int, item_id: str | int | None, status: int, **content: Any) -> bytes:
    return (json.dumps({"index": index, "id": item_id, "status": status, **content}, ensure_ascii=False) + "\n").encode()


def problem_line(item: Parsed, exc: ProblemDetailsException) -> bytes:
    return line(item.index, item.id, exc.status_code, problem=problem_dict(exc))


# OpenAPI: Litestar documents only bodies it parses itself, so the batch's body and its NDJSON answer are written here.

ITEM_EXAMPLES = [
    {"id": "shell-ruling", "text": EXAMPLE_TEXT, "title": EXAMPLE_TITLE, "published_at": EXAMPLE_PUBLISHED},
    {"id": "blank", "text": "   "},
]
LINE_EXAMPLES = [
    {"index": 1, "id": "blank", "status": 422, "problem": {
        "status": 422, "title": "Unprocessable Entity", "detail": "text: Value error, text is empty or only whitespace",
        "errors": [{"field": "text", "message": "Value error, text is empty or only whitespace", "type": "value_error"}]}},
    {"index": 0, "id": "shell-ruling", "status": 200, "summary": SUMMARY_EXAMPLE},
]


ITEM_DESCRIPTION = (
    "An article: a SummaryRequest (text, title?, published_at?) with an optional id (string or integer), "
    "as in the example. An article that is not valid gets a problem line of its own; the others are summarised."
)


def item_schema() -> dict[str, Any]:
    schema = SummaryRequest.model_json_schema()
    schema = {**schema, "title": "BatchItem", "properties": {
        **schema["properties"],
        "id": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}], "description": "Your id for the article, echoed on its line."},
    }}
    return schema


LINE_SCHEMA = Schema(
    title="BatchLine",
    description="One answer line: the article's summary, or the problem with that article alone.",
    type="object",  # type: ignore[arg-type]
    required=["index", "status"],
    properties={
        "index": Schema(type="integer", description="The article's place in the body, from 0."),  # type: ignore[arg-type]
        "id": Schema(description="The article's id, as sent (null without one)."),
        "status": Schema(type="integer", description="200, or the HTTP status this article alone would have got."),  # type: ignore[arg-type]
        "summary": Schema(description="The Summary (as POST /v1/summaries answers), when status is 200."),
        "problem": Schema(description="An RFC 9457 problem object (status, title, detail; retry_after_s on 503), otherwise."),
    },
)


@dataclass
class BatchOperation(Operation):
    """Documents the batch body (JSON array or NDJSON) and the NDJSON answer."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            # NDJSON has no JSON Schema, so only the array is described here; the same articles, one JSON object
            # per line, may be sent as application/x-ndjson (see the description and the README).
            description=(
                "Up to SUMMARIZER_MAX_BATCH_ITEMS articles: a JSON array, or the same articles as NDJSON "
                "(content-type application/x-ndjson, one JSON object per line), e.g.\n\n"
                + "".join(json.dumps(item) + "\n" for item in ITEM_EXAMPLES)
            ),
            content={
                "application/json": OpenAPIMediaType(
                    # Items are not constrained here: each is validated on its own (the BatchItem
                    # schema below), and an invalid one gets its own problem line, not a 4xx.
                    schema={"type": "array", "minItems": 1, "items": {"description": ITEM_DESCRIPTION, "x-item-schema": item_schema()}},  # type: ignore[arg-type]
                    examples={"articles": Example(summary="Two articles, one of them blank", value=ITEM_EXAMPLES)},
                ),
            },
        )
        if self.responses is not None:
            self.responses["200"] = OpenAPIResponse(
                description="One line per article, each written as soon as that article is done (completion order).",
                content={
                    NDJSON: OpenAPIMediaType(
                        schema=LINE_SCHEMA,
                        examples={"lines": Example(value="".join(json.dumps(item) + "\n" for item in LINE_EXAMPLES))},
                    )
                },
            )
