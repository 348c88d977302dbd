"""The walk through one article: the model reads it once, then scores every typed candidate.

Each candidate is scored as the value of its field in a JSON answer that starts with that field
(``{"who": ["Choe Son Hui"``): the mean log-probability of its tokens, and its first token's. All
candidates of all fields are scored in one forward pass (``Score``); the ranker combines these
scores with the candidates' own features and chooses. The model never writes free text, so every
answer is article text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from service.article import Span
from service.backends.local.steps import Feed, Score, Step
from service.candidates import FIELDS, Candidate, Candidates
from service.ranking import Ranker, ValueScore

Encode = Callable[[str], list[int]]  # text to token ids, without special tokens
LIST_FIELDS = ("who", "where")
# Longer candidates are not offered: no answer is that long (a first sentence of ~35 words fits),
# and the packed scoring pass grows with the square of its length (a 1000-character headline of
# digits would make each of its endings hundreds of tokens).
MAX_VALUE_TOKENS = 48


@dataclass(frozen=True)
class Openings:
    """Token ids that put the model where a field's value starts, and that end a value."""

    opening: dict[str, list[int]]
    closing: list[int]

    @classmethod
    def build(cls, encode: Encode) -> Openings:
        return cls(
            opening={field: encode("{" + json.dumps(field) + (': ["' if field in LIST_FIELDS else ': "')) for field in FIELDS},
            closing=encode('"'),
        )


@dataclass
class Decisions:
    """One request's answers, each a span of the source with the ranker's probability."""

    who: list[Span]
    what: Span | None
    when: Span | None
    where: list[Span]
    scored_tokens: int  # candidate tokens the model scored
    offered: Candidates  # what the ranker chose among, and the model's scores for them
    scores: dict[str, list[ValueScore]]


class Walker:
    """Walks articles with one tokenizer's openings and the fitted ranker."""

    def __init__(self, openings: Openings, encode: Encode, ranker: Ranker, max_candidates: int) -> None:
        self.openings = openings
        self.encode = encode
        self.ranker = ranker
        self.max_candidates = max_candidates

    def walk(self, prompt_ids: list[int], candidates: Candidates) -> Generator[Step, Any, Decisions]:
        """Read the article (``prompt_ids``: its prompt after the shared prefix), score its candidates
        (their positions in the source come with them), choose."""
        yield Feed(prompt_ids)
        offered: Candidates = {}
        pairs: list[tuple[list[int], list[int]]] = []
        for field in FIELDS:
            offered[field] = []
            for candidate in candidates[field]:
                value = self.encode(json.dumps(candidate.text)[1:-1]) + self.openings.closing
                if len(value) <= MAX_VALUE_TOKENS and len(offered[field]) < self.max_candidates:
                    offered[field].append(candidate)
                    pairs.append((self.openings.opening[field], value))
        scores: list[ValueScore] = (yield Score(pairs)) if pairs else []
        by_field: dict[str, list[ValueScore]] = {}
        start = 0
        for field in FIELDS:
            by_field[field] = scores[start : start + len(offered[field])]
            start += len(offered[field])
        chosen = {field: self._choose(field, offered[field], by_field[field]) for field in FIELDS}
        return Decisions(
            who=chosen["who"], what=next(iter(chosen["what"]), None), when=next(iter(chosen["when"]), None),
            where=chosen["where"], scored_tokens=sum(len(value) for _, value in pairs), offered=offered, scores=by_field,
        )

    def _choose(self, field: str, candidates: list[Candidate], scores: list[ValueScore]) -> list[Span]:
        return [
            Span(ranked.candidate.text, ranked.candidate.position, round(ranked.probability, 4), round(ranked.confidence, 3))
            for ranked in self.ranker.choose(field, candidates, scores)
        ]
