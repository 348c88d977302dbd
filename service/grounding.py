"""Grounding and normalisation: tie each answer to its characters in the article, and turn the
time expression into a calendar date."""

from __future__ import annotations

import datetime as dt

from service.article import Draft, Span
from service.dates import date_in_text
from service.schemas import Item, When


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
    confidence are kept), and a warning for each field left empty by that. ``what`` is always
    kept: every article reports some event, and its confidence says how well it is put (a
    headline-less article offers only sentences, which the dev sets, all with headlines, rate low)."""
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
    when = next(iter(keep("when", [when] if when else [])), None)  # type: ignore[assignment]
    where = keep("where", where)
    return who, what, when, where, warnings
