"""The real `summarizer serve` process, as a user starts it, answering over a socket."""

from __future__ import annotations

import httpx

from tests.conftest import dev_articles, request_body
from tests.test_api import assert_grounded


def test_served_api_summarises_a_real_article(server: str):
    article = dev_articles()[6]
    response = httpx.post(f"{server}/v1/summaries", json=request_body(article), timeout=120)
    assert response.status_code == 200, response.text
    assert_grounded(response.json(), article["text"])


def test_served_api_rejects_bad_input_with_problem_json(server: str):
    response = httpx.post(f"{server}/v1/summaries", content=b"{", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


def test_served_docs_render_from_local_assets(server: str):
    assert httpx.get(f"{server}/docs").status_code == 200
    assert httpx.get(f"{server}/static/swagger-ui/swagger-ui-bundle.js").status_code == 200
