"""The pydantic contract of the API: what a client sends and what it gets back.

Field descriptions here are also rendered into the model's prompt (see ``service.prompts``),
so the documentation a client reads and the instructions the model reads cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

EXAMPLE_TEXT = (
    "A court in The Hague on Wednesday ordered Royal Dutch Shell to cut its carbon emissions by"
    " 45% by 2030 compared with 2019 levels, in a landmark ruling brought by environmental grou"
    "ps. Judge Larisa Alwin said the oil company had a duty of care to reduce emissions. Shell "
    "said it expected to appeal."
)
EXAMPLE_TITLE = "Dutch court orders Shell to cut emissions"
EXAMPLE_PUBLISHED = "2021-05-27"

# Not blank: at least one character that is not white space (an unanchored ECMAScript regex).
TEXT_PATTERN = r"\S"


class SummaryRequest(BaseModel):
    """A news article to summarise."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        description="The article text, plain text, not blank.",
        examples=[EXAMPLE_TEXT],
        # Documents what the validator below enforces, so clients and fuzzers see the same rule.
        json_schema_extra={"minLength": 1, "pattern": TEXT_PATTERN},
    )
    title: str | None = Field(None, max_length=1000, description="Headline, if known.", examples=[EXAMPLE_TITLE])
    published_at: dt.date | dt.datetime | None = Field(
        None,
        description="Publication date or datetime (ISO 8601); relative dates are resolved against it.",
        examples=[EXAMPLE_PUBLISHED],
    )
    min_confidence: float | None = Field(
        None, ge=0, le=1, strict=True,  # strict: a boolean is not a number here
        description=(
            "Leave out answers whose confidence is below this (a field left empty says so in warnings);"
            " unset: the service's SUMMARIZER_MIN_CONFIDENCE. 0 keeps every answer."
        ),
    )

    @field_validator("published_at", mode="before")
    @classmethod
    def _iso_8601_only(cls, value: object) -> object:
        # pydantic would also take numbers (and numeric strings) as Unix timestamps.
        if value is None or isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value) if "T" in value or " " in value.strip() else dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise ValueError("published_at must be an ISO 8601 date (2024-03-05) or datetime (2024-03-05T08:30:00Z)")

    @field_validator("text")
    @classmethod
    def _text_has_content(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("text is empty or only whitespace")
        return text


class Item(BaseModel):
    """An answer copied from the article, with its character offsets in ``text``."""

    text: str = Field(description="The answer as written in the article.")
    start: int | None = Field(None, ge=0, description="Offset of the first character in the request's text.")
    end: int | None = Field(None, ge=0, description="Offset just past the last character: text[start:end] == item.text.")
    confidence: float | None = Field(
        None, ge=0, le=1,
        description=(
            "Calibrated chance that this answer is right (token F1 >= 0.5 against what an annotator wrote),"
            " from the ranker's score; null where the backend gives no score."
        ),
    )


class When(Item):
    """A time expression from the article and the calendar date it refers to."""

    date: dt.date | None = Field(None, description="The date the expression refers to (ISO YYYY-MM-DD), if it can be worked out.")


class Summary(BaseModel):
    """The main event of the article."""

    who: list[Item] = Field(description="The people or organisations that are the main actors of the event, named as in the article.")
    what: Item = Field(description="What happened: one short headline-like description of the main event.")
    when: When | None = Field(description="When the main event happened, as written in the article (a date, day or time).")
    where: list[Item] = Field(description="The places where the main event happened, as named in the article.")
    model: str = Field(description="The model that produced the answer.")
    prompt_version: str = Field(description="Version of the prompt templates used.")
    timings_ms: dict[str, float] = Field(description="Time spent per stage, in milliseconds.")
    usage: dict[str, int] = Field(
        default_factory=dict, description="Tokens the model read (prompt_tokens), wrote (generated_tokens; none on the local backend) and scored as candidate answers (scored_tokens)."
    )
    warnings: list[str] = Field(default_factory=list, description="Anything the client should know, e.g. truncation.")

    model_config = ConfigDict(protected_namespaces=())


# A real response of the service to the example request (README and OpenAPI show it).
SUMMARY_EXAMPLE = {
    "who": [
        {
            "text": "Judge Larisa Alwin",
            "start": 184,
            "end": 202,
            "confidence": 0.776
        }
    ],
    "what": {
        "text": "to cut emissions",
        "start": None,
        "end": None,
        "confidence": 0.896
    },
    "when": {
        "text": "on Wednesday",
        "start": 21,
        "end": 33,
        "confidence": 0.737,
        "date": "2021-05-26"
    },
    "where": [
        {
            "text": "The Hague",
            "start": 11,
            "end": 20,
            "confidence": 0.568
        }
    ],
    "model": "SmolLM2-135M-Instruct",
    "prompt_version": "67b5165c",
    "timings_ms": {
        "window": 4.7,
        "candidates": 33.4,
        "prefill": 472.2,
        "scoring": 577.6,
        "total": 1087.9
    },
    "usage": {
        "prompt_tokens": 412,
        "generated_tokens": 0,
        "scored_tokens": 101
    },
    "warnings": []
}


def _described(name: str) -> str | None:
    return Summary.model_fields[name].description


class Answer(BaseModel):
    """The model's own answer before grounding: plain strings, as an inference server returns them.

    Its fields, in this order, are the answer's JSON keys everywhere: the prompt's field list and
    worked example, the local engine's skeleton, and the schema sent to an inference server.
    """

    model_config = ConfigDict(extra="forbid")

    who: list[str] = Field(description=_described("who"))
    what: str = Field(description=_described("what"))
    when: str | None = Field(description=_described("when"))
    where: list[str] = Field(description=_described("where"))


# The Summary fields the model answers, in the order it writes them (defined by Answer above).
ANSWER_FIELDS = tuple(Answer.model_fields)


def answer_schema(max_items: int, max_chars: int) -> dict[str, Any]:
    """Answer's JSON schema with the service's limits, for structured output on an inference server.

    The bounds keep a small model from writing an endless list or string under the grammar.
    """
    schema = Answer.model_json_schema()
    properties = schema["properties"]
    for name in ("who", "where"):
        properties[name]["maxItems"] = max_items
        properties[name]["items"]["maxLength"] = max_chars
    properties["what"]["maxLength"] = max_chars
    for option in properties["when"]["anyOf"]:
        if option.get("type") == "string":
            option["maxLength"] = max_chars
    return schema


class Problem(BaseModel):
    """An error, as RFC 9457 problem details (media type application/problem+json)."""

    type: str = Field("about:blank", description="A URI identifying the problem type.")
    title: str = Field(description="Short summary of the problem type.", examples=["Unprocessable Content"])
    status: int = Field(description="The HTTP status code.", examples=[422])
    detail: str | None = Field(None, description="What went wrong with this request.", examples=["text: text is empty or only whitespace"])
    errors: list[dict[str, str]] | None = Field(None, description="Per-field validation errors, when there are any.")


class Health(BaseModel):
    status: str = Field(description="'ok' when alive or ready, else what it is waiting for.", examples=["ok"])
    model: str | None = Field(None, description="The loaded model, once ready.")
    load_seconds: float | None = Field(None, description="Seconds the model took to load.")
