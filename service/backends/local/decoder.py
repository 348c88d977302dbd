"""The model's decisions for one request, as generators of model steps.

Each decision yields the model step it needs (``Feed`` or ``Score``) to whoever runs the model and
receives the result, so the steps of several requests can share one batched forward pass
(``service.backends.local.batching``) and the decisions can be tested with scripted scores.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import torch

from service.backends.local.constraint import SpanConstraint

ABANDONED = -1  # a span that could not be closed: nothing was written after it


@dataclass(frozen=True)
class Feed:
    """A model step: write ``ids`` after the request's cache; the next-token scores come back."""

    ids: list[int]


@dataclass(frozen=True)
class Score:
    """A model step: score whole ``sequences`` that could follow; their mean log-probabilities come back."""

    sequences: list[list[int]]


Step = Feed | Score


class Decoder:
    """One request's decisions, each written after the model's scores for what comes next.

    * ``branch``: which skeleton continuation follows (the first token the model scores highest);
    * ``best_of``: which whole sequence follows (the highest mean log-probability);
    * ``copy_span``: a value decoded token by token under a ``SpanConstraint``.
    """

    def __init__(self) -> None:
        self.logits = torch.empty(0)  # next-token scores after everything written so far
        self.generated = 0  # decisions made

    def feed(self, ids: list[int]) -> Generator[Step, torch.Tensor, None]:
        """Write ``ids``; no decision."""
        self.logits = yield Feed(ids)

    def branch(self, options: list[list[int]]) -> Generator[Step, torch.Tensor, int]:
        """Write the option whose first token the model scores highest; return its index."""
        index = int(torch.argmax(self.logits[[option[0] for option in options]]))
        self.generated += 1
        yield from self.feed(options[index])
        return index

    def best_of(self, sequences: list[list[int]]) -> Generator[Step, Any, int]:
        """Write whichever of ``sequences`` the model finds most probable; return its index."""
        self.generated += 1
        best = 0
        if len(sequences) > 1:
            scores: list[float] = yield Score(sequences)
            best = max(range(len(sequences)), key=scores.__getitem__)
        yield from self.feed(sequences[best])
        return best

    def copy_span(
        self, constraint: SpanConstraint, closers: list[list[int]], max_tokens: int
    ) -> Generator[Step, torch.Tensor, int]:
        """Decode one value under ``constraint`` until the model writes a closer; return its index.

        Past ``max_tokens`` the value is closed as soon as it ends on a word;
        a value that cannot be closed within a few more tokens is ``ABANDONED``, with nothing
        written after it: the caller drops it and writes what follows.
        """
        closer_by_token = {closer[0]: index for index, closer in enumerate(closers)}
        steps = 0
        while True:
            over_limit = steps >= max_tokens
            closable = constraint.can_close()
            if over_limit and not closable and steps >= max_tokens + 8:
                return ABANDONED
            allowed = {} if (over_limit and closable) else constraint.allowed()
            candidates = list(allowed) + (list(closer_by_token) if closable else [])
            if not candidates:
                return ABANDONED
            token = candidates[int(torch.argmax(self.logits[candidates]))]
            self.generated += 1
            steps += 1
            if token in allowed:
                constraint.advance(allowed[token])
                yield from self.feed([token])
            else:
                index = closer_by_token[token]
                yield from self.feed(closers[index])
                return index
