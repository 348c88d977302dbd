"""Backends read articles into ``Draft``s; ``backend_plan`` is the one place that picks which.

* ``local``: the model runs in this process (torch, transformers), see ``service.backends.local``;
* ``openai``: an OpenAI-compatible inference server answers, see ``service.backends.openai``.

Nothing here imports a backend's dependencies: a plan starts its backend only when asked, so the
'openai' replica and ``summarizer --help`` never load torch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from service.article import Article, Draft
from service.settings import Settings

if TYPE_CHECKING:
    from service.prompts import Prompts

T = TypeVar("T")


class Backend(Protocol):
    """What the Summarizer needs from a backend."""

    prompts: Prompts

    @property
    def model_name(self) -> str: ...

    @property
    def load_seconds(self) -> float: ...

    def read(self, article: Article, cancel: threading.Event | None = None) -> Draft: ...

    def read_batch(self, articles: list[Article], cancels: list[threading.Event | None]) -> list[Draft | BaseException]:
        """A Draft per article, or the exception that ended that article alone."""
        ...


@dataclass(frozen=True)
class BackendPlan:
    """The configured backend before it starts: how requests are fed to it, and how to start it.

    Known before anything loads, because the model thread is made first and the model is then
    loaded on it (torch's thread pool belongs to the thread that uses it).
    """

    threads: int  # requests served at once: the one model thread, or calls in flight to a server
    max_batch: int  # requests read together
    batch_wait_s: float  # how long a batch waits for requests arriving together
    check: Callable[[], None]  # raises ModelNotFoundError before anything loads
    start: Callable[[], Backend]  # loads the model, or makes the server's client


def backend_plan(settings: Settings) -> BackendPlan:
    """The backend ``settings`` ask for. The only reader of ``settings.backend``.

    Raises ValueError when the settings lack what that backend needs.
    """
    if settings.backend == "openai":
        if not (settings.openai_base_url and settings.openai_model):
            raise ValueError("backend 'openai' needs SUMMARIZER_OPENAI_BASE_URL and SUMMARIZER_OPENAI_MODEL")
        return BackendPlan(
            threads=settings.openai_concurrency,
            max_batch=1,  # the inference server does the batching
            batch_wait_s=0.0,
            check=lambda: None,  # nothing to find on this machine
            start=lambda: _start_openai(settings),
        )
    return BackendPlan(
        threads=1,
        max_batch=settings.max_batch,
        batch_wait_s=settings.batch_wait_ms / 1000,
        check=lambda: _check_local(settings),
        start=lambda: _start_local(settings),
    )


def _start_openai(settings: Settings) -> Backend:
    from service.backends.openai import OpenAIBackend
    from service.prompts import load_prompts

    return OpenAIBackend(load_prompts(), settings)


def _check_local(settings: Settings) -> None:
    from service.backends.local.loader import resolve_source

    resolve_source(settings.model, settings.cache_dir)


def _start_local(settings: Settings) -> Backend:
    from service.backends.local.backend import LocalBackend
    from service.backends.local.loader import load_model
    from service.prompts import load_prompts

    return LocalBackend(load_model(settings), load_prompts(), settings)


def only(results: list[T | BaseException]) -> T:
    """The one result of a batch of one, raising the exception that ended it, if any."""
    (result,) = results
    if isinstance(result, BaseException):
        raise result
    return result
