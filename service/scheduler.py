"""Backpressure and batching in front of the model: one bounded queue, deadlines, cancellation.

The model runs on a single worker thread; requests waiting when it becomes free are read
together as one batch, in arrival order. At most
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
from dataclasses import dataclass

from service.errors import ClientGone, DeadlineExceeded, QueueFull
from service.schemas import Summary, SummaryRequest
from service.summarizer import Summarizer


def model_thread(workers: int = 1) -> ThreadPoolExecutor:
    """The one thread that touches the model: loading, warm-up and every request.

    (Several threads only for the 'openai' backend, whose requests wait on the network.)

    torch's CPU thread pool belongs to the thread that uses it; when a second thread also runs
    the model, both pools compete for the cores (measured: articles/s fell from 0.63 to 0.41
    on 2 cores, for every thread, once a second one had run the model).
    """
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="model")


@dataclass
class Waiting:
    """A request waiting for the model, and where its summary goes."""

    request: SummaryRequest
    cancel: threading.Event
    future: asyncio.Future[Summary]


class Scheduler:
    """Hands requests to the model in batches: whoever is waiting when the model is free goes next.

    A batch starts ``gather_s`` after the model becomes free, so requests that arrive together
    are read together (``max_batch`` at most); the rest wait for the next batch, in arrival order,
    so no request is passed over. ``parallel`` batches may run at once (1 for the local model;
    several, of one request each, for the 'openai' backend, whose calls wait on the network).
    """

    def __init__(
        self,
        summarizer: Summarizer,
        max_queue: int,
        deadline_s: float,
        worker: ThreadPoolExecutor | None = None,
        max_batch: int = 1,
        gather_s: float = 0.0,
        parallel: int = 1,
    ) -> None:
        self.summarizer = summarizer
        self.max_queue = max_queue
        self.deadline_s = deadline_s
        self.max_batch = max_batch
        self.gather_s = gather_s
        self.parallel = parallel
        self.pending = 0
        self._waiting: list[Waiting] = []
        self._runners: set[asyncio.Task[None]] = set()
        self._worker = worker or model_thread()

    @property
    def depth(self) -> int:
        """Requests waiting for or using the model."""
        return self.pending

    async def summarize(
        self, request: SummaryRequest, disconnected: Callable[[], Awaitable[object]] | None = None
    ) -> Summary:
        """The summary, unless the queue is full, the deadline passes or ``disconnected()`` returns first."""
        if self.pending >= self.max_queue:
            raise QueueFull(f"the model is busy: {self.max_queue} requests are already waiting; retry later")
        self.pending += 1
        waiting = Waiting(request, threading.Event(), asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        self._start_runners()
        watcher = asyncio.ensure_future(disconnected()) if disconnected is not None else None
        try:
            awaited = {waiting.future} | ({watcher} if watcher else set())
            done, _ = await asyncio.wait(awaited, timeout=self.deadline_s, return_when=asyncio.FIRST_COMPLETED)
            if waiting.future in done:
                return waiting.future.result()
            waiting.cancel.set()
            if watcher is not None and watcher in done:
                raise ClientGone("client disconnected")
            raise DeadlineExceeded(f"the summary took longer than {self.deadline_s:g} s")
        except asyncio.CancelledError:
            waiting.cancel.set()
            raise
        finally:
            self.pending -= 1
            if waiting in self._waiting:  # never started: it will not run at all
                self._waiting.remove(waiting)
            if watcher is not None:
                watcher.cancel()

    def _start_runners(self) -> None:
        # A finished runner stays in the set until its done-callback runs; it does not count.
        if sum(not runner.done() for runner in self._runners) < self.parallel:
            runner = asyncio.ensure_future(self._drain())
            self._runners.add(runner)
            runner.add_done_callback(self._runners.discard)

    async def _drain(self) -> None:
        """Run batches while requests wait."""
        loop = asyncio.get_running_loop()
        while self._waiting:
            if self.gather_s:
                await asyncio.sleep(self.gather_s)
            batch, self._waiting[: self.max_batch] = self._waiting[: self.max_batch], []
            batch = [waiting for waiting in batch if not waiting.cancel.is_set()]
            if not batch:
                continue
            results = await loop.run_in_executor(self._worker, self._run, batch)
            for waiting, result in zip(batch, results):
                if waiting.future.done() or waiting.cancel.is_set():
                    continue  # nobody waits for it any more
                if isinstance(result, BaseException):
                    waiting.future.set_exception(result)
                else:
                    waiting.future.set_result(result)

    def _run(self, batch: list[Waiting]) -> list[Summary | BaseException]:
        try:
            return self.summarizer.summarize_batch(
                [waiting.request for waiting in batch], [waiting.cancel for waiting in batch]
            )
        except Exception as error:  # reported to each request of the batch
            return [error] * len(batch)

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)
