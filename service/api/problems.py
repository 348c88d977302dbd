"""Errors as RFC 9457 problem details (application/problem+json), from whatever raised them.

Each converter turns one kind of exception into a ``ProblemDetailsException``; ``create_app``
maps exception types to them once, so handlers and the runtime just raise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.plugins.problem_details import ProblemDetailsException

from service.errors import InferenceServerError, QueueFull

log = logging.getLogger(__name__)

ToProblem = Callable[[Any], ProblemDetailsException]


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


def status_problem(status: HTTPStatus, retry_after_s: int | None = None) -> ToProblem:
    """A domain error as ``status``, its message as the detail (and a Retry-After, if given)."""

    def to_problem(error: Exception) -> ProblemDetailsException:
        headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
        return problem(status, str(error), headers=headers)

    return to_problem


def overloaded_problem(error: QueueFull) -> ProblemDetailsException:
    """503 with Retry-After = the expected wait, rounded up to whole seconds."""
    return problem(
        HTTPStatus.SERVICE_UNAVAILABLE,
        str(error),
        headers={"Retry-After": str(error.retry_after_s)},
    )


def problem_dict(exc: ProblemDetailsException) -> dict[str, Any]:
    """The problem details object the exception's response would carry (for one line of a batch)."""
    body: dict[str, Any] = {"status": exc.status_code, "title": exc.title, "detail": exc.detail}
    if isinstance(exc.extra, dict):
        body.update(exc.extra)
    retry_after = (exc.headers or {}).get("Retry-After")
    if retry_after is not None:
        body["retry_after_s"] = int(retry_after)
    return body


def inference_server_problem(error: InferenceServerError) -> ProblemDetailsException:
    log.warning("inference server failed: %s", error)
    return problem(HTTPStatus.BAD_GATEWAY, str(error))


def client_closed_request(error: Exception) -> ProblemDetailsException:
    # Nobody is listening any more; the status is for the access log (nginx's 499).
    return ProblemDetailsException(status_code=499, title="Client Closed Request", detail=str(error))


def http_exception_to_problem(exc: HTTPException) -> ProblemDetailsException:
    """Litestar's own errors (404, 405, 413, ...) in the same problem+json format."""
    status = HTTPStatus(exc.status_code)
    errors = exc.extra if isinstance(exc.extra, list) else None
    return problem(status, exc.detail if exc.detail != status.phrase else "", errors, exc.headers)


def internal_error(request: Request, exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(HTTPStatus.INTERNAL_SERVER_ERROR, "an unexpected error occurred").to_response(request)
