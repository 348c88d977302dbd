"""Reading request bodies under a byte limit, with refusals every HTTP client can read.

A body over the limit gets 413 problem+json naming the limit. Before answering, the rest of the
body is read and thrown away (up to ``DISCARD_LIMIT_BYTES``): most clients (Python's urllib,
requests, Java's HttpURLConnection, ...) send the whole body before they read the answer, and a
server that answers and closes while they are still sending makes them see "connection reset"
instead of the 413. A body over the discard bound is answered without reading it through, and the
connection is closed (curl and httpx still see the 413; a client that writes first may not).
"""

from __future__ import annotations

from http import HTTPStatus

from litestar import Request
from litestar.plugins.problem_details import ProblemDetailsException

from service.api.problems import problem
from service.errors import ClientGone

DISCARD_LIMIT_BYTES = 64 * 1024 * 1024


async def read_body(request: Request, limit: int, limit_note: str) -> bytes:
    """The whole body, or 413 (naming ``limit`` and ``limit_note``) once it is over ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        await discard_rest(request, 0)
        raise too_large(f"the body has {int(declared)} bytes", limit, limit_note)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientGone("the client disconnected while sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        more = message.get("more_body", False)
        if size > limit:
            if more:
                await discard_rest(request, size)
            raise too_large(f"the body has more than {limit} bytes", limit, limit_note)
        chunks.append(chunk)
        if not more:
            return b"".join(chunks)


async def discard_rest(request: Request, already: int) -> None:
    """Read and drop the rest of the body, up to DISCARD_LIMIT_BYTES in all."""
    seen = already
    while seen <= DISCARD_LIMIT_BYTES:
        message = await request.receive()
        if message["type"] != "http.request":
            return  # the client went away
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def too_large(what: str, limit: int, limit_note: str) -> ProblemDetailsException:
    return problem(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"{what}; the limit is {limit} bytes ({limit_note})")
