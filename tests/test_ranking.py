"""The ranker's choice, from features and model scores (no model, no spaCy)."""

from __future__ import annotations

from service.candidates import FIELDS, Candidate, find_candidates
from service.ranking import FieldModel, Ranker, ValueScore, with_model_scores


def candidate(text: str, signal: float) -> Candidate:
    return Candidate(text, 0, {"signal": signal})


LIST_MODEL = FieldModel(features=("signal", "model"), weights=(4.0, 1.0), intercept=0.0, max_items=2, threshold=0.5)


def test_a_list_starts_with_its_most_probable_candidate() -> None:
    chosen = Ranker({"who": LIST_MODEL}).choose("who", [candidate("a", -1), candidate("b", 1)], ValueScore.unscored(2))
    assert chosen[0].candidate.text == "b"


def test_further_items_need_the_threshold() -> None:
    chosen = Ranker({"who": LIST_MODEL}).choose("who", [candidate("a", 1), candidate("b", -1)], ValueScore.unscored(2))
    assert [item.candidate.text for item in chosen] == ["a"]


def test_a_list_stops_at_its_item_limit() -> None:
    chosen = Ranker({"who": LIST_MODEL}).choose("who", [candidate(text, 2) for text in "abc"], ValueScore.unscored(3))
    assert len(chosen) == 2


def test_the_most_probable_candidate_is_taken_even_below_the_threshold() -> None:
    chosen = Ranker({"who": LIST_MODEL}).choose("who", [candidate("a", -3)], ValueScore.unscored(1))
    assert [item.candidate.text for item in chosen] == ["a"]


def test_no_candidates_give_no_answer() -> None:
    assert Ranker({"who": LIST_MODEL}).choose("who", [], []) == []


def test_the_model_score_counts_relative_to_the_fields_best() -> None:
    model = FieldModel(features=("model",), weights=(1.0,), intercept=0.0, max_items=1, threshold=1.0)
    ranked = Ranker({"when": model}).rank("when", [candidate("a", 0), candidate("b", 0)], [ValueScore(-12.0, 0.0), ValueScore(-10.0, 0.0)])
    assert ranked[0].candidate.text == "b"
    assert ranked[0].probability == 0.5


def test_the_shipped_ranker_covers_every_field_with_features_the_finder_makes() -> None:
    ranker = Ranker.load()
    text = "Heavy rain flooded homes in Braga on Monday, Portugal's civil protection agency said."
    found = find_candidates("Storm floods homes in Portugal\n\n" + text, len("Storm floods homes in Portugal") + 2, text)
    for field in FIELDS:
        made = set().union(*with_model_scores(found[field], ValueScore.unscored(len(found[field]))))
        assert set(ranker.models[field].features) <= made, field


def test_the_first_tokens_score_counts_relative_to_the_fields_best() -> None:
    model = FieldModel(features=("model_first",), weights=(1.0,), intercept=0.0, max_items=1, threshold=1.0)
    ranked = Ranker({"who": model}).rank("who", [candidate("a", 0), candidate("b", 0)], [ValueScore(-1.0, -9.0), ValueScore(-2.0, -3.0)])
    assert ranked[0].candidate.text == "b"  # the better first token, though the worse mean
    assert ranked[0].probability == 0.5
