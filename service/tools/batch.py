"""``summarizer batch``: summarise a JSONL file of articles, resumably.

Each result is appended to the output as one line and flushed to disk before the next article
starts, so a run that is killed at any moment loses at most the article in progress. Started
again with the same arguments, it skips the ids already in the output (dropping a half-written
last line) and finishes the rest: every input ends up in the output exactly once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from pydantic import ValidationError

from service.schemas import Summary, SummaryRequest

REQUEST_FIELDS = ("text", "title", "published_at")


def input_rows(path: Path) -> Iterator[tuple[str, dict]]:
    """(id, row) for each non-empty line; rows without an "id" are numbered by line."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                row = json.loads(line)
                yield str(row.get("id", f"line-{number}")), row


def completed_ids(path: Path) -> set[str]:
    """Ids already written to ``path``, after cutting off a half-written last line."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) != len(data):
        with path.open("r+b") as out:
            out.truncate(len(complete))
    return {json.loads(line)["id"] for line in complete.decode("utf-8").splitlines() if line.strip()}


def result_line(row_id: str, row: dict, summarize: Callable[[SummaryRequest], Summary]) -> dict:
    try:
        request = SummaryRequest.model_validate({key: row[key] for key in REQUEST_FIELDS if key in row})
    except ValidationError as error:
        return {"id": row_id, "error": {"status": 422, "detail": str(error)}}
    return {"id": row_id, "summary": summarize(request).model_dump(mode="json")}


def run_batch(
    rows: Iterable[tuple[str, dict]], out_path: Path, summarize: Callable[[SummaryRequest], Summary]
) -> tuple[int, int]:
    """Append a result for each row not yet in ``out_path``; return (written, skipped)."""
    done = completed_ids(out_path)
    written = skipped = 0
    with out_path.open("a", encoding="utf-8") as out:
        for row_id, row in rows:
            if row_id in done:
                skipped += 1
                continue
            out.write(json.dumps(result_line(row_id, row, summarize), ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
            done.add(row_id)
            written += 1
    return written, skipped
