"""Backpressure and batching in front of the model: one bounded queue, deadlines, cancellation.

The model runs on a single worker thread; requests waiting when it becomes free are read
together as one batch, in arrival order. A request is admitted when its expected wait (the
requests ahead of it times the recent service time per request) leaves time to serve it within
its deadline, and while fewer than ``max_queue`` requests wait or run; otherwise it is refused at
once (the caller answers 503 with Retry-After = the expected wait) instead of piling up memory or
timing out later. A request that passes its deadline, or whose client goes away, is cancelled:
if it has not started it never runs, and if it is running the engine stops at its next model step.

The articles of a batch request (``summarize_many``) go through the same queue one by one, but
all batch requests together hold at most ``batch_places`` places in it, handed out in turn (one
item of each waiting batch request in rotation); single requests may use every place, so a batch
never starves them: a single request waits behind at most ``batch_places`` batch items.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

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


K = TypeVar("K")


@dataclass
class Admission:
    """Admission by expected wait: ``depth`` requests ahead, each taking the recent service time.

    The service time per request is an exponentially weighted moving average over finished
    batches of (batch seconds / batch size / batches run in parallel), starting at
    ``per_request_s`` until the first batch is measured; ``batch_s`` averages the batches' own
    seconds the same way. A request is admitted when ``expected_wait + batch_s <= deadline_s``:
    it is expected to be answered in time (once its turn comes, it takes a whole model batch),
    or when nothing waits or runs.
    """

    deadline_s: float
    per_request_s: float = 1.0  # the prior: about one article per second on two CPU cores
    batch_s: float = 1.0
    weight: float = 0.3  # of the newest batch in the average
    parallel: int = 1

    def observe(self, batch_seconds: float, size: int) -> None:
        if size > 0:
            sample = batch_seconds / size / self.parallel
            self.per_request_s += self.weight * (sample - self.per_request_s)
            self.batch_s += self.weight * (batch_seconds - self.batch_s)

    def expected_wait(self, depth: int) -> float:
        return depth * self.per_request_s

    def retry_after_s(self, depth: int) -> int:
        """The expected wait in whole seconds, rounded up (at least 1), for Retry-After."""
        return max(1, math.ceil(self.expected_wait(depth)))

    def fits(self, depth: int) -> bool:
        # An idle model always takes the request (and so keeps measuring, even with a short deadline).
        return depth == 0 or self.expected_wait(depth) + self.batch_s <= self.deadline_s


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
        batch_places: int | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.summarizer = summarizer
        self.max_queue = max_queue
        self.deadline_s = deadline_s
        self.max_batch = max_batch
        self.gather_s = gather_s
        self.parallel = parallel
        # One model batch's worth: the engine reads batch articles at full width, and an admitted
        # article waits for at most the batch running before its own.
        self.batch_places = batch_places or max(1, min(max_batch * parallel, max_queue // 2))
        self.admission = Admission(deadline_s, parallel=parallel)
        self.clock = clock
        self.pending = 0
        self._waiting: list[Waiting] = []
        self._runners: set[asyncio.Task[None]] = set()
        self._places: asyncio.Semaphore | None = None
        self._worker = worker or model_thread()

    @property
    def depth(self) -> int:
        """Requests waiting for or using the model."""
        return self.pending

    @property
    def expected_wait_s(self) -> float:
        """How long a request admitted now is expected to wait before the model starts on it."""
        return self.admission.expected_wait(self.pending)

    def admit(self) -> None:
        """Raises QueueFull (with the expected wait as retry_after_s) unless a request fits now."""
        if self.pending >= self.max_queue:
            raise QueueFull(
                f"the model is busy: {self.max_queue} requests are already waiting; retry later",
                self.admission.retry_after_s(self.pending),
            )
        if not self.admission.fits(self.pending):
            wait = self.admission.expected_wait(self.pending)
            raise QueueFull(
                f"the model is busy: the expected wait of {wait:.1f} s ({self.pending} requests ahead, "
                f"{self.admission.per_request_s:.2f} s each) and a model batch of {self.admission.batch_s:.1f} s "
                f"do not fit the {self.deadline_s:g} s deadline; "
                "retry later",
                self.admission.retry_after_s(self.pending),
            )

    async def summarize(
        self, request: SummaryRequest, disconnected: Callable[[], Awaitable[object]] | None = None
    ) -> Summary:
        """The summary, unless it is not admitted, the deadline passes or ``disconnected()`` returns first."""
        self.admit()
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

    async def summarize_many(
        self, items: Sequence[tuple[K, SummaryRequest]]
    ) -> AsyncIterator[tuple[K, Summary | Exception]]:
        """(key, summary or the exception that ended that item) for each item, as each is done.

        Items enter the queue one at a time through the batch places (see the module's doc);
        each is then admitted, and has its deadline, like a single request. Closing the iterator
        (or cancelling the task iterating it) cancels every item not yet done.
        """
        places = self._batch_places()
        done: asyncio.Queue[tuple[K, Summary | Exception]] = asyncio.Queue()
        running: set[asyncio.Task[None]] = set()

        async def one(key: K, request: SummaryRequest) -> None:
            try:
                result: Summary | Exception = await self.summarize(request)
            except Exception as error:  # that item's own failure, reported on its line
                result = error
            done.put_nowait((key, result))

        async def feed() -> None:
            for key, request in items:
                await places.acquire()  # one waiter per batch request: the semaphore's FIFO is a rotation
                task = asyncio.ensure_future(one(key, request))
                running.add(task)
                # Released even when the task is cancelled before it starts.
                task.add_done_callback(lambda finished: (running.discard(finished), places.release()))

        feeder = asyncio.ensure_future(feed())
        try:
            for _ in range(len(items)):
                yield await done.get()
        finally:
            feeder.cancel()
            for task in list(running):
                task.cancel()

    def _batch_places(self) -> asyncio.Semaphore:
        if self._places is None:
            self._places = asyncio.Semaphore(self.batch_places)
        return self._places

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
            started = self.clock()
            results = await loop.run_in_executor(self._worker, self._run, batch)
            self.admission.observe(self.clock() - started, len(batch))
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
