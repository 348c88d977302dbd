"""``summarizer eval``: run the real pipeline over a Giveme5W1H-style gold file and score it.

The metric is the one of the project's reference scorer (``shared/tools/score5w.py``):
SQuAD-style token F1 of the joined prediction against the best single gold phrase or the union
of gold phrases. No published package implements this exact variant, so it is written out here,
line for line the same, and a test checks both give the same numbers.

Beside it, ``answering`` measures whether a field is answered at all: precision (of the articles
where it answered, the share whose gold has an answer) and recall (of the articles whose gold has
an answer, the share where it answered); the F1 above skips articles whose gold is empty, so only
these punish an answer where the article says nothing. ``calibration`` measures how well the
items' ``confidence`` predicts that they are right (token F1 >= 0.5 against a gold phrase).
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import statistics
import string
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from service.errors import InferenceServerError
from service.schemas import Item, Summary, SummaryRequest, When

FIELDS = ("who", "what", "when", "where")
ARTICLES = {"a", "an", "the"}


def norm_tokens(text: str) -> list[str]:
    text = text.lower()
    text = "".join(ch if ch not in string.punctuation and ch not in "‘’“”" else " " for ch in text)
    return [token for token in text.split() if token not in ARTICLES]


def token_f1(prediction: str, gold: str) -> float:
    predicted, expected = norm_tokens(prediction), norm_tokens(gold)
    if not predicted or not expected:
        return 0.0
    common = sum((collections.Counter(predicted) & collections.Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def best_f1(items: list[str], golds: list[str]) -> float:
    """One field's score: the items joined, against the best single gold phrase or their union."""
    joined = " ; ".join(items)
    if not joined or not golds:
        return 0.0
    return max(token_f1(joined, gold) for gold in golds + [" ".join(golds)])


def flat(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, dict):
        return flat(value.get("text") or value.get("value") or value.get("name"))
    return [text for item in value for text in flat(item)]  # type: ignore[union-attr]


def score(gold_rows: Iterable[dict], predictions: dict[str, dict]) -> dict[str, float | int | None]:
    """Per-field F1, their mean, grounded share and when_date accuracy, as score5w.py computes them."""
    scores: dict[str, list[float]] = {name: [] for name in FIELDS}
    grounded = [0, 0]
    dates = [0, 0]
    missing = 0
    count = 0
    for row in gold_rows:
        count += 1
        answer = predictions.get(row["id"])
        if answer is None:
            missing += 1
            answer = {}
        source = (row["title"] + "\n" + row["description"] + "\n" + row["text"]).lower()
        for name in FIELDS:
            golds = [phrase["text"] for phrase in row["gold"][name]]
            if not golds:
                continue
            items = flat(answer.get(name))
            scores[name].append(best_f1(items, golds))
            if name == "when" and "when_date" in answer:
                gold_dates = {phrase["date"][:10] for phrase in row["gold"]["when"] if phrase.get("date")}
                if gold_dates:
                    dates[1] += 1
                    dates[0] += str(answer.get("when_date") or "")[:10] in gold_dates
            if name in ("who", "where"):
                for item in items:
                    grounded[1] += 1
                    grounded[0] += item.strip().lower() in source
    result: dict[str, float | int | None] = {name: round(sum(v) / len(v), 3) for name, v in scores.items()}
    result["mean_f1"] = round(sum(result[name] for name in FIELDS) / 4, 3)  # type: ignore[misc]
    result["grounded"] = round(grounded[0] / grounded[1], 3) if grounded[1] else None
    if dates[1]:
        result["when_date"] = round(dates[0] / dates[1], 3)
    result["articles"] = count
    result["missing"] = missing
    return result


def answering(gold_rows: Iterable[dict], predictions: dict[str, dict]) -> dict[str, dict[str, float | None]]:
    """Per field: precision and recall of answering at all (answered vs gold not empty)."""
    counts = {name: collections.Counter() for name in FIELDS}
    for row in gold_rows:
        answer = predictions.get(row["id"]) or {}
        for name in FIELDS:
            said = bool(row["gold"][name])
            answered = bool(flat(answer.get(name)))
            counts[name][(said, answered)] += 1
    result: dict[str, dict[str, float | None]] = {}
    for name, count in counts.items():
        answered, said, both = count[(True, True)] + count[(False, True)], count[(True, True)] + count[(True, False)], count[(True, True)]
        result[name] = {
            "precision": round(both / answered, 3) if answered else None,
            "recall": round(both / said, 3) if said else None,
            "abstained_where_gold_empty": round(count[(False, False)] / (count[(False, False)] + count[(False, True)]), 3)
            if count[(False, False)] + count[(False, True)] else None,
        }
    return result


