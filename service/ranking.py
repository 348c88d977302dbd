"""Which candidates are the answer: a logistic regression over the candidates' features and the
language model's score, fitted on the labelled dev sets (``summarizer fit-ranker``).

A list field (who, where) takes its most probable candidate, then more while their probability
stays at or above the field's fitted threshold, up to its fitted item limit; what and when take
one. Weights, thresholds and limits live in ``ranker.json`` beside this module; every one of
them was chosen by cross-validation (see the file's ``cross_validation`` entry and the README).

Each chosen item also gets a *confidence*: the ranker's probability passed through the field's
calibration map (fitted on out-of-fold predictions, articles whose gold is empty included), so
that it estimates the chance that the item is right (token F1 >= 0.5 against a gold phrase).
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import cache
from importlib import resources
from pathlib import Path

from service.candidates import Candidate

RANKER_FILE = "ranker.json"


@dataclass(frozen=True)
class Calibration:
    """A monotone map from the ranker's probability to the chance of being right.

    ``isotonic``: piecewise linear through the points (``x``, ``y``), flat beyond the ends (what
    scikit-learn's IsotonicRegression predicts). ``platt``: ``sigmoid(a * logit(p) + b)``.
    ``identity`` (no map fitted) returns the probability itself.
    """

    method: str = "identity"
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 1.0
    b: float = 0.0

    def __call__(self, probability: float) -> float:
        if self.method == "isotonic" and self.x:
            if probability <= self.x[0]:
                return self.y[0]
            if probability >= self.x[-1]:
                return self.y[-1]
            right = bisect.bisect_right(self.x, probability)
            x0, x1, y0, y1 = self.x[right - 1], self.x[right], self.y[right - 1], self.y[right]
            return y0 if x1 == x0 else y0 + (y1 - y0) * (probability - x0) / (x1 - x0)
        if self.method == "platt":
            clipped = min(max(probability, 1e-6), 1 - 1e-6)
            return _sigmoid(self.a * math.log(clipped / (1 - clipped)) + self.b)
        return probability

    @classmethod
    def of(cls, content: dict | None) -> Calibration:
        if not content:
            return cls()
        return cls(
            method=content["method"], x=tuple(content.get("x", ())), y=tuple(content.get("y", ())),
            a=content.get("a", 1.0), b=content.get("b", 0.0),
        )


def _sigmoid(logit: float) -> float:
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, logit))))


@dataclass(frozen=True)
class FieldModel:
    """The fitted combination for one field."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float
    max_items: int
    threshold: float  # a further list item must be at least this probable
    calibration: Calibration = dataclass_field(default_factory=Calibration)

    def probability(self, features: dict[str, float]) -> float:
        return _sigmoid(self.intercept + sum(weight * features.get(name, 0.0) for name, weight in zip(self.features, self.weights)))


def default_min_confidence() -> float:
    """The ``min_confidence`` that ``fit-ranker`` chose by cross-validation for the shipped ranker."""
    return float(_shipped().get("min_confidence", 0.0))


@cache
def _shipped() -> dict:
    return json.loads(resources.files("service").joinpath(RANKER_FILE).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class ValueScore:
    """The language model's log-probabilities for one candidate written as its field's value.

    ``mean`` is over all its tokens (and the closing quote); ``first`` is its first token's alone,
    where the model chooses which answer to start. Once a name has begun its other tokens are
    near-certain copies ("Choe" -> "Son Hui"), so the mean mostly says how easy a candidate is to
    copy, the first token which one the model would give (measured in the README: adding it raised
    who's cross-validated F1 by ~0.02 on both dev sets)."""

    mean: float
    first: float

    @classmethod
    def unscored(cls, count: int) -> list[ValueScore]:
        """Scores for ``count`` candidates no model read (the ranker then weighs their features alone)."""
        return [cls(0.0, 0.0)] * count


@dataclass(frozen=True)
class Ranked:
    candidate: Candidate
    probability: float  # the ranker's, as fitted
    confidence: float = 0.0  # calibrated: the chance that this item is right (set by ``choose``)


def with_model_scores(candidates: list[Candidate], scores: list[ValueScore]) -> list[dict[str, float]]:
    """Each candidate's features plus the model's scores relative to the field's best candidate
    (absolute log-probabilities vary between articles; their differences carry the choice)."""
    best_mean = max((score.mean for score in scores), default=0.0)
    best_first = max((score.first for score in scores), default=0.0)
    return [
        candidate.features | {"model": score.mean - best_mean, "model_first": score.first - best_first}
        for candidate, score in zip(candidates, scores)
    ]


@dataclass(frozen=True)
class Ranker:
    models: dict[str, FieldModel]

    @classmethod
    def load(cls, path: Path | None = None, features_only: bool = False) -> Ranker:
        """The fitted ranker at ``path``, or the one shipped with the package; with ``features_only``
        the one fitted without the model's scores (for candidates no model has read)."""
        content = json.loads(path.read_text(encoding="utf-8")) if path else _shipped()
        return cls.load_fitted(content["features_only"] if features_only else content)

    @classmethod
    def load_fitted(cls, content: dict) -> Ranker:
        """A ranker from the content of a ranker file (what ``fit-ranker`` writes)."""
        fitted = content["fields"]
        return cls({
            name: FieldModel(
                features=tuple(entry["features"]), weights=tuple(entry["weights"]), intercept=entry["intercept"],
                max_items=entry["max_items"], threshold=entry["threshold"],
                calibration=Calibration.of(entry.get("calibration")),
            )
            for name, entry in fitted.items()
        })

    def rank(self, field: str, candidates: list[Candidate], scores: list[ValueScore]) -> list[Ranked]:
        """``candidates`` from most to least probable."""
        model = self.models[field]
        features = with_model_scores(candidates, scores)
        ranked = [Ranked(candidate, model.probability(values)) for candidate, values in zip(candidates, features)]
        return sorted(ranked, key=lambda item: -item.probability)

    def choose(self, field: str, candidates: list[Candidate], scores: list[ValueScore]) -> list[Ranked]:
        """The answer: the best candidate, then more (list fields) while probable enough; each
        with its calibrated confidence."""
        return self.choose_ranked(field, self.rank(field, candidates, scores))

    def choose_ranked(self, field: str, ranked: list[Ranked]) -> list[Ranked]:
        """``choose`` on candidates ``rank`` has already ordered."""
        model = self.models[field]
        chosen = ranked[:1]
        for item in ranked[1 : model.max_items]:
            if item.probability < model.threshold:
                break
            chosen.append(item)
        return [Ranked(item.candidate, item.probability, model.calibration(item.probability)) for item in chosen]


