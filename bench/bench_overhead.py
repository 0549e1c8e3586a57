"""Share of `evaluate` wall time spent outside the LLM (target: under 5%).

Runs `evaluate` on the HuffPost dev split with the embedded model already loaded (model
loading is LLM time, and happens once per process), for none, bm25, recency and dense,
and compares the time inside `generate` with the whole call. Outside the LLM: reading
data, retrieval (dense encodes every distinct profile text once), prompt building with the
model's tokenizer, journaling and scoring.

    python bench/bench_overhead.py [--limit 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pergen.llm import get_model
from pergen.run.pipeline import evaluate

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "huffpost_headlines"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--model", default="smollm2")
    args = parser.parse_args()
    t0 = time.perf_counter()
    model = get_model(args.model)
    print(f"model load: {time.perf_counter() - t0:.1f}s (not counted below)")
    retrievers = ["none", "bm25", "recency", "dense"]
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        runs = evaluate(DATA, "dev", retrievers, out, model=model, limit=args.limit,
                        progress=False)
        wall = time.perf_counter() - t0
    llm = sum(r.llm_seconds for r in runs.values())
    print(f"questions: {args.limit} x {len(retrievers)} retrievers, model {args.model}")
    print(f"evaluate wall: {wall:.1f}s  inside LLM: {llm:.1f}s  outside: {wall - llm:.2f}s "
          f"= {100 * (wall - llm) / wall:.2f}% (target < 5%)")
    for name, run in runs.items():
        print(f"  {name:8s} total {run.total_seconds:6.1f}s  llm {run.llm_seconds:6.1f}s  "
              f"{run.metrics}")


if __name__ == "__main__":
    main()