RIGHT = 0.5  # an item is right when its token F1 against a gold phrase is at least this


def confidence_points(gold_rows: Iterable[dict], predictions: dict[str, dict], confidences: dict[str, dict]) -> dict[str, list[tuple[float, bool]]]:
    """Per field, each answered item's confidence and whether it is right (never, where gold is empty)."""
    points: dict[str, list[tuple[float, bool]]] = {name: [] for name in FIELDS}
    for row in gold_rows:
        answer, confidence = predictions.get(row["id"]), confidences.get(row["id"])
        if answer is None or confidence is None:
            continue
        for name in FIELDS:
            golds = [phrase["text"] for phrase in row["gold"][name]]
            for text, value in zip(flat(answer.get(name)), confidence[name]):
                if value is not None:
                    points[name].append((value, best_f1([text], golds) >= RIGHT))
    return points


def expected_calibration_error(points: list[tuple[float, bool]], bins: int = 10) -> float | None:
    """Sum over equal-width confidence bins of the bin's share times |its accuracy - its mean confidence|."""
    if not points:
        return None
    total = 0.0
    for number in range(bins):
        inside = [(value, right) for value, right in points if min(int(value * bins), bins - 1) == number]
        if inside:
            total += len(inside) / len(points) * abs(
                statistics.fmean(right for _, right in inside) - statistics.fmean(value for value, _ in inside)
            )
    return round(total, 3)


def reliability_diagram(points: dict[str, list[tuple[float, bool]]], path: Path, title: str, bins: int = 10) -> None:
    """A reliability diagram, one panel per field: for each confidence bin, the share of its items
    that are right against their mean confidence (dot area: how many items), and the ECE."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, grid = plt.subplots(2, 2, figsize=(8, 8), sharex=True, sharey=True)
    for axes, (name, field_points) in zip(grid.flat, points.items()):
        groups: dict[int, list[tuple[float, bool]]] = {}
        for value, right in field_points:
            groups.setdefault(min(int(value * bins), bins - 1), []).append((value, right))
        ordered = [groups[number] for number in sorted(groups)]
        xs = [statistics.fmean(value for value, _ in group) for group in ordered]
        ys = [statistics.fmean(right for _, right in group) for group in ordered]
        axes.plot([0, 1], [0, 1], color="#888", linestyle="--", linewidth=1)
        axes.bar([(number + 0.5) / bins for number in sorted(groups)], [len(group) / len(field_points) for group in ordered],
                 width=1 / bins, color="#ddd", edgecolor="#bbb", label="share of items")
        axes.plot(xs, ys, color="#0b57d0", linewidth=1)
        axes.scatter(xs, ys, s=[20 + 8 * len(group) for group in ordered], color="#0b57d0", alpha=0.7, label="share right")
        error = expected_calibration_error(field_points, bins)
        axes.set_title(f"{name}: ECE {error:.3f}, {len(field_points)} items" if error is not None else f"{name}: no items", fontsize=10)
        axes.set(xlim=(0, 1), ylim=(0, 1))
        axes.grid(alpha=0.3)
    for axes in grid[1]:
        axes.set_xlabel("confidence")
    for axes in grid[:, 0]:
        axes.set_ylabel("share right (token F1 >= 0.5)")
    grid[0][0].legend(loc="upper left", fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def article_request(row: dict) -> SummaryRequest:
    """A gold row as the service receives an article: headline, lead, then body text."""
    text = row["text"]
    lead = (row.get("description") or "").strip()
    if lead and lead[:60] not in text:
        text = f"{lead}\n\n{text}"
    return SummaryRequest(text=text, title=row.get("title") or None, published_at=publication_date(row))


def publication_date(row: dict) -> dt.date | None:
    """The row's publication date; some rows carry "None" or nothing."""
    try:
        return dt.date.fromisoformat(str(row.get("date_publish") or "")[:10])
    except ValueError:
        return None


def confidences(summary: Summary) -> dict[str, list[float | None]]:
    """Each answered item's confidence, per field, in the order of the prediction's items."""
    return {
        "who": [item.confidence for item in summary.who],
        "what": [summary.what.confidence] if summary.what.text else [],
        "when": [summary.when.confidence] if summary.when and summary.when.text else [],
        "where": [item.confidence for item in summary.where],
    }


