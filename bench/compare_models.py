"""Choose the embedded default LLM by measurement: quality and speed on the shared dev sets.

For each offline model, runs `evaluate` on the first N dev questions of HuffPost
headlines (generation, ROUGE) and troll-tweet authorship (binary choice by label
likelihood), with no personalization and with BM25 top-4, and times the LLM.

    python bench/compare_models.py --models smollm2 gemma3-270m qwen2.5-coder-0.5b
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pergen.llm import get_model
from pergen.run.pipeline import evaluate

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TWEET_TASK = Path(__file__).resolve().parents[1] / "examples" / "tasks" / "tweet_authorship.toml"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["smollm2", "gemma3-270m",
                                                        "qwen2.5-coder-0.5b"])
    parser.add_argument("--headlines", type=int, default=40)
    parser.add_argument("--tweets", type=int, default=60)
    args = parser.parse_args()
    print("| model | load s | HuffPost R-1 none | R-1 bm25 | s / headline | tweets acc none "
          "| acc bm25 | s / choice |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models:
        t0 = time.perf_counter()
        model = get_model(name)
        load = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as out:
            h = evaluate(SHARED / "huffpost_headlines", "dev", ["none", "bm25"], Path(out) / "h",
                         model=model, limit=args.headlines, progress=False)
            t = evaluate(SHARED / "troll_tweets_authorship", "dev", ["none", "bm25"],
                         Path(out) / "t", task=str(TWEET_TASK), model=model, limit=args.tweets,
                         progress=False)
        per_h = sum(r.llm_seconds for r in h.values()) / (2 * args.headlines)
        per_t = sum(r.llm_seconds for r in t.values()) / (2 * args.tweets)
        print(f"| {name} | {load:.1f} | {h['none'].metrics['rouge-1']:.4f} | "
              f"{h['bm25'].metrics['rouge-1']:.4f} | {per_h:.2f} | "
              f"{t['none'].metrics['accuracy']:.3f} | {t['bm25'].metrics['accuracy']:.3f} | "
              f"{per_t:.2f} |", flush=True)


if __name__ == "__main__":
    main()
