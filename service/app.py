"""The HTTP layer: Litestar routes that translate HTTP into calls to the Summarizer and back."""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

from litestar import Controller, Litestar, Request, Response, get, post
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
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
from litestar.static_files import create_static_files_router
from litestar.types import Message, Scope
from pydantic import ValidationError

from service import __version__
from service.engine import EngineUnavailable
from service.loader import ModelNotFoundError
from service.metrics import CONTENT_TYPE_LATEST, Metrics
from service.middleware import (
    RequestTiming,
    echo_request_id_and_log,
    rate_limit_identity,
    request_id,
    require_api_key,
)
from service.scheduler import (
    ClientGone,
    DeadlineExceeded,
    QueueFull,
    Scheduler,
    model_thread,
)
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


@dataclass
class Runtime:
    """The model's life in this process: loading, ready, or failed to load."""

    settings: Settings
    summarizer: Summarizer | None = None
    error: str | None = None
    metrics: Metrics = field(default_factory=Metrics)
    _scheduler: Scheduler | None = field(default=None, repr=False)
    _model_thread: ThreadPoolExecutor | None = field(default=None, repr=False)
    _loading: Future[None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.metrics.queue_depth.set_function(lambda: self._scheduler.depth if self._scheduler else 0)

    def _worker(self) -> ThreadPoolExecutor:
        if self._model_thread is None:
            self._model_thread = model_thread(self.settings.workers)
        return self._model_thread

    def start_loading(self) -> None:
        """Load the model in the background, on the thread that will also run it."""
        if self.summarizer is None and self._loading is None:
            self._loading = self._worker().submit(self._load)

    def _load(self) -> None:
        try:
            self.summarizer = Summarizer.load(self.settings)
            log.info("model %s ready in %.1f s", self.summarizer.model_name, self.summarizer.load_seconds)
        except ModelNotFoundError as error:
            log.error("model not found: %s", error)
            self.error = str(error)
        except Exception as error:  # reported by /readyz and every summary request
            log.exception("model failed to load")
            self.error = str(error)

    def ready(self) -> Summarizer:
        if self.summarizer is not None:
            return self.summarizer
        detail = f"the model failed to load: {self.error}" if self.error else "the model is still loading"
        raise problem(HTTPStatus.SERVICE_UNAVAILABLE, detail, headers={"Retry-After": "10"})

    def scheduler(self) -> Scheduler:
        """The queue in front of the loaded model (503 until the model is ready)."""
        summarizer = self.ready()
        if self._scheduler is None:
            settings = self.settings
            remote = settings.backend == "openai"
            self._scheduler = Scheduler(
                summarizer, settings.max_queue, settings.request_timeout_s, self._worker(),
                max_batch=1 if remote else settings.max_batch, gather_s=0 if remote else settings.batch_wait_ms / 1000,
                parallel=settings.workers,
            )
        return self._scheduler

    def close(self) -> None:
        """At app shutdown: stop the model thread (a later startup makes a new one)."""
        if self._model_thread is not None:
            self._model_thread.shutdown(wait=False, cancel_futures=True)
        self._model_thread = None
        self._scheduler = None


def problem(
    status: HTTPStatus, detail: str, errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None
) -> ProblemDetailsException:
    return ProblemDetailsException(
        status_code=status.value,
        title=status.phrase,
        detail=detail,
        extra={"errors": errors} if errors else None,
        headers=headers,
    )


def http_exception_to_problem(exc: HTTPException) -> ProblemDetailsException:
    """Litestar's own errors (404, 405, 413, ...) in the same problem+json format."""
    status = HTTPStatus(exc.status_code)
    errors = exc.extra if isinstance(exc.extra, list) else None
    return problem(status, exc.detail if exc.detail != status.phrase else "", errors, exc.headers)


def internal_error(request: Request, exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(HTTPStatus.INTERNAL_SERVER_ERROR, "an unexpected error occurred").to_response(request)


async def read_summary_request(request: Request, settings: Settings) -> SummaryRequest:
    """The request body, JSON or plain text, as a validated SummaryRequest."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_TYPES + TEXT_TYPES:
        raise problem(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            f"send application/json or text/plain, not {media_type or 'a body without a content type'}",
        )
    body = await request.body()
    try:
        if media_type in TEXT_TYPES:
            payload: Any = {"text": body.decode("utf-8")}
        else:
            payload = json.loads(body)
    except UnicodeDecodeError as error:
        raise problem(HTTPStatus.BAD_REQUEST, f"the body is not valid UTF-8 ({error.reason} at byte {error.start})") from error
    except json.JSONDecodeError as error:
        raise problem(HTTPStatus.BAD_REQUEST, f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}") from error
    if isinstance(payload, dict) and isinstance(payload.get("text"), str) and len(payload["text"]) > settings.max_text_chars:
        raise problem(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"text has {len(payload['text'])} characters; the limit is {settings.max_text_chars}",
        )
    try:
        return SummaryRequest.model_validate(payload)
    except ValidationError as error:
        errors = [
            {"field": ".".join(map(str, item["loc"])) or "body", "message": item["msg"], "type": item["type"]}
            for item in error.errors(include_url=False, include_context=False, include_input=False)
        ]
        detail = "; ".join(f"{item['field']}: {item['message']}" for item in errors)
        raise problem(HTTPStatus.UNPROCESSABLE_ENTITY, detail, errors) from error


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
    path = "/v1/summaries"
    tags = ["summaries"]
    guards = [require_api_key]

    @post(
        "/",
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
    async def create(self, request: Request) -> Summary:
        runtime: Runtime = request.app.state.runtime
        summary_request = await read_summary_request(request, runtime.settings)
        if runtime.settings.log_articles:
            log.info("article", extra={"request_id": request_id(request.scope), "text": summary_request.text})
        scheduler = runtime.scheduler()
        try:
            summary = await scheduler.summarize(summary_request, disconnected=lambda: client_disconnect(request))
        except QueueFull as error:
            raise problem(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"the model is busy: {scheduler.max_queue} requests are already waiting; retry later",
                headers={"Retry-After": "5"},
            ) from error
        except DeadlineExceeded as error:
            raise problem(
                HTTPStatus.GATEWAY_TIMEOUT, f"the summary took longer than {runtime.settings.request_timeout_s:g} s"
            ) from error
        except EngineUnavailable as error:
            log.warning("inference server failed: %s", error)
            raise problem(HTTPStatus.BAD_GATEWAY, str(error)) from error
        except ClientGone as error:
            # Nobody is listening any more; the status is for the access log (nginx's 499).
            raise ProblemDetailsException(status_code=499, title="Client Closed Request", detail="client disconnected") from error
        runtime.metrics.observe_usage(summary.usage.get("prompt_tokens", 0), summary.usage.get("generated_tokens", 0))
        return summary


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
async def readyz(request: Request) -> Health:
    summarizer = request.app.state.runtime.ready()
    return Health(status="ok", model=summarizer.model_name, load_seconds=round(summarizer.load_seconds, 2))


@get("/", include_in_schema=False, media_type=MediaType.HTML)
async def page() -> Response[bytes]:
    """The web page: paste an article, see the answers highlighted in it."""
    return Response((STATIC_DIR / "page" / "index.html").read_bytes(), media_type=MediaType.HTML)


@get("/metrics", tags=["operations"], summary="Prometheus metrics", security=OPEN, media_type=CONTENT_TYPE_LATEST)
async def metrics(request: Request) -> Response[bytes]:
    runtime: Runtime = request.app.state.runtime
    if runtime.summarizer is not None:
        runtime.metrics.load_seconds.set(runtime.summarizer.load_seconds)
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def record_metrics(message: Message, scope: Scope) -> None:
    """``before_send`` hook: count each response by route template and status, with its latency."""
    if message["type"] != "http.response.start" or scope["type"] != "http":
        return
    started = scope.get("state", {}).get("started")
    scope["app"].state.runtime.metrics.observe_request(
        scope.get("method", ""),
        scope.get("path_template") or "unmatched",
        message["status"],
        time.perf_counter() - started if started else None,
    )


def create_app(settings: Settings | None = None, summarizer: Summarizer | None = None) -> Litestar:
    """The ASGI app. Without a ``summarizer`` it loads the configured model in the background."""
    settings = settings or Settings()
    runtime = Runtime(settings=settings, summarizer=summarizer)
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
            metrics,
            page,
            create_static_files_router(path="/static", directories=[STATIC_DIR], include_in_schema=False),
        ],
        on_startup=[lambda app: runtime.start_loading()],
        on_shutdown=[lambda app: runtime.close()],
        middleware=[RequestTiming(), *rate_limit],
        before_send=[echo_request_id_and_log, record_metrics],
        logging_config=None,  # the CLI configures logging (JSON lines); Litestar leaves it alone
        cors_config=CORSConfig(allow_origins=settings.cors_origins) if settings.cors_origins else None,
        state=State({"runtime": runtime}),
        plugins=[
            ProblemDetailsPlugin(
                ProblemDetailsConfig(exception_to_problem_detail_map={HTTPException: http_exception_to_problem})
            )
        ],
        exception_handlers={Exception: internal_error},
        # Bytes, not characters: room for the text limit in 4-byte UTF-8 plus JSON escapes.
        request_max_body_size=settings.max_text_chars * 6 + 64 * 1024,
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
