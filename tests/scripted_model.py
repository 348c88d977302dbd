"""A toy tokenizer and a scripted model, for tests of the local engine's walk without a model.

The toy vocabulary has a token for each word of the test articles (with and without its leading
space) and each printable character; text is encoded greedily, longest token first. The scripted
model wants a given answer: a value it wants scores 0 (mean log-probability), any other -5, and
next-token scores are a constant (the walk reads none).
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Generator
from typing import Any

import torch

from service.backends.local.steps import Feed, Step
from service.backends.local.walk import Openings, Walker
from service.ranking import FieldModel, Ranker, ValueScore


class ToyTokenizer:
    def __init__(self, *texts: str) -> None:
        words = [word for text in texts for match in re.findall(r" ?\w+", text) for word in (match, match.strip())]
        self.vocab = list(dict.fromkeys([*string.printable, *words]))
        self.ids = {text: token for token, text in enumerate(self.vocab)}

    def encode(self, text: str) -> list[int]:
        ids, at = [], 0
        while at < len(text):
            token = next(text[at:end] for end in range(len(text), at, -1) if text[at:end] in self.ids)
            ids.append(self.ids[token])
            at += len(token)
        return ids

    def decode(self, ids: list[int]) -> str:
        return "".join(self.vocab[token] for token in ids)


class ScriptedModel:
    """A model that wants to answer ``wanted`` ({field: value or list of values})."""

    def __init__(self, tokenizer: ToyTokenizer, wanted: dict[str, Any]) -> None:
        self.tokenizer = tokenizer
        self.wanted = wanted

    def logits(self, written: list[int]) -> torch.Tensor:
        return torch.zeros(len(self.tokenizer.vocab))

    def scores(self, pairs: list[tuple[list[int], list[int]]]) -> list[ValueScore]:
        scores = []
        for context, value in pairs:
            field = json.loads(self.tokenizer.decode(context).split(":")[0].lstrip("{"))
            text = json.loads('"' + self.tokenizer.decode(value).removesuffix('"') + '"')
            wanted = self.wanted.get(field)
            wanted = wanted if isinstance(wanted, list) else [wanted]
            score = 0.0 if text in wanted else -5.0
            scores.append(ValueScore(mean=score, first=score))
        return scores


# The model's score alone decides: the wanted values (score 0) are at probability 0.5, the others ~0.007.
MODEL_SCORE_ONLY = {
    field: FieldModel(features=("model",), weights=(1.0,), intercept=0.0, max_items=3 if field in ("who", "where") else 1, threshold=0.4)
    for field in ("who", "what", "when", "where")
}


def toy_walker(tokenizer: ToyTokenizer, max_candidates: int = 32, ranker: Ranker | None = None) -> Walker:
    return Walker(Openings.build(tokenizer.encode), tokenizer.encode, ranker or Ranker(MODEL_SCORE_ONLY), max_candidates)


def drive(walk: Generator[Step, Any, Any], model: ScriptedModel) -> tuple[Any, list[int], list[Step]]:
    """Run ``walk`` against ``model`` alone: its result, every token fed, every step asked for."""
    written: list[int] = []
    steps: list[Step] = []
    value: Any = None
    while True:
        try:
            step = walk.send(value)
        except StopIteration as stop:
            return stop.value, written, steps
        steps.append(step)
        if isinstance(step, Feed):
            written += step.ids
            value = model.logits(written)
        else:
            value = model.scores(step.pairs)
