"""The real `summarizer serve` process, as a user starts it, answering over a socket."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import dev_articles, request_body
from tests.test_api import assert_grounded


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read().decode()
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the server did not become ready in 180 s")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


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
