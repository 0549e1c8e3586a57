"""The cost of one loglik feedback pair with the default model, per prompt variant.

ROPG and RSPG on the 1.5B (issue 22) need thousands of (question, item) scorings; this
measures what one costs on the same train questions and items, in one process (the model
loaded once), for three prompts: the paper's template (the baseline: the item before the
question), the same with the item after the question (the prompts of one question then
share their start, which llama.cpp's prefix cache evaluates once) and chat demonstrations.
It prints pairs per second, prompt tokens per pair, the speed against the baseline, and
whether each variant ranks the items as the baseline does (mean per-question Spearman
rho, same best item): a faster prompt is only usable for feedback if it ranks alike.

    python bench/bench_feedback_cost.py [--limit 6] [--depth 8] [--sets huffpost tweets]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from statistics import fmean
from typing import Any

from scipy.stats import spearmanr

from pergen.llm import DEFAULT_MODEL, get_model
from pergen.training.feedback import FeedbackStore, collect_feedback

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
SETS = {"huffpost": (DATA / "huffpost_headlines", None),
        "tweets": (DATA / "troll_tweets_authorship",
                   str(REPO / "examples" / "tasks" / "tweet_authorship.toml"))}
# (name, prompt style, profile position); the first is the baseline
VARIANTS = (("paper", "paper", "before"), ("paper-after", "paper", "after"),
            ("chat", "chat", "before"))


def same_ranking(a: FeedbackStore, b: FeedbackStore) -> tuple[float, float]:
    """Mean per-question Spearman rho between two stores over the same pairs, and how often
    they pick the same best item."""
    bv = b.values()
    rhos, same = [], []
    for qid, pairs in a.by_question().items():
        x = [p.value for p in pairs]
        y = [bv[(qid, p.item)] for p in pairs]
        if len(pairs) > 1:
            rhos.append(float(spearmanr(x, y).statistic))
        same.append(max(range(len(x)), key=x.__getitem__) == max(range(len(y)), key=y.__getitem__))
    return fmean(rhos), fmean(same)


class Meter:
    """Wraps the model's scoring: the prompt length of every pair and the seconds spent in
    the LLM (retriever setup, ranking and the journal are not the cost measured here)."""

    def __init__(self, model: Any) -> None:
        self.tokens: list[int] = []
        self.seconds = 0.0
        cls = type(model)

        def prompt_ids(request: Any) -> list[int]:
            ids = cls.prompt_ids(model, request)
            self.tokens.append(len(ids))
            return ids

        def loglik(requests: Any, targets: Any) -> list[float]:
            t0 = time.perf_counter()
            try:
                return cls.loglik(model, requests, targets)
            finally:
                self.seconds += time.perf_counter() - t0

        model.prompt_ids, model.loglik = prompt_ids, loglik


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=6, help="train questions per data set")
    ap.add_argument("--depth", type=int, default=8, help="items per question")
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--model", default=DEFAULT_MODEL)
    args = ap.parse_args()
    model = get_model(args.model)
    for name in args.sets:
        data, task = SETS[name]
        with tempfile.TemporaryDirectory() as tmp:
            stores, rate, tokens = {}, {}, {}
            for variant, style, position in VARIANTS:
                meter = Meter(model)
                stores[variant] = collect_feedback(
                    data, "train", Path(tmp) / variant, model=model, signal="loglik",
                    depth=args.depth, task=task, limit=args.limit, progress=False,
                    prompt_style=style, position=position)
                rate[variant] = len(meter.tokens) / meter.seconds
                tokens[variant] = fmean(meter.tokens)
            base = VARIANTS[0][0]
            n = len(stores[base].done())
            print(f"{name} ({model.name}, {n} pairs = {args.limit} questions x up to "
                  f"{args.depth} items)", flush=True)
            for variant, _, _ in VARIANTS:
                rho, top1 = same_ranking(stores[base], stores[variant])
                print(f"  {variant:12s} {rate[variant]:.3f} pairs/s ({1 / rate[variant]:.2f} s/pair,"
                      f" {tokens[variant]:.0f} prompt tokens), speed {rate[variant] / rate[base]:.2f}x"
                      f" the paper's; item ranking vs the paper's: Spearman {rho:.3f}, same best "
                      f"item {top1:.2f}", flush=True)


if __name__ == "__main__":
    main()
