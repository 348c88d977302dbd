"""``summarizer eval-dates``: the date resolver scored on rows of a temporal benchmark.

A row is ``{"doc", "dct", "expression", "value", "sentence"}``: a time expression, its document's
creation (publication) date, its sentence and the annotated ISO day. The resolver gets what the
service gives it for a chosen ``when``: the expression at its place in the sentence and the
publication date. A row it leaves unresolved (``null``) counts as wrong.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from service.dates import date_in_text, kind

KINDS = ("weekday", "month-day", "relative", "other")


@dataclass
class Outcome:
    row: dict
    kind: str
    predicted: dt.date | None
    seconds: float

    @property
    def correct(self) -> bool:
        return self.predicted is not None and self.predicted.isoformat() == self.row["value"][:10]


def read_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def half(doc: str, salt: str = "") -> str:
    """A fixed split of the benchmark by document: 'A' or 'B' (the first byte of the SHA-1 of
    ``salt`` + the id), so that rules can be written looking at one half and measured on the other.
    Another salt gives a fresh split once both halves of the old one have been studied."""
    return "A" if hashlib.sha1((salt + doc).encode()).digest()[0] % 2 == 0 else "B"


def resolve(row: dict) -> dt.date | None:
    sentence, expression = row["sentence"], row["expression"]
    start = sentence.find(expression)
    if start < 0:
        start = sentence.lower().find(expression.lower())
    if start < 0:  # not in its sentence: read it alone
        sentence, start = expression, 0
    published = dt.date.fromisoformat(row["dct"][:10]) if row.get("dct") else None
    return date_in_text(sentence, start, start + len(expression), published)


def run(rows: Iterable[dict]) -> list[Outcome]:
    outcomes = []
    for row in rows:
        started = time.perf_counter()
        predicted = resolve(row)
        outcomes.append(Outcome(row, kind(row["expression"]), predicted, time.perf_counter() - started))
    return outcomes


def _share(outcomes: list[Outcome]) -> dict[str, float | int | None]:
    n = len(outcomes)
    return {
        "n": n,
        "accuracy": round(sum(o.correct for o in outcomes) / n, 3) if n else None,
        "unresolved": sum(o.predicted is None for o in outcomes),
    }


def report(outcomes: list[Outcome]) -> dict:
    """Accuracy overall and per kind, unresolved count, and milliseconds per resolver call."""
    result: dict = {"accuracy": None, "n": 0}  # these two first: the line people read
    result |= _share(outcomes)
    result["correct"] = sum(o.correct for o in outcomes)
    times = sorted(1000 * o.seconds for o in outcomes)
    # The mean includes one-time loading (dateparser's data, the holiday calendar); the median is a
    # call in a running service.
    result["ms_per_call"] = round(sum(times) / len(times), 3) if times else None
    result["ms_median"] = round(times[len(times) // 2], 3) if times else None
    result["kinds"] = {name: _share([o for o in outcomes if o.kind == name]) for name in KINDS}
    return result


def main(path: Path, split: str | None = None, show_misses: bool = False, salt: str = "") -> dict:
    """Run the benchmark and print per-kind lines, then the JSON report as the last line."""
    from tqdm import tqdm

    rows = read_rows(path)
    if split:
        rows = [row for row in rows if half(row["doc"], salt) == split]
    outcomes = run(tqdm(rows, desc="expressions", unit="expr"))
    if show_misses:
        for o in outcomes:
            if not o.correct:
                print(f"miss {o.row['dct']} {o.row['expression']!r}: {o.predicted} (gold {o.row['value']})")
    result = report(outcomes)
    if split:
        result["half"] = split
        if salt:
            result["split_salt"] = salt
    for name, share in result["kinds"].items():
        accuracy = "-" if share["accuracy"] is None else f"{share['accuracy']:.3f}"
        print(f"{name:<10} n={share['n']:<4} accuracy={accuracy}  unresolved={share['unresolved']}")
    print(json.dumps(result), flush=True)
    return result
