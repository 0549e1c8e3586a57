"""The cost of one loglik feedback pair with the default model, per prompt style.

ROPG and RSPG on the 1.5B (issue 22) need thousands of (question, item) scorings; this
measures what one costs with the paper's template and with chat demonstrations, on the same
train questions and items, in one process (the model loaded once): pairs per second, prompt
tokens per pair, the ratio, and whether the two styles rank the items alike (mean
per-question Spearman rho, same best item).

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
STYLES = ("paper", "chat")


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
            for style in STYLES:
                meter = Meter(model)
                stores[style] = collect_feedback(
                    data, "train", Path(tmp) / style, model=model, signal="loglik",
                    depth=args.depth, task=task, limit=args.limit, progress=False,
                    prompt_style=style)
                rate[style] = len(meter.tokens) / meter.seconds
                tokens[style] = fmean(meter.tokens)
            rho, top1 = same_ranking(stores["paper"], stores["chat"])
            n = len(stores["paper"].done())
        print(f"{name} ({model.name}, {n} pairs = {args.limit} questions x up to {args.depth} "
              f"items): paper {rate['paper']:.2f} pairs/s ({1 / rate['paper']:.2f} s/pair, "
              f"{tokens['paper']:.0f} prompt tokens), chat {rate['chat']:.2f} pairs/s "
              f"({1 / rate['chat']:.2f} s/pair, {tokens['chat']:.0f} tokens); chat/paper speed "
              f"{rate['chat'] / rate['paper']:.2f}x; item rankings: Spearman {rho:.3f}, same "
              f"best item {top1:.2f}", flush=True)


if __name__ == "__main__":
    main()
