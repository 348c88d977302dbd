"""``summarizer fit-ranker``: fit the ranker's weights on labelled articles, choosing every
setting by k-fold cross-validation over all of them.

Each candidate is labelled by its token F1 against the gold phrases (the metric of ``eval``).
For each field a grid of settings (regularisation, label rule, whether articles whose gold is
empty are fitted on too, item limit, threshold) is scored by the held-out folds' F1 (each labelled
file weighs the same), the best is refitted on every article, and the weights, the chosen settings
and their cross-validated F1 per file are written to ``ranker.json``. scikit-learn's logistic
regression does the fitting.

The cross-validation is repeated over several shuffles of the folds (``REPEATS``) and a setting is
scored by its mean over all of them: on a few dozen articles one split alone swings a field's F1 by
up to 0.1 (measured on the dev sets, one setting over five splits: bbc-5w-dev where 0.434-0.526,
giveme5w1h-dev when 0.449-0.559), enough to pick a setting by the luck of the split. The report
gives the mean and each split's figure.

Confidence: the best setting's out-of-fold choices (on every article, those whose gold is empty
included: any answer there is wrong) are labelled right when their token F1 against a gold phrase
is at least 0.5, and a monotone map from the ranker's probability to that label is fitted on them
(isotonic regression or Platt scaling, whichever has the lower cross-validated Brier score). Its
expected calibration error is measured on confidences that are cross-validated twice over: each
fold's items get the map fitted on the other folds' items. The default ``min_confidence`` is chosen
on the same confidences (see ``choose_min_confidence``).
"""

from __future__ import annotations

import itertools
import json
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from service.article import Article
from service.candidates import FIELDS, Candidate
from service.ranking import Calibration, FieldModel, Ranker, ValueScore, with_model_scores
from service.tools.evaluation import (
    article_request,
    best_f1,
    expected_calibration_error,
    read_rows,
)

if TYPE_CHECKING:
    from service.backends.local.walk import Decisions

FOLDS = 5
REPEATS = 5  # shuffles of the folds; the first one's held-out choices also fit the confidence map
REGULARISATION = (0.1, 0.3, 1.0, 3.0)
# F1 >= 0.5 with a gold phrase; the article's best candidate; or soft: the candidate's F1 itself,
# so that the ranker's probability estimates a candidate's expected F1 and its first choice is the
# one the metric rewards most (a whole headline and its predicate both "match", but not equally).
# 'when' keeps hard labels: with soft ones its cross-validated F1 rose (0.541 -> 0.561 on bbc-5w-dev)
# but its confidences told answered articles from those without a time less well (at the default
# threshold 'when' was left empty on 42% of bbc-5w-dev's articles without one, against 62%).
LABEL_RULES = {"who": ("match", "best", "f1"), "what": ("match", "best", "f1"), "when": ("match", "best"), "where": ("match", "best", "f1")}
ITEM_LIMITS = {"who": (1, 2, 3), "where": (1, 2, 3), "what": (1,), "when": (1,)}
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
# Whether the ranker is also fitted on articles whose gold is empty (all their candidates wrong).
# Measured on the dev sets with both in the grid: only 'when' took it (cross-validated F1 0.531
# instead of 0.515 on giveme5w1h-dev, 0.541 both ways on bbc-5w-dev), but its confidences were
# then worse calibrated (ECE 0.186 and 0.205 against 0.102 and 0.135) and left 'when' empty on
# fewer articles without a time (12 of 24 on bbc-5w-dev at best, against 15). The calibration
# map sees those articles either way, so the ranker is fitted without them.
EMPTY_GOLD = (False,)
RIGHT = 0.5  # an answered item is right when its token F1 against a gold phrase is at least this
CALIBRATIONS = ("isotonic", "platt")
BINS = 10  # equal-width confidence bins of the expected calibration error
MIN_CONFIDENCES = tuple(round(0.01 * step, 2) for step in range(61))  # 0.0 .. 0.6
MAX_F1_LOSS = 0.02  # what a threshold may cost in F1 on the articles whose gold has an answer


