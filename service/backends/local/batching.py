"""Several requests read together: each round of their model steps is one batched forward pass.

``run_rows`` drives the requests' walks (generators of ``Feed`` and ``Score`` steps) and knows
nothing of torch's caches; ``KVCacheBatch`` is the model side: the batch's KV cache, its padding
mask and positions. Tests drive ``run_rows`` with a scripted batch instead.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import torch
from transformers import DynamicCache, PreTrainedModel

from service.backends.local.decoder import Feed, Score, Step
from service.errors import Cancelled

SCORE_BATCH = 8  # candidates scored per batched pass (each row copies the KV cache)
Result = TypeVar("Result")


class BatchModel(Protocol):
    """The model side of a running batch; rows are addressed by their index among the active ones."""

    def feed(self, feeds: list[list[int]]) -> list[torch.Tensor]:
        """Write each active row's ``feeds`` in one forward pass; next-token scores per row."""
        ...

    def score(self, index: int, sequences: list[list[int]]) -> list[float]:
        """Mean log-probability of each of ``sequences`` after row ``index``'s last feed."""
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
                row.advance(batch.score(index, row.step.sequences))
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


class KVCacheBatch:
    """A batch's KV cache on the real model, starting as copies of the prompt prefix's.

    Rows feed different numbers of tokens per round, so shorter feeds are padded, and an
    attention mask hides the pads from every later step; position ids count only real tokens,
    so a row's scores are those it would get alone. Scoring runs on a copy of one row's cache.
    """

    def __init__(self, model: PreTrainedModel, device: torch.device, prefix: DynamicCache, prefix_length: int, rows: int) -> None:
        self.model = model
        self.device = device
        self.cache = copy.deepcopy(prefix)
        if rows > 1:
            self.cache.batch_repeat_interleave(rows)
        self.mask = torch.ones(rows, prefix_length, dtype=torch.long)
        self.lengths = [prefix_length] * rows  # real tokens in each row's cache (positions), pads excluded
        self.logits: list[torch.Tensor] = [torch.empty(0)] * rows  # next-token scores after each row's last feed

    def keep(self, indexes: list[int]) -> None:
        self.cache.batch_select_indices(torch.tensor(indexes))
        self.mask = self.mask[indexes]
        self.lengths = [self.lengths[index] for index in indexes]
        self.logits = [self.logits[index] for index in indexes]

    def feed(self, feeds: list[list[int]]) -> list[torch.Tensor]:
        width = max(map(len, feeds))
        pad = feeds[0][-1]  # any token: the mask hides it
        input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids in feeds])
        new_mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in feeds])
        positions = torch.tensor(self.lengths).unsqueeze(1) + torch.arange(width)
        self.mask = torch.cat([self.mask, new_mask], dim=1)
        ends = [len(ids) - 1 for ids in feeds]
        kept = sorted(set(ends))  # only the positions whose scores are read go through the LM head
        output = self.model(
            input_ids=input_ids.to(self.device), attention_mask=self.mask.to(self.device),
            position_ids=positions.to(self.device), cache=self.cache, use_cache=True,
            logits_to_keep=torch.tensor(kept, device=self.device),
        )
        rows = torch.arange(len(feeds))
        columns = torch.tensor([kept.index(end) for end in ends])
        self.logits = list(output.logits[rows, columns].float().cpu())
        self.lengths = [length + len(ids) for length, ids in zip(self.lengths, feeds)]
        return self.logits

    def score(self, index: int, sequences: list[list[int]]) -> list[float]:
        """Candidates are scored in batches over copies of the row's cache (right-padded: with
        causal attention, padding after a sequence cannot change the scores of its own tokens).
        Batches are small because each row copies the whole KV cache."""
        cache = self._row_cache(index)
        first = torch.log_softmax(self.logits[index], -1)
        scores: list[float] = []
        for begin in range(0, len(sequences), SCORE_BATCH):
            batch = sequences[begin : begin + SCORE_BATCH]
            width = max(map(len, batch))
            scratch = copy.deepcopy(cache)
            scratch.batch_repeat_interleave(len(batch))
            padded = torch.tensor([sequence + [sequence[-1]] * (width - len(sequence)) for sequence in batch])
            output = self.model(input_ids=padded.to(self.device), cache=scratch, use_cache=True)
            rest = torch.log_softmax(output.logits.float(), -1)
            # Mean log-probability per token: a plain sum would always favour the shortest
            # candidate (measured on the dev set: what F1 0.28 with sums, 0.51 with means).
            scores += [
                (float(first[sequence[0]]) + sum(float(rest[row, step - 1, sequence[step]]) for step in range(1, len(sequence))))
                / len(sequence)
                for row, sequence in enumerate(batch)
            ]
            del scratch, rest
        return scores

    def _row_cache(self, index: int) -> DynamicCache:
        """Row ``index`` of the batch cache on its own, pads removed."""
        if self.mask.shape[0] == 1 and bool(self.mask.all()):
            return self.cache
        real = self.mask[index].nonzero().squeeze(1).to(self.cache.layers[0].keys.device)
        row = DynamicCache()
        for layer_index, layer in enumerate(self.cache.layers):
            row.update(layer.keys[index : index + 1, :, real], layer.values[index : index + 1, :, real], layer_index)
        return row
