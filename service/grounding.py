"""Grounding and normalisation: tie each answer to its characters in the article, and turn the
time expression into a calendar date."""

from __future__ import annotations

import datetime as dt
import re

import dateparser
from dateparser.search import search_dates

from service.article import Draft, Span
from service.schemas import Item, When

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEKDAY_RE = re.compile(r"\b(" + "|".join(WEEKDAYS) + r")\b", re.IGNORECASE)
YEAR_RE = re.compile(r"\b(1[89]\d\d|2\d\d\d)\b")
DAY_NUMBER_RE = re.compile(r"\b\d{1,2}(st|nd|rd|th)?\b")


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
            return Item(text=span.text)
        start = found
    end = start + len(span.text)
    assert text[start:end] == span.text, "a copied span must match the article at its offsets"
    return Item(text=span.text, start=start, end=end)


def normalise_date(expression: str, published: dt.date | None) -> dt.date | None:
    """The calendar date a time expression refers to, read relative to the publication date.

    Without a publication date only expressions that carry their own year are resolved; a bare
    "Tuesday" or "6am" could be any day.
    """
    if published is None and not YEAR_RE.search(expression):
        return None
    # The end of the publication day, so "6am" means that morning, not the previous one.
    base = dt.datetime.combine(published or dt.date.today(), dt.time(23, 59))
    settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past", "RETURN_AS_TIMEZONE_AWARE": False}
    cleaned = re.sub(r"['’]s\b", "", expression)
    found = dateparser.parse(cleaned, languages=["en"], settings=settings)
    if found is None:
        matches = search_dates(cleaned, languages=["en"], settings=settings) or []
        found = matches[0][1] if matches else None
    if found is None:
        return None
    day = found.date()
    weekday = WEEKDAY_RE.search(expression)
    if weekday is None or YEAR_RE.search(expression):
        return day
    named = WEEKDAYS.index(weekday.group(1).lower())
    if DAY_NUMBER_RE.search(expression):
        return _year_matching_weekday(day, named, base.date())
    # "on Wednesday" in a Wednesday paper means that day, not a week before.
    if published is not None and published.weekday() == named and (published - day).days == 7:
        return published
    return day


def _year_matching_weekday(day: dt.date, weekday: int, near: dt.date) -> dt.date:
    """For "Tuesday, 8 November" without a year: the year, nearest ``near``, in which that day
    falls on that weekday."""
    candidates = []
    for year in (near.year, near.year - 1, near.year + 1):
        try:
            candidate = day.replace(year=year)
        except ValueError:  # 29 February
            continue
        if candidate.weekday() == weekday:
            candidates.append(candidate)
    return min(candidates, key=lambda candidate: abs((candidate - near).days)) if candidates else day


def ground(draft: Draft, text: str, published: dt.date | None) -> tuple[list[Item], Item, When | None, list[Item]]:
    """The draft's answers as API items: who, what, when, where."""
    who = [locate(draft, span, text) for span in draft.who]
    where = [locate(draft, span, text) for span in draft.where]
    what = locate(draft, draft.what, text) if draft.what else Item(text="")
    when = None
    if draft.when:
        item = locate(draft, draft.when, text)
        when = When(**item.model_dump(), date=normalise_date(item.text, published))
    return who, what, when, where