@dataclass
class Example:
    """One labelled article: which file it is from, its gold phrases, its candidates and their model scores."""

    source: str
    gold: dict[str, list[str]]
    candidates: dict[str, list[Candidate]]
    scores: dict[str, list[ValueScore]]


def feature_names(examples: list[Example], field: str) -> list[str]:
    names: set[str] = set()
    for example in examples:
        for values in with_model_scores(example.candidates[field], example.scores[field]):
            names |= set(values)
    return sorted(names)


def labels(example: Example, field: str, rule: str) -> list[float]:
    golds = example.gold[field]
    f1s = [best_f1([candidate.text], golds) for candidate in example.candidates[field]]
    if rule == "f1":
        return f1s
    if rule == "match":
        return [int(value >= 0.5) for value in f1s]
    best = max(f1s, default=0.0)
    return [int(value > 0 and value == best) for value in f1s]


def fit_field(
    examples: list[Example], field: str, names: list[str], regularisation: float, rule: str, empty_gold: bool = False
) -> tuple[list[float], float] | None:
    from sklearn.linear_model import LogisticRegression

    rows: list[list[float]] = []
    targets: list[int] = []
    weights: list[float] = []
    for example in examples:
        if not example.gold[field] and not empty_gold:
            continue
        for values, label in zip(with_model_scores(example.candidates[field], example.scores[field]), labels(example, field, rule)):
            row = [values.get(name, 0.0) for name in names]
            # A soft label enters as a right row weighted by it and a wrong row weighted by the rest
            # (scikit-learn's logistic regression takes weights, not fractional targets).
            rows += [row, row]
            targets += [1, 0]
            weights += [label, 1.0 - label]
    if not (sum(weights[0::2]) and sum(weights[1::2])):  # no right or no wrong weight to fit on (rows alternate right, wrong)
        return None
    model = LogisticRegression(C=regularisation, max_iter=2000).fit(rows, targets, sample_weight=weights)
    return [float(weight) for weight in model.coef_[0]], float(model.intercept_[0])


def folds_of(examples: list[Example], count: int, seed: int = 0) -> list[list[int]]:
    """Folds that mix the files evenly: each file's articles are dealt out in a shuffled order."""
    folds: list[list[int]] = [[] for _ in range(count)]
    generator = random.Random(seed)
    for source in sorted({example.source for example in examples}):
        indices = [index for index, example in enumerate(examples) if example.source == source]
        generator.shuffle(indices)
        for position, index in enumerate(indices):
            folds[position % count].append(index)
    return folds


@dataclass(frozen=True)
class Choice:
    """An item the ranker chose on a held-out article: for calibrating its confidence."""

    article: int  # index into the examples
    fold: int
    text: str
    probability: float
    right: bool  # token F1 >= RIGHT against a gold phrase (never, where the gold is empty)


