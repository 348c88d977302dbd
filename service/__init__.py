"""News summarizer API: who/what/when/where of a news article, grounded in its text."""

__version__ = "0.1.0"
