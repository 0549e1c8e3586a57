"""Dense encoding speed and rankings: today's PyTorch encoder against the ONNX backends.

One process. Speed: the same --texts distinct profile texts (half HuffPost dev, half
tweets dev) encoded by each backend in turn, --repeat rounds interleaved (other jobs share
the machine), best round kept, as texts per second and as a ratio to torch. Every backend
uses --threads threads (default: all cores; torch.set_num_threads, ONNX Runtime's
intra-op threads). Rankings: every dev question of HuffPost and tweets (or the first
--limit) ranked by pergen's `dense` retriever on each backend; overlap@4 is the share of
torch's top 4 that the backend also puts in its top 4, averaged over questions.

    python bench/bench_dense.py [--data ../shared/data] [--texts 512] [--repeat 3]
        [--limit N] [--backends torch,onnx,onnx-int8]
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

from pergen.data.lamp import load_questions, questions_path
from pergen.retrievers import RankRequest
from pergen.retrievers.dense import DEFAULT_BACKEND, DenseRetriever, TextEncoder, load_encoder
from pergen.tasks import get_task

REPO = Path(__file__).resolve().parents[1]
SETS = {"huffpost": ("huffpost_headlines", "LaMP_4"),
        "tweets": ("troll_tweets_authorship",
                   str(REPO / "examples" / "tasks" / "tweet_authorship.toml"))}
K = 4


def dev_requests(data: Path, name: str, limit: int | None) -> list[RankRequest]:
    folder, task_name = SETS[name]
    task = get_task(task_name)
    return [RankRequest(task.query(q.input), q.profile, [task.document(i) for i in q.profile])
            for q in load_questions(questions_path(data / folder, "dev"), limit)]


def speed(encoders: dict[str, TextEncoder], texts: list[str], repeat: int,
          batch_size: int) -> dict[str, float]:
    """Best texts/s of each encoder, rounds interleaved (the order alternates)."""
    best: dict[str, float] = {}
    names = list(encoders)
    for round_ in range(repeat):
        for name in names if round_ % 2 == 0 else names[::-1]:
            gc.collect()
            t0 = time.perf_counter()
            encoders[name].encode(texts, batch_size)
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - t0)
    return {name: len(texts) / t for name, t in best.items()}


def top(ranked: list, k: int = K) -> set[str]:
    return {s.item.id for s in ranked[:k]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--texts", type=int, default=512, help="texts timed per round")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32, help="encoder batch size")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--limit", type=int, default=None, help="first N dev questions")
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    args = parser.parse_args()
    backends = args.backends.split(",")
    torch.set_num_threads(args.threads)
    encoders: dict[str, TextEncoder] = {}
    for backend in backends:
        t0 = time.perf_counter()
        encoders[backend] = load_encoder(backend=backend, device="cpu", threads=args.threads)
        print(f"{backend}: loaded in {time.perf_counter() - t0:.1f} s (first load exports "
              "and caches the ONNX file)", flush=True)
    requests = {name: dev_requests(args.data, name, args.limit) for name in SETS}
    half = args.texts // 2
    sample = [t for reqs in requests.values()
              for t in list(dict.fromkeys(d for r in reqs for d in r.docs))[:half]]
    for encoder in encoders.values():
        encoder.encode(sample[:8])  # one-off allocations out of the timing

    rate = speed(encoders, sample, args.repeat, args.batch_size)
    print(f"\nencoding speed: {len(sample)} texts, batch {args.batch_size}, {args.threads} "
          f"threads, {os.cpu_count()} CPUs, best of {args.repeat}")
    print(f"{'backend':10} {'texts/s':>8} {'x torch':>8}")
    for name in backends:
        ratio = f"{rate[name] / rate['torch']:8.2f}" if "torch" in rate else ""
        print(f"{name:10} {rate[name]:8.1f} {ratio}")

    if "torch" not in encoders:
        return
    print(f"\nrankings against torch (overlap@{K}: share of torch's top {K} also in the "
          f"backend's top {K}, mean over questions; default backend: {DEFAULT_BACKEND})")
    print(f"{'data set':9} {'questions':>9} " + " ".join(f"{b:>10}" for b in backends[1:]))
    for name, reqs in requests.items():
        reqs = [r for r in reqs if r.docs]
        ranked = {}
        for backend, encoder in encoders.items():
            ret = DenseRetriever(encoder, batch_size=args.batch_size)
            ranked[backend] = [x for i in range(0, len(reqs), 64)
                               for x in ret.rank_many(reqs[i:i + 64])]
        overlap = {b: float(np.mean([len(top(a) & top(t)) / min(K, len(t))
                                     for a, t in zip(ranked[b], ranked["torch"])]))
                   for b in backends[1:]}
        print(f"{name:9} {len(reqs):9d} " + " ".join(f"{overlap[b]:10.3f}" for b in backends[1:]),
              flush=True)


if __name__ == "__main__":
    main()
