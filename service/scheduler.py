"""Backpressure in front of the model: one bounded queue, deadlines, and cancellation.

The model reads one article at a time on a single worker thread, in arrival order. At most
``max_queue`` requests wait or run; one more is refused at once (the caller answers 503 with
Retry-After) instead of piling up memory. A request that passes its deadline, or whose client
goes away, is cancelled: if it has not started it never runs, and if it is running the engine
stops at its next model step.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from service.engine import Cancelled
from service.schemas import Summary, SummaryRequest
from service.summarizer import Summarizer


class QueueFull(Exception):
    """Too many requests are waiting for the model."""


class DeadlineExceeded(Exception):
    """The request did not finish within its deadline."""


class ClientGone(Exception):
    """The client disconnected before its summary was ready."""


def model_thread(workers: int = 1) -> ThreadPoolExecutor:
    """The one thread that touches the model: loading, warm-up and every request.

    (Several threads only for the 'openai' backend, whose requests wait on the network.)

    torch's CPU thread pool belongs to the thread that uses it; when a second thread also runs
    the model, both pools compete for the cores (measured: articles/s fell from 0.63 to 0.41
    on 2 cores, for every thread, once a second one had run the model).
    """
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="model")


class Scheduler:
    def __init__(
        self, summarizer: Summarizer, max_queue: int, deadline_s: float, worker: ThreadPoolExecutor | None = None
    ) -> None:
        self.summarizer = summarizer
        self.max_queue = max_queue
        self.deadline_s = deadline_s
        self.pending = 0
        self._worker = worker or model_thread()

    @property
    def depth(self) -> int:
        """Requests waiting for or using the model."""
        return self.pending

    def _run(self, request: SummaryRequest, cancel: threading.Event) -> Summary:
        if cancel.is_set():
            raise Cancelled
        return self.summarizer.summarize(request, cancel)

    async def summarize(
        self, request: SummaryRequest, disconnected: Callable[[], Awaitable[object]] | None = None
    ) -> Summary:
        """The summary, unless the queue is full, the deadline passes or ``disconnected()`` returns first."""
        if self.pending >= self.max_queue:
            raise QueueFull
        self.pending += 1
        cancel = threading.Event()
        job = asyncio.ensure_future(asyncio.get_running_loop().run_in_executor(self._worker, self._run, request, cancel))
        watcher = asyncio.ensure_future(disconnected()) if disconnected is not None else None
        try:
            waiting = {job} | ({watcher} if watcher else set())
            done, _ = await asyncio.wait(waiting, timeout=self.deadline_s, return_when=asyncio.FIRST_COMPLETED)
            if job in done:
                return job.result()
            cancel.set()
            if watcher is not None and watcher in done:
                raise ClientGone
            raise DeadlineExceeded
        except asyncio.CancelledError:
            cancel.set()
            raise
        finally:
            self.pending -= 1
            if watcher is not None:
                watcher.cancel()
            if not job.done():
                # Let the worker finish the cancelled job quietly; nobody reads its result.
                job.add_done_callback(lambda finished: finished.exception())

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)
