"""Engine x model x data set: quality, seconds per answer, peak memory and load time.

Each (model, engine) runs in its own process, so its peak resident memory is its own
(``os.wait4``), and its results go to a resumable run folder per data set under ``--out``
(rerun the same command to continue after an interruption). HuffPost dev: ROUGE-1 and
gold-loglik without profile and with BM25 top-4; tweets dev: accuracy and gold-loglik with
``--label-mode calibrate``. Trivial baselines (copy-input, always the first label) are
scored on the same questions and printed beside the models.

    python bench/compare_engines.py --models smollm2:transformers smollm2:llama.cpp \\
        qwen2.5-coder-1.5b:llama.cpp --limit 40
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PERGEN_SHARED_DATA", ROOT.parent / "shared" / "data"))
TWEET_TASK = ROOT / "examples" / "tasks" / "tweet_authorship.toml"
SETS = {
    "huffpost": (SHARED / "huffpost_headlines", {}, "rouge-1"),
    "tweets": (SHARED / "troll_tweets_authorship",
               {"task": str(TWEET_TASK), "label_mode": "calibrate"}, "accuracy"),
}


def worker(model_spec: str, sets: list[str], limit: int | None, out: Path,
           threads: int | None) -> None:
    """Load the model once (timed), evaluate it on each set, print one JSON line per set."""
    from pergen.llm import get_model
    from pergen.run.pipeline import evaluate

    t0 = time.perf_counter()
    model = get_model(model_spec, **({"threads": threads} if threads else {}))
    load_s = time.perf_counter() - t0
    for name in sets:
        data, options, metric = SETS[name]
        # confidence="none": seconds per answer count the answer and its gold-loglik only.
        runs = evaluate(data, "dev", ["none", "bm25"], out / name, model=model, limit=limit,
                        progress=True, confidence="none", **options)
        row: dict[str, Any] = {"set": name, "load_s": load_s}
        for r, run in runs.items():
            n = len(run.per_example.get(metric, []))
            # Seconds over the questions answered by this process: a resumed run's earlier
            # answers were timed by the process that gave them (None: nothing left to do).
            row[r] = {"metric": run.metrics.get(metric), "gold_loglik": run.metrics.get("gold-loglik"),
                      "s_per_answer": run.llm_seconds / run.answered if run.answered else None,
                      "n": n}
        print("RESULT " + json.dumps(row), flush=True)


def trivial(sets: list[str], limit: int | None, out: Path) -> dict[str, tuple[str, float]]:
    """copy-input's ROUGE-1 on HuffPost; on the tweets, always answering the most frequent
    gold label (what a model that ignores the input at best scores)."""
    from pergen.run.pipeline import evaluate

    rows = {}
    for name in sets:
        data, options, metric = SETS[name]
        if name == "huffpost":
            runs = evaluate(data, "dev", ["none"], out / "trivial-huffpost", model="copy-input",
                            limit=limit, progress=False, gold_loglik=False, confidence="none")
            rows[name] = ("copy-input", runs["none"].metrics[metric])
            continue
        golds = [g["output"] for g in json.loads((data / "dev_outputs.json").read_text())["golds"]]
        golds = golds[:limit] if limit else golds
        top = max(set(golds), key=golds.count)
        rows[name] = (f'always "{top}"', golds.count(top) / len(golds))
    return rows


def run_one(spec: str, sets: list[str], limit: int | None, out: Path,
            threads: int | None) -> list[dict[str, Any]]:
    cmd = [sys.executable, __file__, "--worker", spec, "--sets", *sets, "--out", str(out)]
    if threads:
        cmd += ["--threads", str(threads)]
    if limit:
        cmd += ["--limit", str(limit)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    rows = [json.loads(line[7:]) for line in proc.stdout if line.startswith("RESULT ")]
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise SystemExit(f"{spec} failed (status {status})")
    for r in rows:
        r["peak_rss_gb"] = usage.ru_maxrss / 2**20  # KiB on Linux
    return rows


def _seconds(cell: dict[str, Any]) -> str:
    return "resumed" if cell["s_per_answer"] is None else f"{cell['s_per_answer']:.2f}"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--models", nargs="+", default=["smollm2:transformers", "smollm2:llama.cpp"])
    p.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "engines")
    p.add_argument("--threads", type=int, default=None, help="CPU threads per model")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a.worker, a.sets, a.limit, a.out / a.worker.replace(":", "-"), a.threads)
    base = trivial(a.sets, a.limit, a.out)
    print("| model:engine | set | n | load s | peak GB | none | bm25 | gold-loglik none | "
          "gold-loglik bm25 | s/answer none | s/answer bm25 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, (label, value) in base.items():
        print(f"| {label} (trivial) | {name} | | | | {value:.4f} | | | | | |")
    for spec in a.models:
        for r in run_one(spec, a.sets, a.limit, a.out, a.threads):
            none, bm25 = r["none"], r["bm25"]
            print(f"| {spec} | {r['set']} | {none['n']} | {r['load_s']:.1f} | {r['peak_rss_gb']:.2f} "
                  f"| {none['metric']:.4f} | {bm25['metric']:.4f} | {none['gold_loglik']:.3f} | "
                  f"{bm25['gold_loglik']:.3f} | {_seconds(none)} | {_seconds(bm25)} |", flush=True)


if __name__ == "__main__":
    main()
