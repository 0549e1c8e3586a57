"""Dense retrieval of the HuffPost dev split: the embedding cache against re-encoding.

Both runs use the same all-MiniLM-L6-v2 encoder in this process and rank every dev
question in batches of --questions (64, as ``pergen rank`` does), batch by batch in turn.
"cached" is pergen's `dense`: each
distinct text (profile item or query) is encoded once per run. "re-encode" encodes each
question's query and profile afresh, as a per-question loop does. Reports seconds, texts
encoded, their ratios, and how far the two rankings differ (batch padding changes the
floats slightly, so near-ties may swap).

    python bench/bench_dense.py [--data ../shared/data/huffpost_headlines] [--limit N]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from pergen.data import load_questions, questions_path
from pergen.retrievers import RankRequest
from pergen.retrievers.dense import DenseRetriever
from pergen.retrievers.encoder import Encoder
from pergen.tasks import get_task

REPO = Path(__file__).resolve().parents[1]


def run_interleaved(cached: DenseRetriever, naive: DenseRetriever, requests: list[RankRequest],
                    batch: int) -> dict[str, tuple[float, int, list]]:
    """Rank batch by batch with both retrievers, alternating which goes first.

    Other processes share this machine; interleaving gives both runs the same load.
    """
    runs = {"cached": cached, "re-encode": naive}
    seconds = dict.fromkeys(runs, 0.0)
    texts = dict.fromkeys(runs, 0)
    ranked: dict[str, list] = {name: [] for name in runs}
    for i, start in enumerate(range(0, len(requests), batch)):
        chunk = requests[start:start + batch]
        for name in (list(runs) if i % 2 == 0 else list(runs)[::-1]):
            before = runs[name].encoder.texts_encoded
            t0 = time.perf_counter()
            ranked[name] += runs[name].rank_many(chunk)
            seconds[name] += time.perf_counter() - t0
            texts[name] += runs[name].encoder.texts_encoded - before
    return {name: (seconds[name], texts[name], ranked[name]) for name in runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=REPO.parent / "shared" / "data" / "huffpost_headlines")
    parser.add_argument("--limit", type=int, default=None, help="first N dev questions")
    parser.add_argument("--batch-size", type=int, default=32, help="encoder batch size")
    parser.add_argument("--questions", type=int, default=64, help="questions per rank_many")
    args = parser.parse_args()
    task = get_task("LaMP_4")
    questions = load_questions(questions_path(args.data, "dev"), args.limit)
    requests = [RankRequest(task.query(q.input), q.profile,
                            [task.document(i) for i in q.profile]) for q in questions]
    encoder = Encoder.load(device="cpu")
    encoder.encode(["warm-up"])  # first call pays one-off allocations: keep it out
    result = run_interleaved(DenseRetriever(encoder, batch_size=args.batch_size),
                             DenseRetriever(encoder, batch_size=args.batch_size, cache=False),
                             requests, args.questions)
    (t_cache, n_cache, cached), (t_naive, n_naive, naive) = result["cached"], result["re-encode"]
    same = sum([s.item.id for s in a] == [s.item.id for s in b] for a, b in zip(cached, naive))
    diff = max((abs(x - y) for a, b in zip(cached, naive)
                for x, y in zip(sorted(s.score for s in a), sorted(s.score for s in b))),
               default=0.0)
    items = sum(len(r.docs) for r in requests)
    print(f"dense (all-MiniLM-L6-v2, mean pooling, dot product), HuffPost dev: "
          f"{len(requests)} questions, {items} profile items, {os.cpu_count()} CPUs, "
          f"{args.questions} questions per batch, encoder batch {args.batch_size}")
    print(f"{'run':10} {'seconds':>8} {'texts encoded':>14} {'texts/s':>8}")
    for name, t, n in (("cached", t_cache, n_cache), ("re-encode", t_naive, n_naive)):
        print(f"{name:10} {t:8.2f} {n:14d} {n / t:8.1f}")
    print(f"ratio re-encode/cached: {t_naive / t_cache:.2f}x time, "
          f"{n_naive / n_cache:.2f}x texts")
    print(f"identical rankings: {same}/{len(requests)} questions; "
          f"max |score difference| {diff:.2e}")
    assert np.isfinite(diff)


if __name__ == "__main__":
    main()
