"""The span constraint: a value may only be text that occurs verbatim in the article.

No library constrains generation to "any substring of this document" (grammar engines such as
Outlines compile regular languages; a substring language of a 300-token article would be a huge
automaton per request), so it is written here: the set of article positions a value could still
come from is tracked, and the tokens allowed next are those whose text continues the value at one
of those positions. That keeps it exact for any tokenizer, whichever way it splits the article.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Characters a value never contains: a newline would leave the sentence, a quote would end the
# JSON string the value sits in, a NUL is scraper debris.
FORBIDDEN_CHARS = frozenset('\n\r"\\\x00')


@dataclass(frozen=True)
class TokenTable:
    """The vocabulary as text: which token writes which string."""

    token_by_text: dict[str, int]
    max_chars: int

    @classmethod
    def from_texts(cls, texts: Iterable[tuple[int, str]], max_chars: int = 24) -> TokenTable:
        token_by_text: dict[str, int] = {}
        for token_id, text in texts:
            if not text or "\ufffd" in text or len(text) > max_chars or FORBIDDEN_CHARS & set(text):
                continue
            # Keep the lowest id for a string: BPE merges rank common strings first.
            token_by_text.setdefault(text, token_id)
        return cls(token_by_text, max(map(len, token_by_text), default=1))


def is_word_start(source: str, position: int) -> bool:
    return source[position].isalnum() and (position == 0 or not source[position - 1].isalnum())


def is_word_end(source: str, position: int) -> bool:
    """True when a value ending just before ``position`` ends on a whole word."""
    if position == 0 or (position < len(source) and source[position].isalnum()):
        return False
    last = source[position - 1]
    if last.isalnum() or last in ")%":
        return True
    # A full stop only as part of an abbreviation such as "U.S.", not as the end of a sentence.
    return last == "." and position >= 2 and source[position - 2].isupper()


@dataclass
class SpanConstraint:
    """Tracks one value being generated as a growing substring of ``source``.

    ``ranges`` are the (start, end) stretches of the source a value may be copied from. A free
    constraint lets the value start at any of them and stop at any word end before ``end``; an
    exact one (candidate spans) only lets it stop at ``end``.
    """

    source: str
    table: TokenTable
    ranges: list[tuple[int, int]]
    exact: bool = False
    value: str = ""

    @classmethod
    def over(cls, source: str, table: TokenTable, region: tuple[int, int] | None = None) -> SpanConstraint:
        """Values that start at any word start within ``region`` and stay inside it."""
        begin, end = region or (0, len(source))
        return cls(source, table, [(p, end) for p in range(begin, end) if is_word_start(source, p)])

    @classmethod
    def among(cls, source: str, table: TokenTable, spans: list[tuple[int, int]]) -> SpanConstraint:
        """Values that are exactly one of the candidate ``spans``."""
        return cls(source, table, sorted(set(spans)), exact=True)

    def allowed(self) -> dict[int, str]:
        """Tokens that keep the value a substring of the source, with the text each adds."""
        allowed: dict[int, str] = {}
        source, table, offset = self.source, self.table, len(self.value)
        for start, end in self.ranges:
            begin = start + offset
            for stop in range(begin + 1, min(begin + table.max_chars, end) + 1):
                piece = source[begin:stop]
                if piece[-1] in FORBIDDEN_CHARS:
                    break
                token_id = table.token_by_text.get(piece)
                if token_id is not None:
                    allowed[token_id] = piece
        return allowed

    def advance(self, piece: str) -> None:
        offset = len(self.value)
        kept = [(s, e) for s, e in self.ranges if s + offset + len(piece) <= e and self.source.startswith(piece, s + offset)]
        if not kept:
            raise ValueError(f"{piece!r} does not continue {self.value!r} anywhere in the source")
        self.ranges = kept
        self.value += piece

    def _closable(self, start: int, end: int) -> bool:
        stop = start + len(self.value)
        return stop == end if self.exact else is_word_end(self.source, stop)

    def can_close(self) -> bool:
        """The value may end here: it is non-empty and ends where a value may end."""
        return bool(self.value) and any(self._closable(s, e) for s, e in self.ranges)

    def closed_positions(self) -> list[int]:
        """Where the finished value occurs in the source."""
        return sorted({s for s, e in self.ranges if self._closable(s, e)})
