"""The backend's life in a serving process: loading, ready or failed, and the queue in front of it.

Raises domain errors only (``ModelNotReady``); the HTTP layer decides what they look like.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from service.backends import BackendPlan, backend_plan
from service.errors import ModelNotFoundError, ModelNotReady
from service.scheduler import Scheduler, model_thread
from service.settings import Settings
from service.summarizer import Summarizer

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Loads the configured backend in the background, on the thread that will also run it."""

    settings: Settings
    summarizer: Summarizer | None = None  # given (tests) or loaded
    error: str | None = None  # why loading failed
    plan: BackendPlan = field(init=False)
    _scheduler: Scheduler | None = field(default=None, repr=False)
    _model_thread: ThreadPoolExecutor | None = field(default=None, repr=False)
    _loading: Future[None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.plan = backend_plan(self.settings)

    @property
    def depth(self) -> int:
        """Requests waiting for or using the model."""
        return self._scheduler.depth if self._scheduler else 0

    @property
    def expected_wait_s(self) -> float:
        """How long a request admitted now is expected to wait for the model (0 before it is ready)."""
        return self._scheduler.expected_wait_s if self._scheduler else 0.0

    @asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        """The app's lifespan: start loading at startup; stop the model thread at shutdown (a
        later startup makes a new one)."""
        self.start_loading()
        try:
            yield
        finally:
            self.close()

    def start_loading(self) -> None:
        if self.summarizer is None and self._loading is None:
            self._loading = self._worker().submit(self._load)

    def ready(self) -> Summarizer:
        """The loaded Summarizer; ``ModelNotReady`` while loading or after a failed load."""
        if self.summarizer is not None:
            return self.summarizer
        raise ModelNotReady(f"the model failed to load: {self.error}" if self.error else "the model is still loading")

    def scheduler(self) -> Scheduler:
        """The queue in front of the loaded backend (``ModelNotReady`` until it is ready)."""
        summarizer = self.ready()
        if self._scheduler is None:
            plan = self.plan
            self._scheduler = Scheduler(
                summarizer, self.settings.max_queue, self.settings.request_timeout_s, self._worker(),
                max_batch=plan.max_batch, gather_s=plan.batch_wait_s, parallel=plan.threads,
            )
        return self._scheduler

    def close(self) -> None:
        if self._model_thread is not None:
            self._model_thread.shutdown(wait=False, cancel_futures=True)
        self._model_thread = None
        self._scheduler = None

    def _worker(self) -> ThreadPoolExecutor:
        if self._model_thread is None:
            self._model_thread = model_thread(self.plan.threads)
        return self._model_thread

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
