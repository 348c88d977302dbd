"""The walk through one answer: the engine writes the JSON, the model decides each value.

Keys, quotes and brackets come from the ``Skeleton``; the model only decides:

* whether a list has (another) item: a ``branch`` between skeleton continuations;
* who and where: values copied token by token under a ``SpanConstraint`` over the article's lead;
* what and when: the ``best_of`` candidate spans (endings of the headline, the first time
  expressions), each scored whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from service.article import Layout, Span, lead_end
from service.backends.local.constraint import SpanConstraint, TokenTable
from service.backends.local.decoder import ABANDONED, Decoder, Step
from service.candidates import first_time_spans, headline_spans, place_spans
from service.schemas import ANSWER_FIELDS
from service.settings import Settings

Encode = Callable[[str], list[int]]  # text to token ids, without special tokens


@dataclass(frozen=True)
class Skeleton:
    """Token ids of the JSON the engine writes around the values.

    Options of one decision differ in their first token; the model's score for that token picks.
    """

    open_who: list[int]
    who_open: list[list[int]]  # [items follow, empty list then "what"]
    who_close: list[list[int]]  # after an item: [another item, end of list then "what"]
    what_close: list[int]
    when_open: list[list[int]]  # [a time expression follows, null then "where"]
    when_close: list[int]
    where_open: list[list[int]]  # [items follow, empty list and end]
    where_close: list[list[int]]  # [another item, end]

    @classmethod
    def build(cls, encode: Encode) -> Skeleton:
        # The keys, in the answer's one key order, as json.dumps writes them (see prompts.answer_json).
        who, what, when, where = (json.dumps(name) + ":" for name in ANSWER_FIELDS)
        skeleton = cls(
            open_who=encode("{" + who),
            who_open=[encode(' ["'), encode(f' [], {what} "')],
            who_close=[encode('", "'), encode(f'"], {what} "')],
            what_close=encode(f'", {when}'),
            when_open=[encode(' "'), encode(f" null, {where}")],
            when_close=encode(f'", {where}'),
            where_open=[encode(' ["'), encode(" []}")],
            where_close=[encode('", "'), encode('"]}')],
        )
        # when_open is written, never chosen: the engine knows whether there are time expressions.
        decisions = (skeleton.who_open, skeleton.who_close, skeleton.where_open, skeleton.where_close)
        for options in decisions:
            if len({option[0] for option in options}) != len(options):
                raise ValueError("this tokenizer merges the JSON skeleton's options; the engine cannot tell them apart")
        return skeleton


@dataclass
class Decisions:
    """One request's decisions: the spans the model chose and how many decisions it made."""

    who: list[Span]
    what: Span | None
    when: Span | None
    where: list[Span]
    generated: int


class Walker:
    """Walks articles through the answer with one tokenizer's skeleton and vocabulary."""

    def __init__(self, skeleton: Skeleton, table: TokenTable, encode: Encode, settings: Settings) -> None:
        self.skeleton = skeleton
        self.table = table
        self.encode = encode
        self.settings = settings

    def walk(self, layout: Layout, prompt_ids: list[int]) -> Generator[Step, Any, Decisions]:
        """Every decision for one article, in the order the JSON is written; model steps are yielded.

        ``prompt_ids`` are the article's prompt after the shared prefix; the answer starts after them.
        """
        source, text_offset = layout.source, layout.text_offset
        in_text = (text_offset, len(source))
        lead = (text_offset, lead_end(source, text_offset, self.settings.lead_chars))
        # The event description is copied from the headline, or without one from the first sentence.
        headline = (0, text_offset - 2) if text_offset else (0, lead_end(source, 0, 1))
        skeleton, settings = self.skeleton, self.settings
        decoder = Decoder()
        yield from decoder.feed(prompt_ids + skeleton.open_who)
        who = yield from self._span_list(
            decoder, lambda: SpanConstraint.over(source, self.table, lead), skeleton.who_open, skeleton.who_close
        )
        headlines = [
            (start, end) for start, end in headline_spans(source, headline)
            if len(source[start:end].split()) <= settings.max_what_words and end - start <= 12 * settings.max_what_words
        ][: settings.headline_candidates]
        what = yield from self._candidate(decoder, source, headlines, skeleton.what_close, text_offset)
        # A time expression when the article has one; the model picks which.
        times = first_time_spans(source, in_text, settings.time_candidates)
        yield from decoder.feed(skeleton.when_open[0 if times else 1])
        when = (yield from self._candidate(decoder, source, times, skeleton.when_close, text_offset)) if times else None
        places = place_spans(source, lead)
        # Places are decoded token by token among the candidates: on the dev set that beat
        # scoring each candidate whole (where F1 0.66 against 0.60).
        where = yield from self._span_list(
            decoder, lambda: SpanConstraint.among(source, self.table, places) if places else None,
            skeleton.where_open, skeleton.where_close,
        )
        return Decisions(who=who, what=what, when=when, where=where, generated=decoder.generated)

    def _candidate(
        self, decoder: Decoder, source: str, spans: list[tuple[int, int]], closer: list[int], prefer_from: int
    ) -> Generator[Step, Any, Span | None]:
        """The candidate span the model finds most probable as a whole value, then ``closer``."""
        if not spans:
            yield from decoder.feed(closer)
            return None
        first_at: dict[str, int] = {}
        for start, end in sorted(spans, key=lambda span: (span[0] < prefer_from, span[0])):
            first_at.setdefault(source[start:end], start)
        texts = list(first_at)
        best = yield from decoder.best_of([self.encode(text) + closer for text in texts])
        return Span(texts[best], first_at[texts[best]])

    def _span_list(
        self,
        decoder: Decoder,
        constraint_for_item: Callable[[], SpanConstraint | None],
        opening: list[list[int]],
        closing: list[list[int]],
    ) -> Generator[Step, Any, list[Span]]:
        """A list of copied values: the model decides whether it has items and when it ends.

        With nothing to copy from (``constraint_for_item`` gives None) the list is written empty.
        """
        items: list[Span] = []
        first = constraint_for_item()
        if first is None:
            yield from decoder.feed(opening[1])
            return items
        if (yield from decoder.branch(opening)) != 0:
            return items
        constraint = first
        max_items = self.settings.max_items
        for count in range(1, max_items + 1):
            last = count == max_items
            # At the item limit only the end of the list may follow.
            closed = yield from decoder.copy_span(
                constraint, [closing[1]] if last else closing, self.settings.max_span_tokens
            )
            if closed == ABANDONED:
                yield from decoder.feed(closing[1])
                break
            span = _first_occurrence(constraint)
            if span and all(span.text.lower() != item.text.lower() for item in items):
                items.append(span)
            if last or closed == 1:
                break
            constraint = constraint_for_item()  # type: ignore[assignment]
        return items


def _first_occurrence(constraint: SpanConstraint) -> Span | None:
    """The finished value at its first whole-word occurrence."""
    positions = constraint.closed_positions()
    return Span(constraint.value, positions[0]) if positions else None
