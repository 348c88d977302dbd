"""The HTTP layer: Litestar routes that translate HTTP into calls to the Summarizer and back."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from litestar import Controller, Litestar, Request, Response, get, post
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import MediaType
from litestar.exceptions import HTTPException
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    Example,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
    SecurityScheme,
)
from litestar.plugins.problem_details import (
    ProblemDetailsConfig,
    ProblemDetailsException,
    ProblemDetailsPlugin,
)
from litestar.response import Stream
from litestar.static_files import create_static_files_router
from litestar.types import Message, Scope

from service import __version__
from service.api.batch import (
    BATCH_TYPES,
    NDJSON,
    BatchOperation,
    Parsed,
    line,
    parse_batch,
    problem_line,
    validated,
)
from service.api.bodies import read_body
from service.api.metrics import CONTENT_TYPE_LATEST, Metrics
from service.api.middleware import (
    RequestTiming,
    echo_request_id_and_log,
    rate_limit_identity,
    request_id,
    require_api_key,
)
from service.api.problems import (
    client_closed_request,
    http_exception_to_problem,
    inference_server_problem,
    internal_error,
    overloaded_problem,
    problem,
    status_problem,
)
from service.errors import (
    ClientGone,
    DeadlineExceeded,
    InferenceServerError,
    ModelNotReady,
    QueueFull,
)
from service.runtime import Runtime
from service.schemas import (
    EXAMPLE_PUBLISHED,
    EXAMPLE_TEXT,
    EXAMPLE_TITLE,
    SUMMARY_EXAMPLE,
    TEXT_PATTERN,
    Health,
    Problem,
    Summary,
    SummaryRequest,
)
from service.settings import Settings
from service.summarizer import Summarizer

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
JSON_TYPES = ("application/json",)
TEXT_TYPES = ("text/plain",)


async def read_summary_request(request: Request, settings: Settings) -> SummaryRequest:
    """The request body, JSON or plain text, as a validated SummaryRequest."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_TYPES + TEXT_TYPES:
        raise problem(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            f"send application/json or text/plain, not {media_type or 'a body without a content type'}",
        )
    limit_note = f"room for SUMMARIZER_MAX_TEXT_CHARS = {settings.max_text_chars} characters of text"
    body = await read_body(request, single_body_limit(settings), limit_note)
    try:
        if media_type in TEXT_TYPES:
            payload: Any = {"text": body.decode("utf-8")}
        else:
            payload = json.loads(body)
    except UnicodeDecodeError as error:
        raise problem(HTTPStatus.BAD_REQUEST, f"the body is not valid UTF-8 ({error.reason} at byte {error.start})") from error
    except json.JSONDecodeError as error:
        raise problem(HTTPStatus.BAD_REQUEST, f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}") from error
    return validated(payload, settings)


def single_body_limit(settings: Settings) -> int:
    """Bytes, not characters: room for the text limit in 4-byte UTF-8 plus JSON escapes."""
    return settings.max_text_chars * 6 + 64 * 1024


