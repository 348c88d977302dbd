"""A toy tokenizer and a scripted model, for tests of the local engine's decisions without a model.

The toy vocabulary has a token for each piece of the JSON skeleton, each word of the test
articles (with and without its leading space) and each printable character; text is encoded
greedily, longest token first. The scripted model wants to write one given text: each token
scores by how many of its characters continue that text after what is written so far.
"""

from __future__ import annotations

import re
import string
from collections.abc import Generator
from typing import Any

import torch

from service.backends.local.constraint import TokenTable
from service.backends.local.decoder import Feed, Step
from service.backends.local.walk import Skeleton, Walker
from service.settings import Settings


class ToyTokenizer:
    def __init__(self, *texts: str) -> None:
        words = [word for text in texts for match in re.findall(r" ?\w+", text) for word in (match, match.strip())]
        self.vocab = list(dict.fromkeys([*string.printable, *words]))
        self.ids = {text: token for token, text in enumerate(self.vocab)}

    def piece(self, text: str) -> list[int]:
        """``text`` as one token of its own (added to the vocabulary if new): how skeleton pieces are encoded."""
        if text not in self.ids:
            self.ids[text] = len(self.vocab)
            self.vocab.append(text)
        return [self.ids[text]]

    def encode(self, text: str) -> list[int]:
        ids, at = [], 0
        while at < len(text):
            token = next(text[at:end] for end in range(len(text), at, -1) if text[at:end] in self.ids)
            ids.append(self.ids[token])
            at += len(token)
        return ids

    def decode(self, ids: list[int]) -> str:
        return "".join(self.vocab[token] for token in ids)

    def table(self) -> TokenTable:
        return TokenTable.from_texts(enumerate(self.vocab))


def common_prefix(a: str, b: str) -> int:
    length = 0
    while length < min(len(a), len(b)) and a[length] == b[length]:
        length += 1
    return length


class ScriptedModel:
    """Next-token scores of a model that wants to write ``target``."""

    def __init__(self, tokenizer: ToyTokenizer, target: str) -> None:
        self.tokenizer = tokenizer
        self.target = target

    def _rest(self, written: list[int]) -> str:
        text = self.tokenizer.decode(written)
        return self.target[len(text) :] if self.target.startswith(text) else ""

    def logits(self, written: list[int]) -> torch.Tensor:
        rest = self._rest(written)
        return torch.tensor([float(common_prefix(text, rest)) for text in self.tokenizer.vocab])

    def scores(self, written: list[int], sequences: list[list[int]]) -> list[float]:
        rest = self._rest(written)
        return [float(common_prefix(self.tokenizer.decode(sequence), rest)) for sequence in sequences]


def toy_walker(tokenizer: ToyTokenizer, settings: Settings | None = None) -> Walker:
    skeleton = Skeleton.build(tokenizer.piece)
    return Walker(skeleton, tokenizer.table(), tokenizer.encode, settings or Settings())


def drive(walk: Generator[Step, Any, Any], model: ScriptedModel) -> tuple[Any, list[int], list[Step]]:
    """Run ``walk`` against ``model`` alone: its result, every token written, every step asked for."""
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
            value = model.scores(written, step.sequences)
