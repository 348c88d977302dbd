"""The batch runner without a model: one pass per round over every unfinished request, each
request getting its own scores, and one request's end (done, cancelled, failed) not touching the rest."""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import Any

from service.article import Article, Layout
from service.backends.local.batching import Row, run_rows
from service.backends.local.steps import Feed, Score, Step
from service.candidates import Candidate
from service.errors import Cancelled
from service.prompts import load_prompts
from service.ranking import ValueScore
from service.schemas import EXAMPLE_TEXT, EXAMPLE_TITLE
from tests.scripted_model import ScriptedModel, ToyTokenizer, drive, toy_walker


class LabelBatch:
    """Stands in for the model's batch: each row's scores say whose they are and after what."""

    def __init__(self, names: list[str], on_pass: Any = None) -> None:
        self.names = names  # the active rows, in batch order
        self.passes: list[dict[str, list[int]]] = []
        self.scored: list[tuple[str, int]] = []  # (row, passes so far)
        self.on_pass = on_pass

    def feed(self, feeds: list[list[int]]) -> list[Any]:
        self.passes.append(dict(zip(self.names, feeds)))
        if self.on_pass:
            self.on_pass(len(self.passes))
        return [f"{name} after {ids}" for name, ids in zip(self.names, feeds)]

    def score(self, index: int, pairs: list[tuple[list[int], list[int]]]) -> list[ValueScore]:
        self.scored.append((self.names[index], len(self.passes)))
        return [ValueScore(mean=float(len(value)), first=0.0) for _, value in pairs]

    def keep(self, indexes: list[int]) -> None:
        self.names = [self.names[index] for index in indexes]


def walk(*steps: Step) -> Generator[Step, Any, list]:
    """A request that takes ``steps`` and returns what each of them got back."""
    received = []
    for step in steps:
        received.append((yield step))
    return received


def failing_walk() -> Generator[Step, Any, list]:
    yield Feed([1])
    raise ValueError("a bug in this request")


def test_each_round_is_one_pass_over_every_unfinished_request():
    rows = [Row(walk(Feed([1]), Feed([2, 3]), Feed([4])), None), Row(walk(Feed([5])), None)]
    batch = LabelBatch(["a", "b"])
    run_rows(rows, batch)
    assert batch.passes == [{"a": [1], "b": [5]}, {"a": [2, 3]}, {"a": [4]}]
    assert rows[0].result == ["a after [1]", "a after [2, 3]", "a after [4]"]
    assert rows[1].result == ["b after [5]"]


def test_a_scoring_step_is_answered_for_its_request_before_the_next_pass():
    pairs = [([6], [7]), ([6], [8, 9])]
    rows = [Row(walk(Feed([1]), Score(pairs), Feed([2])), None), Row(walk(Feed([3]), Feed([4])), None)]
    batch = LabelBatch(["a", "b"])
    run_rows(rows, batch)
    assert batch.scored == [("a", 1)]
    assert rows[0].result == ["a after [1]", [ValueScore(1.0, 0.0), ValueScore(2.0, 0.0)], "a after [2]"]
    assert batch.passes == [{"a": [1], "b": [3]}, {"a": [2], "b": [4]}]


def test_a_cancelled_request_ends_at_its_next_step_and_the_others_go_on():
    cancel = threading.Event()
    rows = [Row(walk(Feed([1]), Feed([2]), Feed([3])), cancel), Row(walk(Feed([4]), Feed([5]), Feed([6])), None)]
    batch = LabelBatch(["a", "b"], on_pass=lambda count: count == 1 and cancel.set())
    run_rows(rows, batch)
    assert isinstance(rows[0].result, Cancelled)
    assert batch.passes == [{"a": [1], "b": [4]}, {"b": [5]}, {"b": [6]}]
    assert rows[1].result == ["b after [4]", "b after [5]", "b after [6]"]


def test_a_request_cancelled_before_it_starts_never_reaches_the_model():
    cancel = threading.Event()
    cancel.set()
    rows = [Row(walk(Feed([1])), cancel), Row(walk(Feed([2])), None)]
    batch = LabelBatch(["a", "b"])
    run_rows(rows, batch)
    assert isinstance(rows[0].result, Cancelled) and batch.passes == [{"b": [2]}]


def test_an_error_in_one_request_ends_only_that_request():
    rows = [Row(failing_walk(), None), Row(walk(Feed([2]), Feed([3])), None)]
    run_rows(rows, LabelBatch(["a", "b"]))
    assert isinstance(rows[0].result, ValueError)
    assert rows[1].result == ["b after [2]", "b after [3]"]


def test_every_request_has_its_finish_time_and_the_first_pass_as_its_prefill():
    rows = [Row(walk(Feed([1])), None), Row(walk(Feed([2]), Feed([3])), None)]
    run_rows(rows, LabelBatch(["a", "b"]))
    assert rows[0].prefill_ms == rows[1].prefill_ms >= 0
    assert 0 < rows[0].finished_at <= rows[1].finished_at


class ScriptedBatch:
    """A batch of scripted models, one per request, each seeing only its own request's tokens."""

    def __init__(self, models: list[ScriptedModel]) -> None:
        self.models = models
        self.written: list[list[int]] = [[] for _ in models]

    def feed(self, feeds: list[list[int]]) -> list[Any]:
        for written, ids in zip(self.written, feeds):
            written += ids
        return [model.logits(written) for model, written in zip(self.models, self.written)]

    def score(self, index: int, pairs: list[tuple[list[int], list[int]]]) -> list[ValueScore]:
        return self.models[index].scores(pairs)

    def keep(self, indexes: list[int]) -> None:
        self.models = [self.models[index] for index in indexes]
        self.written = [self.written[index] for index in indexes]


def test_walks_read_together_decide_what_they_decide_alone():
    tokenizer = ToyTokenizer(EXAMPLE_TITLE, EXAMPLE_TEXT)
    walker = toy_walker(tokenizer)
    layout = Layout.of(Article(EXAMPLE_TEXT, EXAMPLE_TITLE), len(EXAMPLE_TEXT), load_prompts())
    texts = {"who": ["Royal Dutch Shell", "Larisa Alwin", "Shell"], "what": [EXAMPLE_TITLE, "cut emissions"],
             "when": ["Wednesday", "on Wednesday"], "where": ["The Hague", "in The Hague"]}
    candidates = {field: [Candidate(text, layout.source.index(text)) for text in items] for field, items in texts.items()}
    wanted = [
        {"who": ["Royal Dutch Shell"], "what": EXAMPLE_TITLE, "when": "Wednesday", "where": []},
        {"who": [], "what": "cut emissions", "when": "on Wednesday", "where": ["The Hague"]},
        {"who": ["Larisa Alwin", "Shell"], "what": "cut emissions", "when": "Wednesday", "where": ["in The Hague"]},
    ]
    models = [ScriptedModel(tokenizer, answer) for answer in wanted]
    alone = [drive(walker.walk([1], candidates), model)[0] for model in models]
    rows = [Row(walker.walk([1], candidates), None) for _ in models]
    run_rows(rows, ScriptedBatch(models))
    assert [row.result for row in rows] == alone
    assert [decisions.when.text for decisions in alone] == [answer["when"] for answer in wanted]