def cross_validate(
    examples: list[Example], field: str, splits: list[list[list[int]]]
) -> tuple[dict, dict[str, float], dict[str, list[float]], list[Choice]]:
    """The setting with the best held-out F1 (mean over files and over ``splits``, each a list of
    folds), its F1 per file, its F1 per file in each split, and its held-out choices in the first
    split on every article (those whose gold is empty included)."""
    names = feature_names(examples, field)
    outcomes: dict[tuple, dict[str, list[list[float]]]] = {}  # setting -> file -> per split, each article's F1
    choices: dict[tuple, list[Choice]] = {}
    for (repeat, folds), (regularisation, rule, empty_gold) in itertools.product(
        enumerate(splits), itertools.product(REGULARISATION, LABEL_RULES[field], EMPTY_GOLD)
    ):
        for fold, held_out in enumerate(folds):
            held = set(held_out)
            training = [example for index, example in enumerate(examples) if index not in held]
            fitted = fit_field(training, field, names, regularisation, rule, empty_gold)
            if fitted is None:
                continue
            weights, intercept = fitted
            for max_items, threshold in itertools.product(ITEM_LIMITS[field], THRESHOLDS if field in ("who", "where") else (1.0,)):
                model = FieldModel(tuple(names), tuple(weights), intercept, max_items, threshold)
                setting = (regularisation, rule, empty_gold, max_items, threshold)
                scores = outcomes.setdefault(setting, {})
                chosen = choices.setdefault(setting, [])
                for index in held_out:
                    example = examples[index]
                    golds = example.gold[field]
                    items = Ranker({field: model}).choose(field, example.candidates[field], example.scores[field])
                    if golds:
                        per_split = scores.setdefault(example.source, [[] for _ in splits])
                        per_split[repeat].append(best_f1([item.candidate.text for item in items], golds))
                    if repeat == 0:
                        chosen += [
                            Choice(index, fold, item.candidate.text, item.probability, best_f1([item.candidate.text], golds) >= RIGHT)
                            for item in items
                        ]

    def pooled(per_split: list[list[float]]) -> float:
        """One file's F1 over every split's articles."""
        return statistics.fmean(value for split in per_split for value in split)

    best = max(outcomes, key=lambda setting: statistics.fmean(pooled(per_split) for per_split in outcomes[setting].values()))
    regularisation, rule, empty_gold, max_items, threshold = best
    per_file = {source: round(pooled(per_split), 3) for source, per_split in outcomes[best].items()}
    per_split = {source: [round(statistics.fmean(split), 3) for split in splits_of] for source, splits_of in outcomes[best].items()}
    setting = {"regularisation": regularisation, "label_rule": rule, "empty_gold": empty_gold, "max_items": max_items, "threshold": threshold}
    return setting, per_file, per_split, choices[best]


def calibration_map(choices: list[Choice], method: str) -> dict:
    """The map from probability to the chance of being right, fitted on ``choices`` (ranker.json's form)."""
    import numpy as np
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    probabilities = np.array([choice.probability for choice in choices])
    rights = np.array([int(choice.right) for choice in choices])
    if len(set(rights.tolist())) < 2:  # all right or all wrong: a constant
        return {"method": "isotonic", "x": [0.0, 1.0], "y": [float(rights.mean())] * 2}
    if method == "isotonic":
        fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(probabilities, rights)
        return {"method": "isotonic", "x": [round(float(x), 5) for x in fitted.X_thresholds_], "y": [round(float(y), 5) for y in fitted.y_thresholds_]}
    clipped = np.clip(probabilities, 1e-6, 1 - 1e-6)
    logits = np.log(clipped / (1 - clipped)).reshape(-1, 1)
    fitted = LogisticRegression(C=1e6, max_iter=2000).fit(logits, rights)
    return {"method": "platt", "a": round(float(fitted.coef_[0][0]), 5), "b": round(float(fitted.intercept_[0]), 5)}


def held_out_confidences(choices: list[Choice], method: str, folds: int) -> list[float]:
    """Each choice's confidence from the map fitted on the other folds' choices."""
    confidences = [0.0] * len(choices)
    for fold in range(folds):
        others = [choice for choice in choices if choice.fold != fold]
        calibration = Calibration.of(calibration_map(others, method))
        for position, choice in enumerate(choices):
            if choice.fold == fold:
                confidences[position] = calibration(choice.probability)
    return confidences


def ece_noise_floor(confidences: list[float], draws: int = 400, seed: int = 0) -> float:
    """The expected calibration error a perfectly calibrated predictor would show on this many
    items with these confidences (each right with probability equal to its confidence): what
    sampling alone adds, for reading ECE on a few dozen items."""
    generator = random.Random(seed)
    errors = [expected_calibration_error([(value, generator.random() < value) for value in confidences], BINS) for _ in range(draws)]
    return round(statistics.fmean(error for error in errors if error is not None), 3) if confidences else 0.0