def prediction(row_id: str, summary: Summary) -> dict:
    """One line of a predictions file, in the format score5w.py reads."""
    return {
        "id": row_id,
        "answer": {
            "who": [item.text for item in summary.who],
            "what": summary.what.text,
            "when": summary.when.text if summary.when else None,
            "when_date": summary.when.date.isoformat() if summary.when and summary.when.date else None,
            "where": [item.text for item in summary.where],
        },
    }


@dataclass
class EvalRun:
    predictions: dict[str, dict] = field(default_factory=dict)
    confidences: dict[str, dict] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    valid: int = 0
    failed: list[str] = field(default_factory=list)


def run(rows: Iterable[dict], summarize: Callable[[SummaryRequest], Summary]) -> EvalRun:
    """Summarise every row with ``summarize`` (SummaryRequest -> Summary), timing each."""
    outcome = EvalRun()
    for row in rows:
        started = time.perf_counter()
        try:
            summary = Summary.model_validate(summarize(article_request(row)).model_dump())
        except (ValidationError, ValueError, InferenceServerError) as error:  # counted as not schema-valid
            outcome.failed.append(f"{row['id']}: {error}")
            continue
        outcome.seconds.append(time.perf_counter() - started)
        outcome.valid += 1
        outcome.predictions[row["id"]] = prediction(row["id"], summary)["answer"]
        outcome.confidences[row["id"]] = confidences(summary)
    return outcome


def report(rows: list[dict], outcome: EvalRun) -> dict[str, float | int | None]:
    result = score(rows, outcome.predictions)
    result["answering"] = answering(rows, outcome.predictions)  # type: ignore[assignment]
    points = confidence_points(rows, outcome.predictions, outcome.confidences)
    result["ece"] = {name: expected_calibration_error(values) for name, values in points.items()}  # type: ignore[assignment]
    result["schema_valid"] = round(outcome.valid / len(rows), 3) if rows else None
    if outcome.seconds:
        result["median_s"] = round(statistics.median(outcome.seconds), 2)
        result["mean_s"] = round(statistics.fmean(outcome.seconds), 2)
    return result


def ner_baseline(request: SummaryRequest) -> Summary:
    """The baseline every choice is measured against: spaCy's entities in reading order over the
    headline and text (who = the first two PERSON/ORG/NORP, where = the first GPE/LOC/FAC, when =
    the first DATE/TIME) and the headline as what."""
    from service.candidates import parse

    doc = parse(f"{request.title}\n\n{request.text}" if request.title else request.text)

    def first(labels: tuple[str, ...], count: int) -> list[Item]:
        return [Item(text=entity.text) for entity in doc.ents if entity.label_ in labels][:count]

    when = first(("DATE", "TIME"), 1)
    return Summary(
        who=first(("PERSON", "ORG", "NORP"), 2), what=Item(text=request.title or ""),
        when=When(text=when[0].text) if when else None, where=first(("GPE", "LOC", "FAC"), 1),
        model="baseline (ner)", prompt_version="", timings_ms={}, usage={}, warnings=[],
    )


def table(results: dict[str, dict[str, dict]]) -> list[str]:
    """A Markdown table: one row per gold file and system, F1 per field and their mean."""
    lines = ["| file | system | who | what | when | where | mean |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for file, systems in results.items():
        for system, result in systems.items():
            mean = result.get("mean_f1", result.get("mean"))
            lines.append(f"| {file} | {system} | " + " | ".join(f"{result[name]:.3f}" for name in FIELDS) + f" | {mean:.3f} |")
    return lines


def answering_table(results: dict[str, dict[str, dict]]) -> list[str]:
    """A Markdown table: per gold file and system, precision / recall of answering at all, per field."""
    lines = ["| file | system | " + " | ".join(f"{name} P / R" for name in FIELDS) + " |", "| --- | --- |" + " --- |" * len(FIELDS)]
    for file, systems in results.items():
        for system, result in systems.items():
            cells = []
            for name in FIELDS:
                values = result["answering"][name]
                cells.append(" / ".join("-" if values[key] is None else f"{values[key]:.2f}" for key in ("precision", "recall")))
            lines.append(f"| {file} | {system} | " + " | ".join(cells) + " |")
    return lines


def read_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def write_predictions(path: Path, outcome: EvalRun) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row_id, answer in outcome.predictions.items():
            out.write(json.dumps({"id": row_id, "answer": answer}, ensure_ascii=False) + "\n")
