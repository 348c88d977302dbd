"""Several requests read together: each round of their model steps is one batched forward pass.

``run_rows`` drives the requests' walks (generators of ``Feed`` and ``Score`` steps) against a
``BatchModel``; it knows nothing of caches. The real one is ``kv_cache.KVCacheBatch``; tests
drive ``run_rows`` with a scripted one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from service.backends.local.steps import Feed, Score, Step
from service.errors import Cancelled

if TYPE_CHECKING:
    import torch

    from service.ranking import ValueScore

Result = TypeVar("Result")


class BatchModel(Protocol):
    """The model side of a running batch; rows are addressed by their index among the active ones."""

    def feed(self, feeds: list[list[int]]) -> list[torch.Tensor]:
        """Write each active row's ``feeds`` in one forward pass; next-token scores per row."""
        ...

    def score(self, index: int, pairs: list[tuple[list[int], list[int]]]) -> list[ValueScore]:
        """Each value's scores after its context, after row ``index``'s last feed."""
        ...

    def keep(self, indexes: list[int]) -> None:
        """Only these active rows go on."""
        ...


@dataclass
class Row(Generic[Result]):
    """A request in a running batch: its walk, the step it waits on, and its result once done."""

    walk: Generator[Step, Any, Result]
    cancel: threading.Event | None
    step: Step | None = None
    result: Result | BaseException | None = None
    prefill_ms: float = 0.0
    finished_at: float = 0.0

    def advance(self, value: Any) -> None:
        """Send the last step's result; keep the next step, or the result once the walk ends."""
        try:
            self.step = self.walk.send(value)
        except StopIteration as stop:
            self.step, self.result = None, stop.value
        except Exception as error:  # a bug in one request must not take the batch down
            self.step, self.result = None, error


def run_rows(rows: list[Row[Result]], batch: BatchModel) -> None:
    """Drive every row's walk to its end, one batched forward pass per round.

    Scoring steps (``Score``) are answered row by row before the round's pass. A row whose
    ``cancel`` is set ends with ``Cancelled`` at its next step; finished rows leave the batch.
    """
    for row in rows:
        row.advance(None)
    active = list(rows)
    first_round = True
    while True:
        for index, row in enumerate(active):
            if row.cancel is not None and row.cancel.is_set() and row.result is None:
                row.step, row.result = None, Cancelled()
            while isinstance(row.step, Score):
                row.advance(batch.score(index, row.step.pairs))
        keep = [index for index, row in enumerate(active) if row.step is not None]
        now = time.perf_counter()
        for row in active:
            if row.step is None:
                row.finished_at = now
        if not keep:
            return
        if len(keep) < len(active):
            batch.keep(keep)
            active = [active[index] for index in keep]
        tick = time.perf_counter()
        feeds = [row.step.ids for row in active if isinstance(row.step, Feed)]
        logits = batch.feed(feeds)
        elapsed_ms = (time.perf_counter() - tick) * 1000
        for row, row_logits in zip(active, logits):
            if first_round:
                row.prefill_ms = elapsed_ms
            row.advance(row_logits)
        first_round = False