def brier(confidences: list[float], rights: list[bool]) -> float:
    return statistics.fmean((confidence - right) ** 2 for confidence, right in zip(confidences, rights)) if rights else 0.0


def thresholded(examples: list[Example], field: str, choices: list[Choice], confidences: list[float], minimum: float) -> dict[str, dict[str, float]]:
    """Per file, at ``minimum``: F1 on the articles whose gold has an answer (items below it dropped),
    and the share of articles whose gold is empty that are left unanswered."""
    kept: dict[int, list[str]] = {}
    for choice, confidence in zip(choices, confidences):
        kept.setdefault(choice.article, [])
        if confidence >= minimum:
            kept[choice.article].append(choice.text)
    result: dict[str, dict[str, list[float]]] = {}
    for index, example in enumerate(examples):
        per_file = result.setdefault(example.source, {"f1": [], "abstained": []})
        golds = example.gold[field]
        if golds:
            per_file["f1"].append(best_f1(kept.get(index, []), golds))
        else:
            per_file["abstained"].append(float(not kept.get(index)))
    return {
        source: {name: round(statistics.fmean(values), 3) if values else None for name, values in values_of.items()}  # type: ignore[misc]
        for source, values_of in result.items()
    }


def choose_min_confidence(examples: list[Example], held_out: dict[str, tuple[list[Choice], list[float]]]) -> tuple[float, dict]:
    """The default ``min_confidence``: the highest of MIN_CONFIDENCES at which no field loses more
    than MAX_F1_LOSS of cross-validated F1, on any file, on the articles whose gold has an answer.
    Returns it and, per field and file, F1 without and with it and the share of empty-gold articles left unanswered."""
    outcome: dict[float, dict[str, dict]] = {
        minimum: {field: thresholded(examples, field, *held_out[field], minimum) for field in held_out} for minimum in MIN_CONFIDENCES
    }
    base = outcome[0.0]
    allowed = [
        minimum for minimum in MIN_CONFIDENCES
        if all(
            outcome[minimum][field][source]["f1"] >= base[field][source]["f1"] - MAX_F1_LOSS
            for field in held_out for source in base[field] if base[field][source]["f1"] is not None
        )
    ]
    chosen = max(allowed)
    report = {
        field: {
            source: {
                "f1_no_threshold": base[field][source]["f1"], "f1": outcome[chosen][field][source]["f1"],
                "abstained_where_gold_empty": outcome[chosen][field][source]["abstained"],
                "abstained_where_gold_empty_no_threshold": base[field][source]["abstained"],
            }
            for source in base[field]
        }
        for field in held_out
    }
    return chosen, report


