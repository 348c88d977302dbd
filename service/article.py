"""The vocabulary every backend shares: an article, how the model sees it, and what it answered.

Positions in a ``Draft`` point into ``Layout.source`` (title, blank line, text window), the same
for every backend, so grounding and validation are written once. Torch-free on purpose: the
'openai' backend and the command line use it without loading a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service.prompts import Prompts


@dataclass(frozen=True)
class Article:
    text: str
    title: str | None = None
    published: str | None = None  # ISO date, as shown to the model


@dataclass(frozen=True)
class Span:
    """A value taken from the article: its text, where it starts in the source, how probable the
    ranker found it and its calibrated confidence (both None where no ranker chose it)."""

    text: str
    position: int
    probability: float | None = None
    confidence: float | None = None


@dataclass
class Draft:
    """What the model answered, with positions in ``source`` (title, blank line, text window)."""

    who: list[Span]
    what: Span | None
    when: Span | None
    where: list[Span]
    source: str
    text_offset: int  # where the article text starts in source
    window_chars: int  # how much of the article text the model read
    truncated: bool
    prompt_tokens: int
    generated_tokens: int = 0  # tokens the model wrote (backend 'openai'; the local model writes none)
    scored_tokens: int = 0  # candidate tokens the model scored (local backend)
    timings_ms: dict[str, float] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)  # answers not found in the article


@dataclass(frozen=True)
class Layout:
    """An article as the model reads it: the source answers are copied from, and the user prompt.

    ``source`` is the title, a blank line, then the first ``window_chars`` of the text; both
    backends lay articles out this way, so positions in it mean the same everywhere.
    """

    source: str
    text_offset: int  # where the article text starts in source
    window_chars: int
    truncated: bool
    user: str

    @classmethod
    def of(cls, article: Article, window_chars: int, prompts: Prompts) -> Layout:
        """``article`` with its text cut after ``window_chars`` characters."""
        title = (article.title or "").strip()
        window = article.text[:window_chars]
        return cls(
            source=f"{title}\n\n{window}" if title else window,
            text_offset=len(title) + 2 if title else 0,
            window_chars=window_chars,
            truncated=window_chars < len(article.text),
            user=prompts.user(window, title or None, article.published),
        )


def sentence_cut(text: str, limit: int) -> int:
    """Where to cut ``text`` at or before ``limit``: a sentence end, else a word end."""
    if limit >= len(text):
        return len(text)
    cut = max(text.rfind(mark, 0, limit) + 1 for mark in (". ", ".\n", "\n"))
    if cut < limit * 0.6:
        cut = text.rfind(" ", 0, limit)
    return cut if cut > 0 else limit


def lead_end(source: str, start: int, chars: int) -> int:
    """End of the lead: the first ``chars`` characters after ``start``, finished to the sentence end."""
    if len(source) - start <= chars:
        return len(source)
    stops = [source.find(mark, start + chars) for mark in (". ", ".\n", "\n")]
    found = [stop + 1 for stop in stops if stop != -1]
    return min(found) if found else len(source)
