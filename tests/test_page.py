"""The web page in a real browser (Debian's Chromium driven by Playwright) against a live server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import dev_articles

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser() -> Browser:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: .ci/run installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 900, "height": 1200})
    opened = context.new_page()
    yield opened
    context.close()


def test_pasted_article_is_summarised_and_highlighted_at_the_api_offsets(server: str, page: Page, tmp_path: Path):
    article = dev_articles()[0]
    page.goto(f"{server}/")
    page.fill("#title", article["title"])
    page.fill("#published", "2016-11-09")
    page.fill("#text", article["text"])
    page.click("#summarize")
    page.wait_for_selector("#result:not([hidden])", timeout=120_000)
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)

    api = httpx.post(
        f"{server}/v1/summaries",
        json={"text": article["text"], "title": article["title"], "published_at": "2016-11-09"},
        timeout=120,
    ).json()
    expected = {
        (item["start"], item["end"], field)
        for field in ("who", "what", "when", "where")
        for item in (api[field] if isinstance(api[field], list) else [api[field]] if api[field] else [])
        if item["start"] is not None
    }
    marks = page.eval_on_selector_all(
        "mark", "els => els.map(e => [Number(e.dataset.start), Number(e.dataset.end), e.className, e.textContent])"
    )
    assert marks, "the answers are highlighted"
    for start, end, classes, text in marks:
        assert text == article["text"][start:end]
        for field in classes.replace("multi", "").split():
            assert any(s <= start and end <= e and f == field for s, e, f in expected), (start, end, field)
    covered = {(start, end) for start, end, _, _ in marks}
    for start, end, _ in expected:
        inside = sorted((s, e) for s, e in covered if start <= s and e <= end)
        assert inside and inside[0][0] == start and inside[-1][1] == end, "each answer is highlighted whole"
    assert page.text_content("#who") == "; ".join(item["text"] for item in api["who"])
    assert "s" in page.text_content("#meta")


def test_errors_are_shown_in_words(server: str, page: Page):
    page.goto(f"{server}/")
    page.fill("#text", "   ")
    page.click("#summarize")
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    assert "empty or only whitespace" in page.text_content("#error")


def test_an_uploaded_jsonl_file_is_summarised_with_a_progress_bar_and_its_results_downloaded(server: str, page: Page, tmp_path: Path):
    articles = [
        {"id": "oslo", "text": "Heavy snow closed roads in Oslo on Monday, the Norwegian Public Roads Administration said."},
        {"id": "blank", "text": "   "},
        {"id": "lyon", "text": "Firefighters in Lyon put out a blaze at a bakery on Tuesday.", "published_at": "2024-03-06"},
    ]
    source = tmp_path / "articles.jsonl"
    source.write_text("".join(json.dumps(article) + "\n" for article in articles))
    page.goto(f"{server}/")
    page.set_input_files("#jsonl", str(source))
    page.click("#upload-button")
    page.wait_for_selector("#upload-download:not([hidden])", timeout=120_000)
    assert page.eval_on_selector("#upload-progress", "p => [p.value, p.max]") == [3, 3]
    assert "3 of 3" in page.text_content("#upload-status") and "1 with a problem" in page.text_content("#upload-status")
    with page.expect_download() as download:
        page.click("#upload-download")
    lines = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert [(line["index"], line["id"], line["status"]) for line in lines] == [(0, "oslo", 200), (1, "blank", 422), (2, "lyon", 200)]
    for line in (lines[0], lines[2]):
        for item in line["summary"]["who"] + line["summary"]["where"]:
            assert articles[line["index"]]["text"][item["start"] : item["end"]] == item["text"]


def test_docs_render_with_everything_but_localhost_blocked(server: str, page: Page):
    blocked: list[str] = []

    def only_localhost(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_localhost)
    page.goto(f"{server}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    operations = page.eval_on_selector_all(".opblock-summary-path", "els => els.map(e => e.textContent)")
    assert any("/v1/summaries" in path for path in operations)
    assert blocked == []