def fit(examples: list[Example], folds: int = FOLDS, repeats: int = REPEATS, features_only: bool = True) -> dict:
    """The ranker file's content: for each field the cross-validated setting, refitted on all
    examples, with its calibration map; the cross-validated F1 (mean over ``repeats`` shuffles of
    the folds, and each one's), calibration error and the chosen default ``min_confidence``.

    With ``features_only``, also a ranker fitted the same way without the model's scores, under
    ``features_only``: the 'openai' backend orders candidates before any model has read them, and
    the weights fitted beside the model's scores are not the right ones without them (measured:
    its mean F1 fell 0.580 -> 0.556 on giveme5w1h-dev when the local ranker gained a score feature)."""
    splits = [folds_of(examples, folds, seed) for seed in range(repeats)]
    fields: dict[str, dict] = {}
    report: dict[str, dict[str, float]] = {}
    report_by_split: dict[str, dict[str, list[float]]] = {}
    calibration_report: dict[str, dict] = {}
    held_out: dict[str, tuple[list[Choice], list[float]]] = {}
    files = sorted({example.source for example in examples})
    for field in FIELDS:
        setting, per_file, report_by_split[field], choices = cross_validate(examples, field, splits)
        names = feature_names(examples, field)
        fitted = fit_field(examples, field, names, setting["regularisation"], setting["label_rule"], setting["empty_gold"])
        assert fitted is not None, f"no positive and negative {field} candidates to fit on"
        weights, intercept = fitted
        rights = [choice.right for choice in choices]
        candidates = {method: held_out_confidences(choices, method, folds) for method in CALIBRATIONS}
        method = min(CALIBRATIONS, key=lambda name: brier(candidates[name], rights))
        confidences = candidates[method]
        held_out[field] = (choices, confidences)
        calibration_report[field] = {
            "method": method,
            "items": {source: sum(examples[choice.article].source == source for choice in choices) for source in files},
            "ece": {
                source: expected_calibration_error([
                    (confidence, choice.right) for choice, confidence in zip(choices, confidences) if examples[choice.article].source == source
                ], BINS)
                for source in files
            },
            "ece_noise_floor": {
                source: ece_noise_floor([confidence for choice, confidence in zip(choices, confidences) if examples[choice.article].source == source])
                for source in files
            },
            "ece_all_files": expected_calibration_error(list(zip(confidences, rights)), BINS),
        }
        fields[field] = {
            "features": names, "weights": [round(weight, 5) for weight in weights], "intercept": round(intercept, 5),
            "max_items": setting["max_items"], "threshold": setting["threshold"], "setting": setting,
            "calibration": calibration_map(choices, method),
        }
        report[field] = per_file
    report["mean"] = {source: round(statistics.fmean(report[field][source] for field in FIELDS), 3) for source in files}
    report_by_split["mean"] = {
        source: [round(statistics.fmean(report_by_split[field][source][repeat] for field in FIELDS), 3) for repeat in range(repeats)]
        for source in files
    }
    minimum, at_minimum = choose_min_confidence(examples, held_out)
    without_scores = {}
    if features_only:
        unscored = [
            Example(example.source, example.gold, example.candidates, {field: ValueScore.unscored(len(found)) for field, found in example.candidates.items()})
            for example in examples
        ]
        fitted = fit(unscored, folds, repeats, features_only=False)
        without_scores = {"features_only": {key: value for key, value in fitted.items() if key != "held_out"}}
    return {
        "fields": fields,
        "min_confidence": minimum,
        "cross_validation": {
            "folds": folds, "repeats": repeats,
            "articles": {source: sum(example.source == source for example in examples) for source in files},
            "f1": report, "f1_by_split": report_by_split, "calibration": calibration_report, "min_confidence": at_minimum,
        },
        "held_out": {  # the cross-validated confidences and whether each item was right: the reliability diagram's data (not written)
            field: [[round(confidence, 4), int(choice.right), examples[choice.article].source] for choice, confidence in zip(*held_out[field])]
            for field in FIELDS
        },
    } | without_scores


def write(path: Path, fitted: dict) -> None:
    """The ranker file (without the held-out confidences, which only the reliability diagram needs)."""
    content = {key: value for key, value in fitted.items() if key != "held_out"}
    path.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")


def example(source: str, row: dict, decisions: Decisions) -> Example:
    """A labelled article as the local backend saw it: its candidates and their model scores."""
    gold = {field: [phrase["text"] for phrase in row["gold"][field]] for field in FIELDS}
    return Example(source, gold, decisions.offered, decisions.scores)


def examples_from(paths: list[Path], decide: Callable[[Article], Decisions], progress: Callable = iter) -> list[Example]:
    """Every labelled article of ``paths``, read as ``eval`` sends it, with its candidates scored."""
    found = []
    for path in paths:
        for row in progress(read_rows(path)):
            request = article_request(row)
            published = request.published_at.isoformat()[:10] if request.published_at else None
            found.append(example(path.stem, row, decide(Article(text=request.text, title=request.title, published=published))))
    return found
