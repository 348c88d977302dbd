"""``summarizer fit-ranker``: fit the ranker's weights on labelled articles, choosing every
setting by k-fold cross-validation over all of them.

Each candidate is labelled by its token F1 against the gold phrases (the metric of ``eval``).
For each field a grid of settings (regularisation, label rule, item limit, threshold) is scored
by the held-out folds' F1 (each labelled file weighs the same), the best is refitted on every
article, and the weights, the chosen settings and their cross-validated F1 per file are written to
``ranker.json``. scikit-learn's logistic regression does the fitting.
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
from service.ranking import FieldModel, Ranker, with_model_scores
from service.tools.evaluation import article_request, best_f1, read_rows

if TYPE_CHECKING:
    from service.backends.local.walk import Decisions

FOLDS = 5
REGULARISATION = (0.1, 0.3, 1.0, 3.0)
LABEL_RULES = ("match", "best")  # F1 >= 0.5 with a gold phrase; or the article's best candidate
ITEM_LIMITS = {"who": (1, 2, 3), "where": (1, 2, 3), "what": (1,), "when": (1,)}
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)


@dataclass
class Example:
    """One labelled article: which file it is from, its gold phrases, its candidates and their model scores."""

    source: str
    gold: dict[str, list[str]]
    candidates: dict[str, list[Candidate]]
    scores: dict[str, list[float]]


def feature_names(examples: list[Example], field: str) -> list[str]:
    names: set[str] = set()
    for example in examples:
        for values in with_model_scores(example.candidates[field], example.scores[field]):
            names |= set(values)
    return sorted(names)


def labels(example: Example, field: str, rule: str) -> list[int]:
    golds = example.gold[field]
    f1s = [best_f1([candidate.text], golds) for candidate in example.candidates[field]]
    if rule == "match":
        return [int(value >= 0.5) for value in f1s]
    best = max(f1s, default=0.0)
    return [int(value > 0 and value == best) for value in f1s]


def fit_field(examples: list[Example], field: str, names: list[str], regularisation: float, rule: str) -> tuple[list[float], float] | None:
    from sklearn.linear_model import LogisticRegression

    rows, targets = [], []
    for example in examples:
        if not example.gold[field]:
            continue
        for values, label in zip(with_model_scores(example.candidates[field], example.scores[field]), labels(example, field, rule)):
            rows.append([values.get(name, 0.0) for name in names])
            targets.append(label)
    if len(set(targets)) < 2:
        return None
    model = LogisticRegression(C=regularisation, max_iter=2000).fit(rows, targets)
    return [float(weight) for weight in model.coef_[0]], float(model.intercept_[0])


def answer_f1(model: FieldModel, example: Example, field: str) -> float:
    ranker = Ranker({field: model})
    chosen = ranker.choose(field, example.candidates[field], example.scores[field])
    return best_f1([item.candidate.text for item in chosen], example.gold[field])


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


def cross_validate(examples: list[Example], field: str, folds: list[list[int]]) -> tuple[dict, dict[str, float]]:
    """The setting with the best held-out F1 (mean over files) and its F1 per file."""
    names = feature_names(examples, field)
    outcomes: dict[tuple, dict[str, list[float]]] = {}
    for regularisation, rule in itertools.product(REGULARISATION, LABEL_RULES):
        for held_out in folds:
            held = set(held_out)
            fitted = fit_field([example for index, example in enumerate(examples) if index not in held], field, names, regularisation, rule)
            if fitted is None:
                continue
            weights, intercept = fitted
            for max_items, threshold in itertools.product(ITEM_LIMITS[field], THRESHOLDS if field in ("who", "where") else (1.0,)):
                model = FieldModel(tuple(names), tuple(weights), intercept, max_items, threshold)
                scores = outcomes.setdefault((regularisation, rule, max_items, threshold), {})
                for index in held_out:
                    example = examples[index]
                    if example.gold[field]:
                        scores.setdefault(example.source, []).append(answer_f1(model, example, field))
    def overall(per_file: dict[str, list[float]]) -> float:
        return statistics.fmean(statistics.fmean(values) for values in per_file.values())
    best = max(outcomes, key=lambda setting: overall(outcomes[setting]))
    regularisation, rule, max_items, threshold = best
    per_file = {source: round(statistics.fmean(values), 3) for source, values in outcomes[best].items()}
    return {"regularisation": regularisation, "label_rule": rule, "max_items": max_items, "threshold": threshold}, per_file


def fit(examples: list[Example], folds: int = FOLDS) -> dict:
    """The ranker file's content: for each field the cross-validated setting, refitted on all examples."""
    split = folds_of(examples, folds)
    fields: dict[str, dict] = {}
    report: dict[str, dict[str, float]] = {}
    for field in FIELDS:
        setting, per_file = cross_validate(examples, field, split)
        names = feature_names(examples, field)
        fitted = fit_field(examples, field, names, setting["regularisation"], setting["label_rule"])
        assert fitted is not None, f"no positive and negative {field} candidates to fit on"
        weights, intercept = fitted
        fields[field] = {
            "features": names, "weights": [round(weight, 5) for weight in weights], "intercept": round(intercept, 5),
            "max_items": setting["max_items"], "threshold": setting["threshold"], "setting": setting,
        }
        report[field] = per_file
    files = sorted({example.source for example in examples})
    report["mean"] = {source: round(statistics.fmean(report[field][source] for field in FIELDS), 3) for source in files}
    return {"fields": fields, "cross_validation": {"folds": folds, "articles": {source: sum(example.source == source for example in examples) for source in files}, "f1": report}}


def write(path: Path, fitted: dict) -> None:
    path.write_text(json.dumps(fitted, indent=1) + "\n", encoding="utf-8")


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
