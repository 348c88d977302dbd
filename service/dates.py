"""Calendar dates for time expressions, read the way a reader of the article reads them.

A bare "Tuesday" or "Jan. 14" names a day only together with the publication date and the
sentence around it: "the team will leave Tuesday" lies ahead of the publication date, "police
said Tuesday" behind it. This module holds all of that and nothing else (no torch): grounding
calls ``date_in_text`` for the chosen ``when``, the ``eval-dates`` command calls the same function
on benchmark rows.

How an expression is read, in order:

* an explicit month and day ("Jan. 14", "14 January", "Monday, Oct. 26", "Aug. 7, 1998"): the year
  given, else the one whose date makes a named weekday right, else the nearest occurrence (in the
  direction the sentence points when it is not more than ~10 months away: deadlines in
  past-tense sentences, "allowed him to stay until March 6", lie ahead);
* a bare day number right after a month-day ("April 24 and 25"): that month;
* "the day before/after X" with X a date expression: X, one day off;
* words that count from the publication day: today, tonight, yesterday, tomorrow, last night,
  "three days ago", "in two weeks";
* anaphoric expressions ("that day", "the next morning", "a year earlier", "10 days before ..."):
  counted from an event date already found in the text before them (an ``anchor``), else no date;
  guessing the publication day there is wrong more often than right;
* a weekday: the publication day when it is that weekday, else the nearest such day in the
  direction the words around it point (future cues: will, may, is to, plans, scheduled, expected,
  until, next, present-tense schedule verbs unless used as nouns; past cues: said, was, last, ago,
  verbs in -ed and common irregular past forms; the closest cue in the expression's clause wins,
  "and" starting another clause; without one, the past: news reports events); a weekday opening
  the sentence ("On Friday, ...") takes the tense of its main clause; a possessive one ("Friday's
  vote") is the nearest such day;
* "the weekend": its Saturday, the one the publication day is in, else just past or coming;
* a holiday (Thanksgiving, Christmas Eve, Easter, Election Day, ...): its nearest occurrence in the
  direction of the sentence, from the ``holidays`` package's US calendar;
* anything else goes to dateparser (cached: it is the slow part).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass

import dateparser
from dateutil.relativedelta import relativedelta

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEKDAY_RE = re.compile(r"\b(" + "|".join(WEEKDAYS) + r")\b", re.IGNORECASE)
YEAR_RE = re.compile(r"\b(1[89]\d\d|2\d\d\d)\b")

MONTH_NUMBERS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
# Full names and the newswire abbreviations ("Jan.", "Sept.", "Aug").
MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
MONTH_DAY_RE = re.compile(
    rf"\b(?P<month>{MONTH})\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(?P<year>\d{{4}})\b)?", re.IGNORECASE
)
DAY_MONTH_RE = re.compile(
    rf"\b(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<month>{MONTH})\b\.?(?:,?\s+(?P<year>\d{{4}})\b)?",
    re.IGNORECASE,
)

# A day number coordinated with a month-day before it ("April 24 and 25", "Jan. 14-15") is in that month.
SHARED_MONTH_RE = re.compile(
    rf"\b(?P<month>{MONTH})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\s*(?:,|and|or|to|through|-|–)\s*$", re.IGNORECASE
)
BARE_DAY_RE = re.compile(r"^(?P<day>\d{1,2})(?:st|nd|rd|th)?$")

NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "several": None, "few": None,
}  # fmt: skip
COUNT = r"(?P<count>\d{1,3}|" + "|".join(NUMBERS) + r")"
UNIT = r"(?P<unit>day|week|fortnight|month|year)s?"
PART_OF_DAY = r"(?:day|morning|afternoon|evening|night)"
LEADING_WORDS_RE = re.compile(r"^(?:(?:on|by|until|till|since|from|of|at|for|through|during)\s+)+", re.IGNORECASE)

# Counted from the publication day.
DEICTIC = {
    "today": 0, "tonight": 0, "now": 0, "this morning": 0, "this afternoon": 0, "this evening": 0,
    "yesterday": -1, "last night": -1, "yesterday morning": -1, "yesterday afternoon": -1,
    "yesterday evening": -1, "tomorrow": 1, "tomorrow morning": 1, "tomorrow night": 1,
    "tomorrow afternoon": 1, "tomorrow evening": 1, "the day before yesterday": -2,
    "the day after tomorrow": 2,
}  # fmt: skip
AGO_RE = re.compile(rf"^{COUNT}\s+{UNIT}\s+ago$")
AHEAD_RE = re.compile(
    rf"^(?:in\s+{COUNT}\s+{UNIT}|{COUNT.replace('count', 'count2')}\s+{UNIT.replace('unit', 'unit2')}\s+from\s+(?:now|today))$"
)
# "that day", "the same day", "earlier that day", "that night": the anchor's own day.
SAME_DAY_RE = re.compile(rf"^(?:(?:earlier|later)\s+)?(?:(?:the|that|this)\s+)?(?:same\s+|very\s+)?{PART_OF_DAY}$")
NEXT_DAY_RE = re.compile(rf"^(?:the\s+)?(?:next|following|ensuing)\s+{PART_OF_DAY}$")
PREVIOUS_DAY_RE = re.compile(rf"^(?:the\s+)?(?:previous|preceding|prior)\s+{PART_OF_DAY}$")
SHIFT_RE = re.compile(rf"^(?:the\s+)?{COUNT}\s+{UNIT}\s+(?P<way>earlier|later|before|after)$")
BARE_SHIFT_RE = re.compile(rf"^(?:the\s+)?(?:{COUNT}\s+)?{UNIT}$")  # "10 days", "day": look at the next word
# "the weekend", "this past weekend", "next weekend": its Saturday (a weekend names two days; the
# first is the one a day-valued reading gives).
WEEKEND_RE = re.compile(r"^(?:(?:the|this|that|last|next|coming|past|upcoming)\s+)*week-?end$")
DAY_BEFORE_AFTER_RE = re.compile(r"^(?:the\s+)?day\s+(?P<way>before|after)\s+(?P<rest>.+)$", re.IGNORECASE)

# Words that point a bare date forward or backward from the publication day. The closest one to
# the expression wins (one after it counts a little farther than one before: English puts the
# verb first, "will meet Tuesday", and the reporting verb last, "..., officials said").
FORWARD_WORDS = frozenset(
    """will shall would must should may might can is are am ahead plan plans planned planning scheduled schedule schedules slated expected
    expects expect due upcoming next coming tomorrow intend intends intended aim aims hope hopes seek seeks
    poised starting beginning effective tentatively resume resumes begin begins start starts
    open opens meet meets return returns arrive arrives leave leaves visit visits travel travels convene convenes
    reconvene reconvenes vote votes hold holds take takes face faces host hosts play plays go goes head heads
    end ends expire expires""".split()
)
# Present-tense schedule verbs that are also nouns ("the talks resume", but "the head of", "her plans"):
# after a determiner or before "of" they are the noun and tell nothing.
NOUN_LIKE_VERBS = frozenset(
    """plan plans schedule schedules start starts open opens meet meets return returns leave leaves visit visits
    travel travels vote votes hold holds take takes face faces host hosts play plays head heads end ends
    resume resumes begin begins""".split()
)
FORWARD_PHRASES = (("is", "to"), ("are", "to"), ("am", "to"), ("going", "to"), ("set", "to"), ("set", "for"),
                   ("as", "soon", "as"), ("as", "early", "as"), ("no", "later", "than"), ("in", "time", "for"))  # fmt: skip
# "until Tuesday" points ahead ("postponed until Tuesday") unless the clause is in the past perfect
# ("they had not named him until Tuesday").
BOUNDARY_WORDS = frozenset({"until", "till", "til"})
BACKWARD_WORDS = frozenset(
    "said was were had did been ago last earlier previous previously past since yesterday".split()
)
# Simple past forms of the irregular verbs (the regular ones end in -ed).
IRREGULAR_PAST = frozenset(
    """arose awoke became began bent bit bled blew broke bred brought built burnt bought caught chose clung came
    crept dealt dug dove drew drank drove ate fell fed felt fought found fled flung flew forbade forgot forgave
    froze got gave went grew hung heard hid held kept knelt knew laid led leapt left lent lit lost made meant met
    paid rode rang rose ran saw sought sold sent shook shone shot shrank sang sank sat slew slept slid spoke sped
    spent spun spat sprang stood stole stuck stung strode struck swore swept swam swung took taught tore told
    thought threw trod understood woke wore wove wept won wound wrote withdrew overcame overtook undertook upheld
    withheld mistook foresaw overran overthrew oversaw rebuilt retook underwent withstood""".split()
)
NOT_PAST = frozenset("hundred united indeed red bed".split())
DETERMINERS = frozenset("the a an this that these those its his her their our your my every each".split())
# Words, and the punctuation that ends a clause (kept to find the expression's own clause).
TOKEN_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|[,;:()\"“”]|--|``|''")
CLAUSE_WORDS = frozenset("that which who whom whose because while when whereas although though if unless but and".split())
# Words that may stand before a date that opens its sentence ("But on Friday, ...", "Late Monday, ...").
FRONTING_WORDS = frozenset("on by until since as of early late and but then from starting beginning".split())
CUE_WINDOW = 10  # words either side; a cue farther away belongs to another clause
AFTER_PENALTY = 5  # a cue after the expression is mostly the next clause or a closing ", officials said"
UNTIL = 2  # a cue whose direction the clause's tense decides
MONTH_DAY_REACH = 300  # days: how far back or ahead the sentence's direction may send a month-day


@dataclass(frozen=True)
class Context:
    """The sentence around an expression, as words before and after it (nearest first)."""

    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    before_in_clause: int = 0  # how many of them are in the expression's own clause
    after_in_clause: int = 0
    possessive: bool = False  # "Wednesday's ruling": the weekday names an event, not the verb's time
    main: tuple[str, ...] | None = None  # "On Friday, <main clause>": the clause a fronted date sets the time of
    month: str | None = None  # "April 24 and 25": the month a bare day number shares with the date before it


def normalise_date(
    expression: str,
    published: dt.date | None,
    sentence: str | None = None,
    position: int | None = None,
    anchor: dt.date | None = None,
) -> dt.date | None:
    """The calendar date ``expression`` refers to, read relative to the publication date.

    ``sentence`` (with the expression's ``position`` in it, else its first occurrence) decides
    whether a bare weekday, month-day or holiday lies ahead or behind; ``anchor`` is an event date
    already found, for anaphoric expressions ("the next day"). Without a publication date only
    expressions that carry their own year are resolved: a bare "Tuesday" could be any week.
    """
    context = _context(sentence, expression, position)
    text = _clean(expression)
    if published is None:
        return _explicit_with_year(text) if YEAR_RE.search(text) else None
    return _resolve(text, published, context, anchor)


def date_in_text(text: str, start: int, end: int, published: dt.date | None) -> dt.date | None:
    """The date of the expression at ``text[start:end]``, read with its sentence; an anaphoric one
    is counted from the last date mentioned before it in that sentence or the one before."""
    sentence, offset, previous = sentence_around(text, start, end)
    expression = text[start:end]
    anchor = None
    if published is not None and is_anaphoric(_clean(expression), _context(sentence, expression, start - offset)):
        anchor = find_anchor(previous + " " + sentence[: start - offset], published)
    return normalise_date(expression, published, sentence, start - offset, anchor)


# Sentences --------------------------------------------------------------------------------------

# Only the words near the expression matter, so a few-line splitter is enough: a period ends a
# sentence when a capital letter or quote follows and the word before it is not an abbreviation
# ("Jan. 14", "Mr. Smith", "U.S. officials"); newlines always end one. No NLP model, no
# dependency, microseconds per call.
BOUNDARY_RE = re.compile(r"[.!?][\"'’”)]*\s+(?=[\"'‘“`(]*[A-Z])|\n\s*")
SENTENCE_REACH = 1500  # characters either side of the expression; a longer sentence is cut there
ABBREVIATIONS = frozenset(
    """jan feb mar apr jun jul aug sep sept oct nov dec mr mrs ms dr st sen rep gov gen lt col sgt capt
    maj cmdr adm jr sr prof rev mt ft no vs inc corp co ltd""".split()
)


def sentence_around(text: str, start: int, end: int) -> tuple[str, int, str]:
    """The sentence of ``text`` that holds ``text[start:end]``, where it starts, and the sentence
    before it ('' for the first). Only a stretch around the expression is read, so the cost does not
    grow with the article."""
    low, high = max(0, start - SENTENCE_REACH), min(len(text), end + SENTENCE_REACH)
    bounds = [low]
    for match in BOUNDARY_RE.finditer(text, low, high):
        if start < match.end() and match.start() < end:
            continue  # never cut the expression itself
        if match.group(0)[0] == "." and "\n" not in match.group(0):
            word_start = match.start()
            while word_start > max(low, match.start() - 12) and (text[word_start - 1].isalnum() or text[word_start - 1] in "._"):
                word_start -= 1
            word = text[word_start : match.start()]
            if word.lower() in ABBREVIATIONS or "." in word or len(word) == 1:
                continue
        bounds.append(match.end())
    bounds.append(high)
    for index in range(len(bounds) - 1):
        if bounds[index] <= start < bounds[index + 1] or index == len(bounds) - 2:
            previous = text[bounds[index - 1] : bounds[index]] if index else ""
            sentence = text[bounds[index] : bounds[index + 1]]
            lead = len(sentence) - len(sentence.lstrip())
            return sentence.strip(), bounds[index] + lead, previous.strip()
    return text[low:high], low, ""


def _context(sentence: str | None, expression: str, position: int | None) -> Context:
    if not sentence:
        return Context()
    if position is None or sentence[position : position + len(expression)].lower() != expression.lower():
        position = sentence.lower().find(expression.lower())
        if position < 0:
            return Context()
    before = TOKEN_RE.findall(sentence[:position].replace("’", "'"))[::-1]
    after = TOKEN_RE.findall(sentence[position + len(expression) :].replace("’", "'"))

    def words(tokens: list[str]) -> tuple[str, ...]:
        # "May" is the month, "may" the modal verb
        return tuple("<may>" if token == "May" else token.lower() for token in tokens if token[0].isalpha())

    def clause(tokens: list[str]) -> int:  # words up to the first punctuation mark or subordinator
        count = 0
        for token in tokens:
            if not token[0].isalpha() or token.lower() in CLAUSE_WORDS:
                break
            count += 1
        return count

    rest = sentence[position + len(expression) :]
    possessive = bool(re.match(r"['’]s\b", rest)) or bool(re.search(r"['’]s$", expression))
    main = None
    if after[:1] == [","] and all(not t[0].isalpha() or t.lower() in FRONTING_WORDS for t in before):
        main_tokens = after[1:]
        if main_tokens and main_tokens[0].lower() in CLAUSE_WORDS:  # "On Friday, when ..., the minister said"
            comma = next((i for i, t in enumerate(main_tokens) if t == ","), len(main_tokens))
            main_tokens = main_tokens[comma + 1 :]
        main = words(main_tokens)
    shared = SHARED_MONTH_RE.search(sentence[max(0, position - 40) : position])
    month = shared.group("month") if shared else None
    return Context(words(before), words(after), clause(before), clause(after), possessive, main, month)


def _clean(expression: str) -> str:
    text = re.sub(r"['’]s\b", "", expression.strip())
    text = re.sub(r"\s+", " ", text)
    return LEADING_WORDS_RE.sub("", text).strip(" ,.")


# Direction -------------------------------------------------------------------------------------


def direction(context: Context) -> int:
    """+1 when the words around the expression point ahead of the publication day, -1 behind, 0 when
    none of them says. A cue in the expression's own clause wins ("officials said that on Monday the
    talks resume"); failing that the nearest one in the sentence."""
    if context.main is not None:  # a date opening the sentence is the time of its main clause
        for index in range(min(CUE_WINDOW, len(context.main))):
            way = _cue(context.main, index, reverse=False, main_clause=True)
            if way:
                return 1 if way == UNTIL else way
        return 0
    way = _nearest_cue(context, context.before_in_clause, context.after_in_clause)
    if way == 0:
        way = _nearest_cue(context, CUE_WINDOW, CUE_WINDOW)
    if way == UNTIL:
        past_perfect = "had" in context.before[:CUE_WINDOW] or "had" in context.after[:CUE_WINDOW]
        return -1 if past_perfect else 1
    return way


def _nearest_cue(context: Context, before: int, after: int) -> int:
    best: tuple[float, int] = (float("inf"), 0)
    for words, reach, penalty in ((context.before, before, 0), (context.after, after, AFTER_PENALTY)):
        for distance in range(1, min(reach, CUE_WINDOW, len(words)) + 1):
            way = _cue(words, distance - 1, reverse=words is context.before)
            if way:
                if distance + penalty < best[0]:
                    best = (distance + penalty, way)
                break
    return best[1]


def _cue(words: tuple[str, ...], index: int, reverse: bool, main_clause: bool = False) -> int:
    """+1, -1, UNTIL or 0 for the word at ``index`` (before-words are stored nearest first)."""
    word = words[index]

    def at(n: int) -> str:  # the word n places later in reading order (n < 0: earlier)
        place = index - n if reverse else index + n
        return words[place] if 0 <= place < len(words) else ""

    for phrase in FORWARD_PHRASES:
        if word == phrase[0] and all(at(n) == part for n, part in enumerate(phrase[1:], start=1)):
            return 1
    if word in BOUNDARY_WORDS:
        return UNTIL
    if word in NOUN_LIKE_VERBS and (at(-1) in DETERMINERS or at(1) == "of"):
        return 0  # a noun ("the end of", "her plans"), not a verb
    if main_clause and word.endswith("ed") and word in FORWARD_WORDS:
        return -1  # "On Friday, the government planned to pay": the planning was that day
    if word in FORWARD_WORDS or word.endswith("'ll") or word == "won't":
        return 1
    if word in BACKWARD_WORDS:
        return -1
    regular = len(word) > 4 and word.endswith("ed") and not word.endswith("eed") and word not in NOT_PAST
    if regular or word in IRREGULAR_PAST:
        if at(-1) in DETERMINERS:
            return 0  # "the flooded region" describes, it does not tell
        if at(-1) in ("be", "being"):
            return 0  # a passive, "will be held": its modal (farther out) tells
        return -1
    return 0


def _pick(day_before: dt.date, day_after: dt.date, published: dt.date, way: int, reach: int | None = None) -> dt.date:
    """Of the nearest occurrence on or before and on or after the publication day, the one the
    sentence points to (when it is within ``reach`` days), else the nearer one."""
    if day_before == published:
        return published
    if way < 0 and (reach is None or (published - day_before).days <= reach):
        return day_before
    if way > 0 and (reach is None or (day_after - published).days <= reach):
        return day_after
    return day_before if (published - day_before) <= (day_after - published) else day_after


# Kinds of expression ---------------------------------------------------------------------------


def kind(expression: str) -> str:
    """weekday, month-day, relative or other: the groups ``eval-dates`` reports."""
    text = _clean(expression)
    if MONTH_DAY_RE.search(text) or DAY_MONTH_RE.search(text):
        return "month-day"
    lowered = text.lower()
    if _holiday_key(lowered) is not None:
        return "other"
    if WEEKDAY_RE.search(text):
        return "weekday"
    if lowered in DEICTIC or re.search(
        r"\b(day|days|today|tonight|tomorrow|yesterday|ago|earlier|later|morning|night|week|weeks|month|months|year|years)\b",
        lowered,
    ):
        return "relative"
    return "other"


def is_anaphoric(text: str, context: Context = Context()) -> bool:
    """Whether the expression counts from another event's date ("the next day", "a year earlier")."""
    lowered = text.lower()
    if lowered in DEICTIC:
        return False
    if SAME_DAY_RE.match(lowered) or NEXT_DAY_RE.match(lowered) or PREVIOUS_DAY_RE.match(lowered):
        return True
    if SHIFT_RE.match(lowered):
        return True
    day_shift = DAY_BEFORE_AFTER_RE.match(lowered)
    if day_shift:  # "the day after Christmas" is not anaphoric, "the day after his death" is
        return _resolve_plain(day_shift.group("rest"), dt.date(2000, 1, 1), Context()) is None
    return bool(BARE_SHIFT_RE.match(lowered)) and bool(context.after) and context.after[0] in ("before", "after", "earlier", "later")


# Resolution -------------------------------------------------------------------------------------


def _resolve(text: str, published: dt.date, context: Context, anchor: dt.date | None) -> dt.date | None:
    lowered = text.lower()
    day_shift = DAY_BEFORE_AFTER_RE.match(text)
    if day_shift:
        sign = 1 if day_shift.group("way").lower() == "after" else -1
        base = _resolve_plain(day_shift.group("rest"), published, context)
        if base is None:
            base = anchor if anchor is not None and _refers_to_event(day_shift.group("rest")) else None
        return base + dt.timedelta(days=sign) if base else None
    if is_anaphoric(lowered, context):
        return _anaphoric(lowered, context, anchor)
    return _resolve_plain(text, published, context)


def _refers_to_event(rest: str) -> bool:
    return not re.search(r"\d", rest)


def _anaphoric(lowered: str, context: Context, anchor: dt.date | None) -> dt.date | None:
    if anchor is None:
        return None
    if SAME_DAY_RE.match(lowered):
        return anchor
    if NEXT_DAY_RE.match(lowered):
        return anchor + dt.timedelta(days=1)
    if PREVIOUS_DAY_RE.match(lowered):
        return anchor - dt.timedelta(days=1)
    shift = SHIFT_RE.match(lowered)
    if shift:
        way = shift.group("way")
    else:
        shift = BARE_SHIFT_RE.match(lowered)
        way = context.after[0]
    amount = _amount(shift.group("count") or "1", shift.group("unit"))
    if amount is None:
        return None
    return anchor + amount if way in ("later", "after") else anchor - amount


def _amount(count: str, unit: str) -> relativedelta | None:
    number = int(count) if count.isdigit() else NUMBERS.get(count)
    if number is None:
        return None
    if unit == "fortnight":
        return relativedelta(weeks=2 * number)
    return relativedelta(**{unit + "s": number})


def _resolve_plain(text: str, published: dt.date, context: Context) -> dt.date | None:
    """Expressions that need no anchor."""
    lowered = text.lower()
    if lowered in DEICTIC:
        return published + dt.timedelta(days=DEICTIC[lowered])
    found = _month_day(text, published, context)
    if found is not None:
        return found
    bare_day = BARE_DAY_RE.match(lowered)
    if bare_day and context.month:
        return _month_day(f"{context.month} {bare_day.group('day')}", published, context)
    ago = AGO_RE.match(lowered)
    if ago:
        amount = _amount(ago.group("count"), ago.group("unit"))
        return published - amount if amount else None
    ahead = AHEAD_RE.match(lowered)
    if ahead:
        amount = _amount(ahead.group("count") or ahead.group("count2"), ahead.group("unit") or ahead.group("unit2"))
        return published + amount if amount else None
    if WEEKEND_RE.match(lowered):
        return _weekend(lowered, published, context)
    holiday = _holiday_key(lowered)  # before weekdays: "Good Friday"
    if holiday is not None and not YEAR_RE.search(text):
        return _holiday(holiday, published, _direction_in(lowered, context))
    weekday = WEEKDAY_RE.search(text)
    if weekday and not YEAR_RE.search(text):
        return _weekday(WEEKDAYS.index(weekday.group(1).lower()), lowered, published, context)
    return _dateparser(text, published)


def _direction_in(lowered: str, context: Context) -> int:
    """The direction the expression's own words give ("next", "last", "this past"), else the sentence's."""
    if re.search(r"\b(next|coming|upcoming)\b", lowered):
        return 1
    if re.search(r"\b(last|past|previous)\b", lowered):
        return -1
    return direction(context)


def _weekday(named: int, lowered: str, published: dt.date, context: Context) -> dt.date:
    ahead = (named - published.weekday()) % 7
    behind = (published.weekday() - named) % 7
    if re.search(r"\bnext\b", lowered):  # "next Tuesday": the first one after today
        return published + dt.timedelta(days=ahead or 7)
    if re.search(r"\blast\b", lowered):
        return published - dt.timedelta(days=behind or 7)
    if ahead == 0:  # "on Wednesday" in a Wednesday paper means that day
        return published
    if context.possessive:  # "Wednesday's ruling" is the nearest one: the verbs around it are not its time
        return published + dt.timedelta(days=ahead) if ahead < behind else published - dt.timedelta(days=behind)
    way = _direction_in(lowered, context)
    return published + dt.timedelta(days=ahead) if way > 0 else published - dt.timedelta(days=behind)


def _weekend(lowered: str, published: dt.date, context: Context) -> dt.date:
    """The Saturday of the weekend the publication day is in, else of the one just past or coming."""
    way = _direction_in(lowered, context)
    if published.weekday() >= 5:  # published on a Saturday or Sunday: that weekend, unless "next"
        saturday = published - dt.timedelta(days=published.weekday() - 5)
        return saturday + dt.timedelta(days=7) if re.search(r"\b(next|coming|upcoming)\b", lowered) else saturday
    ahead = 5 - published.weekday()
    if way > 0:
        return published + dt.timedelta(days=ahead)
    return published + dt.timedelta(days=ahead - 7)


def _month_day(text: str, published: dt.date | None, context: Context) -> dt.date | None:
    match = MONTH_DAY_RE.search(text) or DAY_MONTH_RE.search(text)
    if match is None:
        return None
    month = MONTH_NUMBERS[match.group("month")[:3].lower()]
    day = int(match.group("day"))
    if match.group("year"):
        try:
            return dt.date(int(match.group("year")), month, day)
        except ValueError:
            return None
    if published is None:
        return None
    candidates = []
    for year in (published.year - 1, published.year, published.year + 1):
        try:
            candidates.append(dt.date(year, month, day))
        except ValueError:  # 29 February, 31 April
            continue
    if not candidates:
        return None
    weekday = WEEKDAY_RE.search(text)
    if weekday:  # "Tuesday, 8 November": the year in which that day is a Tuesday
        named = WEEKDAYS.index(weekday.group(1).lower())
        matching = [candidate for candidate in candidates if candidate.weekday() == named]
        if matching:
            return min(matching, key=lambda candidate: abs((candidate - published).days))
    before = max((c for c in candidates if c <= published), default=candidates[0])
    after = min((c for c in candidates if c >= published), default=candidates[-1])
    return _pick(before, after, published, _direction_in(text.lower(), context), reach=MONTH_DAY_REACH)


def _explicit_with_year(text: str) -> dt.date | None:
    found = _month_day(text, None, Context())
    return found if found is not None else _dateparser(text, None)


# Holidays --------------------------------------------------------------------------------------

# Names people write for the holidays in the library's US calendar (it spells them "Thanksgiving
# Day", "Easter Sunday", "Washington's Birthday"). US because floating holidays such as
# Thanksgiving differ by country and the newswire this is measured on is American; the fixed ones
# (Christmas, New Year) are the same everywhere.
HOLIDAY_ALIASES = {
    "thanksgiving": "thanksgiving day",
    "christmas": "christmas day",
    "xmas": "christmas day",
    "easter": "easter sunday",
    "new year": "new year day",
    "new years": "new year day",
    "new year day": "new year day",
    "fourth of july": "independence day",
    "july fourth": "independence day",
    "presidents day": "washington birthday",
    "martin luther king day": "martin luther king jr day",
    "mlk day": "martin luther king jr day",
    "valentine day": "valentine day",
    "st patrick day": "saint patrick day",
}


def _holiday_name(name: str) -> str:
    name = re.sub(r"['’]s\b|['’.,]", "", name.lower())
    name = re.sub(r"\bst\b", "saint", name) if "patrick" in name else name
    return re.sub(r"\s+", " ", name).strip()


@functools.lru_cache(maxsize=64)
def _holidays_of(year: int) -> dict[str, dt.date]:
    import holidays  # imported on first use: most expressions are not holidays

    calendar = holidays.US(years=year, observed=False, categories=holidays.US.supported_categories)
    days = {_holiday_name(part): day for day, names in calendar.items() for part in names.split("; ")}
    # US general elections are held every November on the Tuesday after the first Monday (the
    # library lists that day only for some years and states).
    first_monday = dt.date(year, 11, 1) + dt.timedelta(days=(0 - dt.date(year, 11, 1).weekday()) % 7)
    days.setdefault("election day", first_monday + dt.timedelta(days=1))
    return days


@functools.lru_cache(maxsize=1)
def _holiday_keys() -> tuple[str, ...]:
    names = set(_holidays_of(2000)) | set(HOLIDAY_ALIASES)
    return tuple(sorted(names, key=len, reverse=True))


HOLIDAY_HINT_RE = re.compile(
    r"thanksgiving|christmas|xmas|easter|new year|independence|fourth of july|july fourth|memorial day|labor day|"
    r"veterans|columbus|martin luther king|mlk|washington|presidents|valentine|halloween|patrick|good friday|"
    r"mother|father|groundhog|juneteenth|election day",
    re.IGNORECASE,
)


def _holiday_key(lowered: str) -> str | None:
    if not HOLIDAY_HINT_RE.search(lowered):  # cheap test before the library's calendar is built
        return None
    name = _holiday_name(lowered)
    for key in _holiday_keys():
        if re.search(rf"\b{re.escape(key)}\b", name):
            return HOLIDAY_ALIASES.get(key, key)
    return None


def _holiday(key: str, published: dt.date, way: int) -> dt.date | None:
    days = sorted(
        day for year in (published.year - 1, published.year, published.year + 1)
        if (day := _holidays_of(year).get(key)) is not None
    )  # fmt: skip
    if not days:
        return None
    before = max((day for day in days if day <= published), default=days[0])
    after = min((day for day in days if day >= published), default=days[-1])
    return _pick(before, after, published, way)


# Anchors and the rest ---------------------------------------------------------------------------

ANCHOR_RE = re.compile(
    rf"\b(?:{MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTH}\b"
    rf"(?:,?\s+\d{{4}})?|(?:last\s+|next\s+)?(?:{'|'.join(WEEKDAYS)})|today|yesterday|tomorrow|tonight)\b",
    re.IGNORECASE,
)


def find_anchor(text: str, published: dt.date) -> dt.date | None:
    """The date of the last date expression in ``text`` that names a day on its own."""
    for match in reversed(list(ANCHOR_RE.finditer(text))):
        if match.group(0)[:3].lower() == "may" and not match.group(0)[0].isupper():
            continue  # the verb "may", not the month
        found = normalise_date(match.group(0), published, text, match.start())
        if found is not None:
            return found
    return None


def _dateparser(text: str, published: dt.date | None) -> dt.date | None:
    if published is None and not YEAR_RE.search(text):
        return None
    return _parse(text, published or dt.date.today())


@functools.lru_cache(maxsize=4096)
def _parse(text: str, published: dt.date) -> dt.date | None:
    # The end of the publication day, so "6am" means that morning, not the previous one.
    base = dt.datetime.combine(published, dt.time(23, 59))
    settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past", "RETURN_AS_TIMEZONE_AWARE": False}
    found = dateparser.parse(text, languages=["en"], settings=settings)
    if found is None:
        from dateparser.search import search_dates

        matches = search_dates(text, languages=["en"], settings=settings) or []
        found = matches[0][1] if matches else None
    return found.date() if found is not None else None
