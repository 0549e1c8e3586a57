"""BM25 ranking of every question of both shared data sets: pergen against rank_bm25.

The baseline is what a direct port of the paper's code does, wrapped in pergen's protocol:
per question ``sort_scored(profile, BM25Okapi([d.split() for d in docs]).get_scores(q))``.
pergen's `bm25` ranks the same requests in batches of 64 (as ``pergen rank`` does), once
with a fresh retriever per split ("cold": every text tokenized during the timing) and
once with one retriever per data set, dev then train ("shared": the train split reuses
the texts dev tokenized). Each timing is the best of --repeat runs, interleaved, because
other processes share the machine. Rankings (item order) and scores must be identical.

    python bench/bench_bm25.py [--data ../shared/data] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from pathlib import Path

from rank_bm25 import BM25Okapi

from pergen.data import load_questions, questions_path
from pergen.retrievers import RankRequest, sort_scored
from pergen.retrievers.bm25 import BM25Retriever
from pergen.tasks import get_task

REPO = Path(__file__).resolve().parents[1]
SETS = [("huffpost_headlines", "LaMP_4"),
        ("troll_tweets_authorship", str(REPO / "examples" / "tasks" / "tweet_authorship.toml"))]
SPLITS = ("dev", "train")
BATCH = 64


def requests_of(data: Path, task_name: str, split: str) -> list[RankRequest]:
    task = get_task(task_name)
    return [RankRequest(task.query(q.input), q.profile, [task.document(i) for i in q.profile])
            for q in load_questions(questions_path(data, split))]


def baseline(requests: list[RankRequest]) -> list:
    return [sort_scored(r.profile, BM25Okapi([d.split() for d in r.docs])
                        .get_scores(r.query.split())) if r.docs else [] for r in requests]


def pergen(ret: BM25Retriever, requests: list[RankRequest]) -> list:
    out = []
    for start in range(0, len(requests), BATCH):
        out += ret.rank_many(requests[start:start + BATCH])
    return out


def timed(fn, *args) -> tuple[float, list]:
    gc.collect()
    t0 = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t0, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = {(name, split): requests_of(args.data / name, task, split)
            for name, task in SETS for split in SPLITS}
    best: dict[tuple[str, str, str], float] = {}
    identical = True
    for _ in range(args.repeat):
        for name, _task in SETS:
            shared = BM25Retriever()
            for split in SPLITS:
                reqs = data[(name, split)]
                t_ref, ref = timed(baseline, reqs)
                t_cold, cold = timed(pergen, BM25Retriever(), reqs)
                t_shared, warm = timed(pergen, shared, reqs)
                for key, t in (("rank_bm25", t_ref), ("cold", t_cold), ("shared", t_shared)):
                    best[(name, split, key)] = min(best.get((name, split, key), t), t)
                want = [[(s.item.id, s.score) for s in r] for r in ref]
                identical &= want == [[(s.item.id, s.score) for s in r] for r in cold]
                identical &= want == [[(s.item.id, s.score) for s in r] for r in warm]

    print(f"BM25 ranking, best of {args.repeat}, {os.cpu_count()} CPUs; pergen batches of "
          f"{BATCH}")
    print(f"{'data set':26} {'split':6} {'questions':>9} {'items':>7} {'rank_bm25 s':>11} "
          f"{'cold s':>8} {'x':>6} {'shared s':>9} {'x':>6}")
    totals = {"rank_bm25": 0.0, "cold": 0.0, "shared": 0.0}
    for name, _task in SETS:
        for split in SPLITS:
            reqs = data[(name, split)]
            t = {k: best[(name, split, k)] for k in totals}
            for k in totals:
                totals[k] += t[k]
            print(f"{name:26} {split:6} {len(reqs):9d} {sum(len(r.docs) for r in reqs):7d} "
                  f"{t['rank_bm25']:11.3f} {t['cold']:8.3f} {t['rank_bm25'] / t['cold']:6.1f} "
                  f"{t['shared']:9.3f} {t['rank_bm25'] / t['shared']:6.1f}")
    print(f"{'all':26} {'':6} {sum(map(len, data.values())):9d} "
          f"{sum(len(r.docs) for v in data.values() for r in v):7d} "
          f"{totals['rank_bm25']:11.3f} {totals['cold']:8.3f} "
          f"{totals['rank_bm25'] / totals['cold']:6.1f} {totals['shared']:9.3f} "
          f"{totals['rank_bm25'] / totals['shared']:6.1f}")
    print(f"rankings and scores identical to rank_bm25: {identical}")


if __name__ == "__main__":
    main()