@dataclass
class SummaryOperation(Operation):
    """Documents the body this route reads itself: JSON or plain text."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="The article, as JSON or as plain text (the article text itself).",
            content={
                "application/json": OpenAPIMediaType(
                    # Litestar documents only bodies it parses itself, so the schema comes from pydantic.
                    schema=SummaryRequest.model_json_schema(),  # type: ignore[arg-type]
                    examples={
                        "article": Example(
                            summary="An article with title and date",
                            value={"text": EXAMPLE_TEXT, "title": EXAMPLE_TITLE, "published_at": EXAMPLE_PUBLISHED},
                        )
                    },
                ),
                "text/plain": OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.STRING, min_length=1, pattern=TEXT_PATTERN),
                    examples={"article": Example(value=EXAMPLE_TEXT)},
                ),
            },
        )


def problem_response(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=Problem, description=description, media_type="application/problem+json")


class SummaryController(Controller):
    path = "/v1"
    tags = ["summaries"]
    guards = [require_api_key]

    @post(
        "/summaries",
        operation_class=SummaryOperation,
        status_code=200,
        summary="Summarise a news article",
        description=(
            "Returns who, what, when and where of the article's main event. Every who/when/where "
            "item is copied verbatim from the article, with offsets such that "
            "text[start:end] == item.text."
        ),
        responses={
            200: ResponseSpec(
                data_container=Summary,
                description="The summary of the article's main event.",
                examples=[Example(summary="A summary", value=SUMMARY_EXAMPLE)],
            ),
            400: problem_response("Malformed JSON or a body that is not UTF-8."),
            413: problem_response("The body or the text is over the size limit."),
            401: problem_response("API keys are configured and the request carries no valid one."),
            415: problem_response("The body is neither application/json nor text/plain."),
            422: problem_response("The JSON does not match SummaryRequest, or the text is blank."),
            429: problem_response("Over the rate limit (see the RateLimit-* and Retry-After headers)."),
            502: problem_response("Backend 'openai' only: the inference server failed or gave an unusable answer."),
            503: problem_response("The model is loading, or its queue is full (see Retry-After)."),
            504: problem_response("The summary did not finish within the request deadline."),
        },
    )
    async def create(self, request: Request, runtime: Runtime, settings: Settings, metrics: Metrics) -> Summary:
        summary_request = await read_summary_request(request, settings)
        if settings.log_articles:
            log.info("article", extra={"request_id": request_id(request.scope), "text": summary_request.text})
        summary = await runtime.scheduler().summarize(summary_request, disconnected=lambda: client_disconnect(request))
        metrics.observe_usage(summary.usage)
        return summary

    @post(
        "/summaries:batch",
        operation_class=BatchOperation,
        status_code=200,
        media_type=NDJSON,
        summary="Summarise many articles in one request, one NDJSON line back per article",
        description=(
            "The body is a JSON array of articles, or NDJSON (one per line); each is a SummaryRequest with an "
            "optional `id`, at most SUMMARIZER_MAX_BATCH_ITEMS of them. The answer is application/x-ndjson: one "
            "line per article, written as soon as that article is done, with its `index` in the body and its `id`; "
            "either `status` 200 and the `summary`, or that article's own status and `problem` (an invalid article "
            "never fails the others). The articles go through the same queue and batching as single requests, "
            "several at a time and in turn with other batches; single requests are never starved by a batch. "
            "Closing the connection stops the articles not yet done."
        ),
        responses={
            400: problem_response("Not UTF-8, or malformed JSON (application/json)."),
            401: problem_response("API keys are configured and the request carries no valid one."),
            413: problem_response("Over SUMMARIZER_MAX_BATCH_ITEMS articles or SUMMARIZER_MAX_BATCH_BYTES bytes."),
            415: problem_response("The body is not application/json or application/x-ndjson."),
            422: problem_response("The body holds no articles, or application/json that is not an array."),
            429: problem_response("Over the rate limit (see the RateLimit-* and Retry-After headers)."),
            503: problem_response("The model is loading, or the expected wait is past the deadline (see Retry-After)."),
        },
    )
    async def create_batch(self, request: Request, runtime: Runtime, settings: Settings, metrics: Metrics) -> Stream:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in BATCH_TYPES:
            raise problem(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"send application/json (an array) or {NDJSON}, not {media_type or 'a body without a content type'}",
            )
        body = await read_body(request, settings.max_batch_bytes, "SUMMARIZER_MAX_BATCH_BYTES")
        items = parse_batch(body, media_type, settings)
        scheduler = runtime.scheduler()  # 503 while loading
        valid = [item for item in items if item.request is not None]
        if valid:
            scheduler.admit()  # a batch that could not start in time is refused whole (503, Retry-After)

        async def lines() -> AsyncIterator[bytes]:
            for item in items:
                if item.problem is not None:
                    metrics.batch_items.labels(str(item.problem.status_code)).inc()
                    yield problem_line(item, item.problem)
            work: list[tuple[Parsed, Any]] = [(item, item.request) for item in valid]
            async for item, result in scheduler.summarize_many(work):
                if isinstance(result, Exception):
                    exc = item_problem(request.app.state.problems, result)
                    metrics.batch_items.labels(str(exc.status_code)).inc()
                    yield problem_line(item, exc)
                else:
                    metrics.batch_items.labels("200").inc()
                    metrics.observe_usage(result.usage)
                    yield line(item.index, item.id, 200, summary=result.model_dump(mode="json"))

        return Stream(lines(), media_type=NDJSON)


def item_problem(problems: dict[type[Exception], Any], error: Exception) -> ProblemDetailsException:
    """The problem one article of a batch met, as a single request would have been answered."""
    for kind, to_problem in problems.items():
        if isinstance(error, kind):
            return to_problem(error)
    log.error("unhandled error in a batch item", exc_info=error)
    return problem(HTTPStatus.INTERNAL_SERVER_ERROR, "an unexpected error occurred")


async def client_disconnect(request: Request) -> None:
    """Returns when the client goes away (ASGI sends http.disconnect once the body is read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


# Health and readiness stay open when API keys are configured: no security requirement.
OPEN: list[dict[str, list[str]]] = [{}]


@get("/healthz", tags=["operations"], summary="Liveness: the process is up", security=OPEN)
async def healthz() -> Health:
    return Health(status="ok")


@get(
    "/readyz",
    tags=["operations"],
    summary="Readiness: the model is loaded",
    security=OPEN,
    responses={503: problem_response("The model is loading or failed to load.")},
)
async def readyz(runtime: Runtime) -> Health:
    summarizer = runtime.ready()
    return Health(status="ok", model=summarizer.model_name, load_seconds=round(summarizer.load_seconds, 2))


@get("/", include_in_schema=False, media_type=MediaType.HTML)
async def page() -> Response[bytes]:
    """The web page: paste an article, see the answers highlighted in it."""
    return Response((STATIC_DIR / "page" / "index.html").read_bytes(), media_type=MediaType.HTML)


@get("/metrics", tags=["operations"], summary="Prometheus metrics", security=OPEN, media_type=CONTENT_TYPE_LATEST)
async def prometheus_metrics(runtime: Runtime, metrics: Metrics) -> Response[bytes]:
    if runtime.summarizer is not None:
        metrics.load_seconds.set(runtime.summarizer.load_seconds)
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def record_metrics(message: Message, scope: Scope) -> None:
    """``before_send`` hook: count each response by route template and status, with its latency."""
    if message["type"] != "http.response.start" or scope["type"] != "http":
        return
    started = scope.get("state", {}).get("started")
    scope["app"].state.metrics.observe_request(
        scope.get("method", ""),
        scope.get("path_template") or "unmatched",
        message["status"],
        time.perf_counter() - started if started else None,
    )


def create_app(settings: Settings | None = None, summarizer: Summarizer | None = None) -> Litestar:
    """The ASGI app. Without a ``summarizer`` it loads the configured backend in the background."""
    settings = settings or Settings()
    runtime = Runtime(settings=settings, summarizer=summarizer)
    metrics = Metrics()
    metrics.queue_depth.set_function(lambda: runtime.depth)
    metrics.expected_wait.set_function(lambda: runtime.expected_wait_s)
    # Every error the service raises, once: its status, and what a client may do about it.
    problems = {
        HTTPException: http_exception_to_problem,
        ModelNotReady: status_problem(HTTPStatus.SERVICE_UNAVAILABLE, retry_after_s=10),
        QueueFull: overloaded_problem,
        DeadlineExceeded: status_problem(HTTPStatus.GATEWAY_TIMEOUT),
        InferenceServerError: inference_server_problem,
        ClientGone: client_closed_request,
    }
    swagger = SwaggerRenderPlugin(
        path="/",
        js_url="/static/swagger-ui/swagger-ui-bundle.js",
        css_url="/static/swagger-ui/swagger-ui.css",
        standalone_preset_js_url="/static/swagger-ui/swagger-ui-standalone-preset.js",
        favicon="",
    )
    rate_limit = []
    if settings.rate_limit_per_minute:
        rate_limit.append(
            RateLimitConfig(
                rate_limit=("minute", settings.rate_limit_per_minute),
                identifier_for_request=rate_limit_identity,
                exclude=["/healthz", "/readyz", "/metrics", "/docs", "/static"],
            ).middleware
        )
    return Litestar(
        route_handlers=[
            SummaryController,
            healthz,
            readyz,
            prometheus_metrics,
            page,
            create_static_files_router(path="/static", directories=[STATIC_DIR], include_in_schema=False),
        ],
        lifespan=[runtime.lifespan],
        dependencies={
            "runtime": Provide(lambda: runtime, sync_to_thread=False),
            "settings": Provide(lambda: settings, sync_to_thread=False),
            "metrics": Provide(lambda: metrics, sync_to_thread=False),
        },
        middleware=[RequestTiming(), *rate_limit],
        before_send=[echo_request_id_and_log, record_metrics],
        logging_config=None,  # the CLI configures logging (JSON lines); Litestar leaves it alone
        cors_config=CORSConfig(allow_origins=settings.cors_origins) if settings.cors_origins else None,
        state=State({"runtime": runtime, "settings": settings, "metrics": metrics, "problems": problems}),
        plugins=[ProblemDetailsPlugin(ProblemDetailsConfig(exception_to_problem_detail_map=problems))],
        exception_handlers={Exception: internal_error},
        # The routes read their bodies themselves, under their own limits (service.api.bodies).
        request_max_body_size=None,
        openapi_config=OpenAPIConfig(
            title="News summarizer API",
            version=__version__,
            description="Who, what, when and where of a news article, each answer tied to the article's own characters.",
            path="/docs",
            render_plugins=[swagger],
            # Documented only when keys are configured: then every route but health needs one.
            security=[{"bearer": []}, {"apiKey": []}] if settings.api_keys else None,
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", description="An API key as a bearer token."),
                    "apiKey": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
                }
            ),
        ),
    )
