"""ROPG feedback signals: the paper's metric (generate, then score) vs log-likelihood.

Both signals score the same (question, item) pairs with the same embedded LLM, in the same
process. Prints pairs per second (and the speed ratio) and how well the two agree: the
mean per-question Spearman correlation over the l items, and how often both pick the same
best item (ties in the metric count as agreement when loglik's pick is among them).

    python bench/bench_feedback_signals.py [--limit 12] [--depth 16]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from statistics import fmean

from scipy.stats import spearmanr

from pergen.llm import get_model
from pergen.training.feedback import FeedbackStore, collect_feedback

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
SETS = {"huffpost": (DATA / "huffpost_headlines", None),
        "tweets": (DATA / "troll_tweets_authorship",
                   str(REPO / "examples" / "tasks" / "tweet_authorship.toml"))}


def agreement(metric: FeedbackStore, loglik: FeedbackStore) -> tuple[float, float, int]:
    """Mean Spearman rho over questions where the metric varies, top-1 agreement, and the
    number of such questions."""
    lv = loglik.values()
    rhos, same = [], []
    for qid, pairs in metric.by_question().items():
        m = [p.value for p in pairs]
        ll = [lv[(qid, p.item)] for p in pairs]
        if len(set(m)) < 2:
            continue  # every item scored alike: nothing to agree on
        rhos.append(float(spearmanr(m, ll).statistic))
        best = max(range(len(ll)), key=ll.__getitem__)
        same.append(m[best] == max(m))
    return (fmean(rhos) if rhos else float("nan"), fmean(same) if same else float("nan"),
            len(rhos))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=12, help="train questions per data set")
    ap.add_argument("--depth", type=int, default=16)
    ap.add_argument("--sets", nargs="+", default=list(SETS))
    args = ap.parse_args()
    model = get_model("smollm2")
    for name in args.sets:
        data, task = SETS[name]
        with tempfile.TemporaryDirectory() as tmp:
            stores, rates = {}, {}
            for signal in ("metric", "loglik"):
                t0 = time.perf_counter()
                stores[signal] = collect_feedback(data, "train", Path(tmp) / signal, model=model,
                                                  signal=signal, depth=args.depth, task=task,
                                                  limit=args.limit, progress=False)
                n = len(stores[signal].done())
                rates[signal] = n / (time.perf_counter() - t0)
            rho, top1, n_q = agreement(stores["metric"], stores["loglik"])
        print(f"{name}: {n} pairs; metric {rates['metric']:.2f} pairs/s, loglik "
              f"{rates['loglik']:.2f} pairs/s ({rates['loglik'] / rates['metric']:.1f}x); "
              f"Spearman {rho:.3f} and same best item {top1:.2f} over {n_q} questions where "
              f"the metric varies", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
