"""The wheel is the whole service: prompt templates and static files included, and the installed
package reads them from itself, not from a checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from service.prompts import TEMPLATE_FILES, load_prompts

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built from a copy of what the Dockerfile copies."""
    source, dist = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("service", "prompts"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", str(source), "-w", str(dist)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    (built,) = dist.glob("*.whl")
    return built


def test_the_wheel_ships_the_prompt_templates_and_the_web_page(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"service/prompt_templates/{name}" for name in TEMPLATE_FILES} <= names
    assert {"service/api/static/page/index.html", "service/api/static/swagger-ui/swagger-ui-bundle.js"} <= names


def test_the_installed_package_reads_its_own_prompt_templates(wheel: Path, tmp_path: Path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        f"import sys; sys.path.insert(0, {str(site)!r})\n"
        "import service.prompts as prompts\n"
        f"assert prompts.__file__.startswith({str(site)!r}), prompts.__file__\n"
        f"assert {str(site)!r} in str(prompts.template_dir()), prompts.template_dir()\n"
        "print(prompts.load_prompts().version)\n"
    )
    # Run outside the checkout, so that its own service/ and prompts/ cannot be picked up.
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == load_prompts().version
