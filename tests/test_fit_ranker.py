"""Fitting the ranker on labelled examples (no model: candidates and scores are made up here)."""

from __future__ import annotations

import random

from service.candidates import FIELDS, Candidate
from service.ranking import Ranker, ValueScore
from service.tools.fit_ranker import Example, fit, fit_field, folds_of


def synthetic_examples(count: int, seed: int = 1) -> list[Example]:
    """Articles whose right candidate in every field is the one with ``signal`` 1 (at a random place)."""
    generator = random.Random(seed)
    examples = []
    for number in range(count):
        candidates, gold = {}, {}
        for field in FIELDS:
            right = generator.randrange(4)
            candidates[field] = [
                Candidate(f"{field} answer {number}" if index == right else f"{field} noise {number} {index}", index,
                          {"signal": float(index == right), "position": float(index)})
                for index in range(4)
            ]
            gold[field] = [f"{field} answer {number}"]
        examples.append(Example("a" if number % 2 else "b", gold, candidates, {field: ValueScore.unscored(4) for field in FIELDS}))
    return examples


def test_a_signal_that_marks_the_answer_is_learned_and_cross_validated():
    fitted = fit(synthetic_examples(40), folds=4)
    assert fitted["cross_validation"]["f1"]["mean"] == {"a": 1.0, "b": 1.0}
    ranker = Ranker.load_fitted(fitted)
    example = synthetic_examples(1, seed=7)[0]
    for field in FIELDS:
        chosen = ranker.choose(field, example.candidates[field], example.scores[field])
        assert [item.candidate.text for item in chosen] == example.gold[field]


def test_the_cross_validated_f1_is_the_mean_over_the_repeated_splits():
    examples = synthetic_examples(40)
    for example in examples[::3]:  # some articles whose right candidate carries no signal
        for field in FIELDS:
            for candidate in example.candidates[field]:
                candidate.features["signal"] = 0.0
    fitted = fit(examples, folds=4, repeats=3)
    report = fitted["cross_validation"]
    assert report["repeats"] == 3
    for field in FIELDS:
        for source in ("a", "b"):
            splits = report["f1_by_split"][field][source]
            assert len(splits) == 3
            assert abs(report["f1"][field][source] - sum(splits) / 3) <= 0.001


def test_folds_deal_each_file_out_evenly():
    examples = synthetic_examples(20)
    folds = folds_of(examples, 5)
    assert sorted(index for fold in folds for index in fold) == list(range(20))
    assert all(sum(examples[index].source == "a" for index in fold) == 2 for fold in folds)


def test_soft_labels_rank_the_fuller_of_two_matching_candidates_first():
    """Both a whole headline and its predicate 'match' the gold (F1 >= 0.5); fitted on the
    candidates' F1 itself, the ranker prefers the one that scores higher."""
    examples = []
    for number in range(12):
        gold = f"Ad sales boost profit {number}"
        candidates = [
            Candidate(gold, 0, {"whole": 1.0}),
            Candidate(f"boost profit {number}", 1, {"predicate": 1.0}),
            Candidate(f"noise {number}", 2, {}),
        ]
        examples.append(Example("a", {"what": [gold]}, {"what": candidates}, {"what": ValueScore.unscored(3)}))
    names = ["predicate", "whole"]
    matched, _ = fit_field(examples, "what", names, 1.0, "match")
    soft, _ = fit_field(examples, "what", names, 1.0, "f1")
    assert abs(matched[0] - matched[1]) < 1e-6
    assert soft[1] > soft[0]


def test_the_features_only_ranker_is_fitted_without_the_model_scores():
    """Only the model's score marks the answer: the full ranker learns it, the features-only one
    (the openai backend's) cannot, and gives the score no weight."""
    examples = []
    for number in range(20):
        candidates = [Candidate(f"answer {number}", 0, {"noise": float(number % 3)}), Candidate(f"other {number}", 1, {"noise": float(number % 2)})]
        scores = [ValueScore(mean=-1.0, first=-1.0), ValueScore(mean=-4.0, first=-4.0)]
        examples.append(Example("a" if number % 2 else "b", {field: [f"answer {number}"] for field in FIELDS},
                                {field: candidates for field in FIELDS}, {field: scores for field in FIELDS}))
    fitted = fit(examples, folds=4, repeats=1)
    for field in FIELDS:
        full = dict(zip(fitted["fields"][field]["features"], fitted["fields"][field]["weights"]))
        without = dict(zip(fitted["features_only"]["fields"][field]["features"], fitted["features_only"]["fields"][field]["weights"]))
        assert full["model"] > 0
        assert without["model"] == without["model_first"] == 0
    assert fitted["cross_validation"]["f1"]["mean"] == {"a": 1.0, "b": 1.0}
    assert fitted["features_only"]["cross_validation"]["f1"]["mean"]["a"] < 1.0
