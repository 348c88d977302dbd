"""Which candidates are the answer: a logistic regression over the candidates' features and the
language model's score, fitted on the labelled dev sets (``summarizer fit-ranker``).

A list field (who, where) takes its most probable candidate, then more while their probability
stays at or above the field's fitted threshold, up to its fitted item limit; what and when take
one. Weights, thresholds and limits live in ``ranker.json`` beside this module; every one of
them was chosen by cross-validation (see the file's ``cross_validation`` entry and the README).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from service.candidates import Candidate

RANKER_FILE = "ranker.json"


@dataclass(frozen=True)
class FieldModel:
    """The fitted combination for one field."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float
    max_items: int
    threshold: float  # a further list item must be at least this probable

    def probability(self, features: dict[str, float]) -> float:
        logit = self.intercept + sum(weight * features.get(name, 0.0) for name, weight in zip(self.features, self.weights))
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, logit))))


@dataclass(frozen=True)
class Ranked:
    candidate: Candidate
    probability: float


def with_model_scores(candidates: list[Candidate], scores: list[float]) -> list[dict[str, float]]:
    """Each candidate's features plus the model's score relative to the field's best candidate
    (absolute log-probabilities vary between articles; their differences carry the choice)."""
    best = max(scores, default=0.0)
    return [candidate.features | {"model": score - best} for candidate, score in zip(candidates, scores)]


@dataclass(frozen=True)
class Ranker:
    models: dict[str, FieldModel]

    @classmethod
    def load(cls, path: Path | None = None) -> Ranker:
        """The fitted ranker at ``path``, or the one shipped with the package."""
        raw = path.read_text(encoding="utf-8") if path else resources.files("service").joinpath(RANKER_FILE).read_text(encoding="utf-8")
        return cls.load_fitted(json.loads(raw))

    @classmethod
    def load_fitted(cls, content: dict) -> Ranker:
        """A ranker from the content of a ranker file (what ``fit-ranker`` writes)."""
        fitted = content["fields"]
        return cls({
            name: FieldModel(
                features=tuple(entry["features"]), weights=tuple(entry["weights"]), intercept=entry["intercept"],
                max_items=entry["max_items"], threshold=entry["threshold"],
            )
            for name, entry in fitted.items()
        })

    def rank(self, field: str, candidates: list[Candidate], scores: list[float]) -> list[Ranked]:
        """``candidates`` from most to least probable."""
        model = self.models[field]
        features = with_model_scores(candidates, scores)
        ranked = [Ranked(candidate, model.probability(values)) for candidate, values in zip(candidates, features)]
        return sorted(ranked, key=lambda item: -item.probability)

    def choose(self, field: str, candidates: list[Candidate], scores: list[float]) -> list[Ranked]:
        """The answer: the best candidate, then more (list fields) while probable enough."""
        model = self.models[field]
        ranked = self.rank(field, candidates, scores)
        chosen = ranked[:1]
        for item in ranked[1 : model.max_items]:
            if item.probability < model.threshold:
                break
            chosen.append(item)
        return chosen


