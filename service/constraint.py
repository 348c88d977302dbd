"""The span constraint: a value may only be text that occurs verbatim in the article.

No library constrains generation to "any substring of this document" (grammar engines such as
Outlines compile regular languages; a substring language of a 300-token article would be a huge
automaton per request), so it is written here: the set of article positions a value could still
come from is tracked, and the tokens allowed next are those whose text continues the value at one
of those positions. That keeps it exact for any tokenizer, whichever way it splits the article.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# Characters a value never contains: a newline would leave the sentence, a quote would end the
# JSON string the value sits in.
FORBIDDEN_CHARS = frozenset('\n\r"\\')


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

    ``starts`` are the positions a value may begin at (word starts within the allowed region).
    """

    source: str
    table: TokenTable
    starts: list[int]
    value: str = ""
    positions: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.positions = list(self.starts)

    @classmethod
    def over(cls, source: str, table: TokenTable, region: tuple[int, int] | None = None) -> SpanConstraint:
        """A constraint whose values start at word starts within ``region`` of ``source``."""
        begin, end = region or (0, len(source))
        return cls(source, table, [p for p in range(begin, end) if is_word_start(source, p)])

    def allowed(self) -> dict[int, str]:
        """Tokens that keep the value a substring of the source, with the text each adds."""
        allowed: dict[int, str] = {}
        source, table, offset = self.source, self.table, len(self.value)
        for position in self.positions:
            begin = position + offset
            for end in range(begin + 1, min(begin + table.max_chars, len(source)) + 1):
                piece = source[begin:end]
                if FORBIDDEN_CHARS & set(piece[-1]):
                    break
                token_id = table.token_by_text.get(piece)
                if token_id is not None:
                    allowed[token_id] = piece
        return allowed

    def advance(self, piece: str) -> None:
        offset = len(self.value)
        self.positions = [p for p in self.positions if self.source.startswith(piece, p + offset)]
        self.value += piece
        if not self.positions:
            raise ValueError(f"{piece!r} does not continue {self.value!r} anywhere in the source")

    def can_close(self) -> bool:
        """The value may end here: it is non-empty and ends on a whole word somewhere."""
        return bool(self.value) and any(is_word_end(self.source, p + len(self.value)) for p in self.positions)

    def closed_positions(self) -> list[int]:
        """Where the finished value occurs in the source, ending on a whole word."""
        return [p for p in self.positions if is_word_end(self.source, p + len(self.value))]

    def words(self) -> int:
        return len(self.value.split())
