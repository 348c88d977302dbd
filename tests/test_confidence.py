"""Calibrated confidence, the minimum confidence and the warnings of abstention (no model)."""

from __future__ import annotations

import random
import threading

import pytest

from service.article import Article, Draft, Span
from service.candidates import Candidate
from service.grounding import confident
from service.ranking import Calibration, FieldModel, Ranker, ValueScore
from service.schemas import Item, SummaryRequest, When
from service.summarizer import Summarizer
from service.tools.evaluation import answering, expected_calibration_error
from service.tools.fit_ranker import (
    Choice,
    Example,
    calibration_map,
    choose_min_confidence,
    held_out_confidences,
)


def test_isotonic_map_interpolates_between_its_points_and_is_flat_beyond_them():
    calibration = Calibration("isotonic", x=(0.2, 0.6), y=(0.1, 0.5))
    assert calibration(0.0) == 0.1 and calibration(0.9) == 0.5
    assert calibration(0.4) == pytest.approx(0.3)


def test_platt_map_and_identity():
    assert Calibration("platt", a=1.0, b=0.0)(0.7) == pytest.approx(0.7)
    assert Calibration("platt", a=2.0, b=0.0)(0.5) == pytest.approx(0.5)
    assert Calibration()(0.42) == 0.42
    assert Calibration.of(None)(0.42) == 0.42


def test_chosen_items_carry_the_calibrated_confidence():
    model = FieldModel(("signal",), (4.0,), 0.0, 1, 1.0, Calibration("isotonic", x=(0.0, 1.0), y=(0.0, 0.5)))
    chosen = Ranker({"when": model}).choose("when", [Candidate("Monday", 0, {"signal": 0.0})], ValueScore.unscored(1))
    assert chosen[0].probability == 0.5
    assert chosen[0].confidence == pytest.approx(0.25)


def test_a_calibration_fitted_on_held_out_choices_matches_the_rate_of_being_right():
    generator = random.Random(3)
    choices = []
    for index in range(2000):
        probability = generator.random()
        right = generator.random() < probability**2  # the ranker is overconfident
        choices.append(Choice(index, index % 5, "x", probability, right))
    for method in ("isotonic", "platt"):
        confidences = held_out_confidences(choices, method, 5)
        raw = expected_calibration_error([(choice.probability, choice.right) for choice in choices])
        calibrated = expected_calibration_error(list(zip(confidences, [choice.right for choice in choices])))
        assert calibrated < 0.05 < raw, method


def test_a_field_never_right_calibrates_to_zero():
    fitted = Calibration.of(calibration_map([Choice(0, 0, "x", 0.9, False), Choice(1, 1, "y", 0.2, False)], "isotonic"))
    assert fitted(0.5) == 0.0


def test_expected_calibration_error_of_known_bins():
    assert expected_calibration_error([(0.95, True), (0.95, False)]) == pytest.approx(0.45)
    assert expected_calibration_error([(0.25, False), (0.25, False), (0.25, True), (0.25, False)]) == 0.0
    assert expected_calibration_error([]) is None


def test_items_below_the_minimum_are_left_out_and_an_emptied_field_says_so():
    who = [Item(text="Shell", confidence=0.9), Item(text="Alwin", confidence=0.2)]
    when = When(text="on Wednesday", confidence=0.1)
    where = [Item(text="The Hague", confidence=0.3)]
    kept_who, what, kept_when, kept_where, warnings = confident(who, Item(text="Shell cut", confidence=0.6), when, where, 0.35)
    assert [item.text for item in kept_who] == ["Shell"]
    assert what.text == "Shell cut" and kept_when is None and kept_where == []
    assert len(warnings) == 2
    assert warnings[0].startswith("when: no answer")
    assert warnings[1].startswith("where: no answer") and "0.35" in warnings[1] and "'The Hague'" in warnings[1]


def test_items_without_a_confidence_are_kept_and_zero_keeps_everything():
    items = [Item(text="a"), Item(text="b", confidence=0.0)]
    assert confident(items, Item(text=""), None, [], 0.5)[0] == [Item(text="a")]
    assert confident(items, Item(text=""), None, [], 0.0)[0] == items
    assert confident([], Item(text=""), None, [], 0.9)[4] == []  # nothing answered: nothing abstained


