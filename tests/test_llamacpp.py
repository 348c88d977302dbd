"""The 'openai' backend against a real llama.cpp server (llama-cpp-python's) serving the same
embedded GGUF on loopback: HTTP in, summary out, with no model in this process.

Runs in `make test` and `.ci/run`; `make test LLAMACPP=0` skips it (and the build it needs).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from service.api.app import create_app
from service.backends.local.loader import embedded_gguf
from service.settings import Settings
from service.tools.subprocess_server import free_port, run_until_ready
from tests.test_api import assert_grounded

pytestmark = pytest.mark.llamacpp

BBC_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "bbc-sample.jsonl"


def bbc_articles() -> list[dict]:
    with BBC_FILE.open(encoding="utf-8") as rows:
        return [json.loads(row) for row in rows]


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on a free loopback port."""
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_gguf()),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
        # One thread: llama.cpp's threads spin-wait, and on a busy 2-core machine two of them stall badly.
        "--n_threads", "1",
        "--model_alias", "smollm2-135m",
    ]
    with run_until_ready(command, f"http://127.0.0.1:{port}", "/v1/models", timeout_s=120) as running:
        yield f"{running.url}/v1"


@pytest.fixture(scope="module")
def remote_client(llama_server: str) -> Iterator[TestClient]:
    settings = Settings(
        backend="openai",
        openai_base_url=llama_server,
        openai_model="smollm2-135m",
        # No response-format setting: llama-cpp-python's server rejects json_schema (422) and the
        # backend switches to {"type": "json_object", "schema": ...} on its own.
        openai_timeout_s=120,
        request_timeout_s=300,
    )
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the openai backend never became ready"
            time.sleep(0.1)
        yield client


@pytest.mark.parametrize("index", [0, 40])
def test_llamacpp_backend_returns_grounded_summaries(remote_client: TestClient, index: int):
    article = bbc_articles()[index]
    response = remote_client.post("/v1/summaries", json={"text": article["text"], "title": article["title"]})
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["model"] == "smollm2-135m"
    assert_grounded(summary, article["text"])
    assert summary["who"] or summary["where"] or summary["what"]["text"], summary
    assert summary["usage"]["prompt_tokens"] > 100 and summary["usage"]["generated_tokens"] > 0


def test_local_and_openai_backends_return_the_same_summary_schema(remote_client: TestClient, client: TestClient):
    article = bbc_articles()[7]
    body = {"text": article["text"], "title": article["title"], "published_at": "2005-03-10"}
    local, remote = client.post("/v1/summaries", json=body), remote_client.post("/v1/summaries", json=body)
    assert local.status_code == remote.status_code == 200, (local.text, remote.text)
    local_summary, remote_summary = local.json(), remote.json()
    assert local_summary.keys() == remote_summary.keys()
    assert local_summary["what"].keys() == remote_summary["what"].keys()
    for summary in (local_summary, remote_summary):
        assert_grounded(summary, article["text"])
