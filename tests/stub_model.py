"""A stand-in for the model, for tests of the HTTP edge and the scheduler that need no real model."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from service.errors import Cancelled
from service.schemas import Summary, SummaryRequest


class StubSummarizer:
    """Answers each article after ``seconds`` (or when released), recording what ran and what was stopped."""

    model_name = "stub"
    load_seconds = 0.0

    def __init__(self, seconds: float = 0.0, released: bool = True) -> None:
        self.seconds = seconds
        self.release = threading.Event()
        if released:
            self.release.set()
        self.ran: list[str] = []
        self.stopped: list[str] = []
        self.batches: list[list[str]] = []

    def summarize_batch(self, requests: list[SummaryRequest], cancels: list[threading.Event]) -> list[Summary | BaseException]:
        self.batches.append([request.text for request in requests])
        until = time.monotonic() + self.seconds
        while time.monotonic() < until or not self.release.is_set():
            if all(cancel.is_set() for cancel in cancels):
                break
            time.sleep(0.005)
        results: list[Summary | BaseException] = []
        for request, cancel in zip(requests, cancels):
            if cancel.is_set():
                self.stopped.append(request.text)
                results.append(Cancelled())
            else:
                self.ran.append(request.text)
                results.append(
                    Summary(who=[], what={"text": request.text}, when=None, where=[], model="stub", prompt_version="x", timings_ms={})
                )
        return results


@contextmanager
def uvicorn_server(app: object) -> Iterator[str]:
    """``app`` served by uvicorn (as `summarizer serve` does) on a free loopback port, in a thread."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