class OneDraft:
    """A backend that answers every article with the same draft."""

    model_name = "fixed"
    load_seconds = 0.0

    class prompts:  # noqa: N801 - what Summarizer reads of the prompts
        version = "test"

    def __init__(self, draft: Draft) -> None:
        self.draft = draft

    def read(self, article: Article, cancel: threading.Event | None = None) -> Draft:
        return self.draft

    def read_batch(self, articles: list[Article], cancels: list) -> list[Draft]:
        return [self.draft for _ in articles]


TEXT = "Rain fell on Paris on Monday, Meteo France said."
DRAFT = Draft(
    who=[Span("Meteo France", TEXT.index("Meteo"), 0.8, 0.7)], what=Span("Rain fell on Paris", 0, 0.6, 0.55),
    when=Span("on Monday", TEXT.index("on Monday"), 0.4, 0.2), where=[Span("Paris", TEXT.index("Paris"), 0.5, 0.4)],
    source=TEXT, text_offset=0, window_chars=len(TEXT), truncated=False, prompt_tokens=10,
)


def test_the_summary_carries_confidence_and_the_default_minimum_applies():
    summary = Summarizer(OneDraft(DRAFT), min_confidence=0.3).summarize(SummaryRequest(text=TEXT))
    assert summary.who[0].confidence == 0.7 and summary.what.confidence == 0.55 and summary.where[0].confidence == 0.4
    assert summary.when is None
    assert [line.split(":")[0] for line in summary.warnings] == ["when"]


def test_a_request_minimum_overrides_the_services():
    summarizer = Summarizer(OneDraft(DRAFT), min_confidence=0.3)
    everything = summarizer.summarize(SummaryRequest(text=TEXT, min_confidence=0))
    assert everything.when is not None and everything.when.confidence == 0.2 and everything.warnings == []
    strict = summarizer.summarize(SummaryRequest(text=TEXT, min_confidence=0.6))
    assert [item.text for item in strict.who] == ["Meteo France"]
    assert strict.when is None and strict.where == []
    assert [line.split(":")[0] for line in strict.warnings] == ["when", "where"]


def test_what_is_kept_whatever_its_confidence():
    strict = Summarizer(OneDraft(DRAFT), min_confidence=0.9).summarize(SummaryRequest(text=TEXT))
    assert strict.what.text == "Rain fell on Paris" and strict.what.confidence == 0.55


def test_the_minimum_must_be_a_probability():
    with pytest.raises(ValueError):
        SummaryRequest(text=TEXT, min_confidence=1.5)


def test_answering_precision_and_recall_count_answers_where_gold_is_empty():
    def row(identifier: str, when: list[str]) -> dict:
        return {"id": identifier, "gold": {"who": [], "what": [], "where": [], "when": [{"text": text} for text in when]}}

    rows = [row("said", ["Monday"]), row("silent", []), row("silent too", []), row("missed", ["May"])]
    predictions = {"said": {"when": "on Monday"}, "silent": {"when": "2019"}, "silent too": {"when": None}, "missed": {"when": None}}
    result = answering(rows, predictions)["when"]
    assert result == {"precision": 0.5, "recall": 0.5, "abstained_where_gold_empty": 0.5}


def test_the_default_minimum_is_the_highest_that_costs_little_f1():
    # 'when' on four articles: two say a time (answered right with confidence 0.8 and 0.3), two say none.
    examples = [
        Example("a", {"when": ["Monday"]}, {}, {}), Example("a", {"when": ["May"]}, {}, {}),
        Example("a", {"when": []}, {}, {}), Example("a", {"when": []}, {}, {}),
    ]
    choices = [Choice(0, 0, "Monday", 0.8, True), Choice(1, 0, "May", 0.3, True), Choice(2, 0, "2019", 0.2, False), Choice(3, 0, "today", 0.1, False)]
    minimum, report = choose_min_confidence(examples, {"when": (choices, [0.8, 0.3, 0.2, 0.1])})
    assert minimum == 0.3  # above it, 'May' would be lost
    assert report["when"]["a"] == {
        "f1_no_threshold": 1.0, "f1": 1.0, "abstained_where_gold_empty": 1.0, "abstained_where_gold_empty_no_threshold": 0.0,
    }


def test_the_reliability_diagram_is_a_png(tmp_path):
    from service.tools.evaluation import reliability_diagram

    points = {"who": [(0.9, True), (0.2, False)], "what": [(0.5, True)], "when": [], "where": [(0.7, False)]}
    reliability_diagram(points, tmp_path / "plot.png", "test")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
