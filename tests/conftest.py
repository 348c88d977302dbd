"""Shared fixtures. The real embedded model is loaded once per test session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from service.api.app import create_app
from service.settings import Settings
from service.summarizer import Summarizer
from service.tools.subprocess_server import serve_in_subprocess

DEV_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "giveme5w1h-dev.jsonl"


def dev_articles() -> list[dict]:
    """Real annotated news articles (read in place from the shared data folder)."""
    with DEV_FILE.open(encoding="utf-8") as rows:
        return [json.loads(row) for row in rows]


def request_body(article: dict) -> dict:
    """A SummaryRequest for a dev article: its text, headline and publication date."""
    return {"text": article["text"], "title": article["title"], "published_at": article["date_publish"][:10]}


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def summarizer(settings: Settings) -> Summarizer:
    return Summarizer.load(settings)


@pytest.fixture(scope="session")
def client(settings: Settings, summarizer: Summarizer) -> Iterator[TestClient]:
    with TestClient(create_app(settings, summarizer=summarizer)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    """A real `summarizer serve` process on a free loopback port, ready to answer."""
    with serve_in_subprocess() as running:
        yield running.url
