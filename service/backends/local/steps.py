"""The model steps a request's walk asks for, so that several requests can share forward passes
(``service.backends.local.batching``) and walks can be tested with scripted scores."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Feed:
    """Write ``ids`` after the request's cache; the next-token scores come back."""

    ids: list[int]


@dataclass(frozen=True)
class Score:
    """Score each ``value`` written after its ``context`` (both after the request's cache, and
    neither kept in it); each value's ``ValueScore`` (its tokens' mean log-probability and its
    first token's) comes back."""

    pairs: list[tuple[list[int], list[int]]]  # (context, value)


Step = Feed | Score
