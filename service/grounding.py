"""Grounding and normalisation: tie each answer to its characters in the article, and turn the
time expression into a calendar date."""

from __future__ import annotations

import datetime as dt
import re

from service.article import Draft, Span
from service.dates import date_in_text
from service.schemas import Item, When


def align(source: str, value: str, prefer_from: int = 0) -> Span | None:
    """Where ``value`` occurs in ``source``: verbatim first, else ignoring case and spacing.

    The span carries the source's own characters, so offsets always match the article. Used for
    answers written freely by an inference server; the local engine only ever copies.
    """
    words = value.split()
    if not words:
        return None
    exact = [match.start() for match in re.finditer(re.escape(value.strip()), source)]
    if exact:
        position = next((start for start in exact if start >= prefer_from), exact[0])
        return Span(value.strip(), position)
    loose = re.compile(r"\s+".join(map(re.escape, words)), re.IGNORECASE)
    matches = list(loose.finditer(source))
    if not matches:
        return None
    match = next((found for found in matches if found.start() >= prefer_from), matches[0])
    return Span(match.group(0), match.start())


def locate(draft: Draft, span: Span, text: str) -> Item:
    """The span as an Item with offsets into the request's ``text`` (null if it is not there)."""
    if span.position >= draft.text_offset:
        start = span.position - draft.text_offset
    else:  # copied from the title: point at the same words in the text, if they occur there
        found = text.find(span.text)
        if found < 0:
            return Item(text=span.text, confidence=span.confidence)
        start = found
    end = start + len(span.text)
    assert text[start:end] == span.text, "a copied span must match the article at its offsets"
    return Item(text=span.text, start=start, end=end, confidence=span.confidence)


def ground(draft: Draft, text: str, published: dt.date | None) -> tuple[list[Item], Item, When | None, list[Item]]:
    """The draft's answers as API items: who, what, when, where."""
    who = [locate(draft, span, text) for span in draft.who]
    where = [locate(draft, span, text) for span in draft.where]
    what = locate(draft, draft.what, text) if draft.what else Item(text="")
    when = None
    if draft.when:
        item = locate(draft, draft.when, text)
        # Read with its sentence in the source: tense and cue words say which Tuesday is meant.
        start = draft.when.position
        when = When(**item.model_dump(), date=date_in_text(draft.source, start, start + len(draft.when.text), published))
    return who, what, when, where


def confident(
    who: list[Item], what: Item, when: When | None, where: list[Item], minimum: float
) -> tuple[list[Item], Item, When | None, list[Item], list[str]]:
    """The answers without the items whose confidence is below ``minimum`` (items without a
    confidence are kept), and a warning for each field left empty by that."""
    warnings = []

    def keep(field: str, items: list[Item]) -> list[Item]:
        kept = [item for item in items if item.confidence is None or item.confidence >= minimum]
        if items and not kept:
            best = max(items, key=lambda item: item.confidence or 0.0)
            warnings.append(
                f"{field}: no answer, none reached min_confidence {minimum:g}"
                f" (the best, {best.text!r}, has confidence {best.confidence:.2f})"
            )
        return kept

    who = keep("who", who)
    what = next(iter(keep("what", [what] if what.text else [])), Item(text=""))
    when = next(iter(keep("when", [when] if when else [])), None)  # type: ignore[assignment]
    where = keep("where", where)
    return who, what, when, where, warnings
