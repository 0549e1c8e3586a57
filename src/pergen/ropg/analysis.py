"""Retrieval-level view of ROPG: how useful, to the LLM, are the items each retriever ranks
first? Feedback is collected once for the union of the retrievers' top items (so shared
items are scored once), then each retriever's top-1 and top-k items are looked up.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from statistics import fmean

from ..data.splits import load_split, resolve_task
from ..llm import DEFAULT_MODEL
from ..llm.base import Generator
from ..retrievers import rank_many
from ..run.steps import build_retrievers, rank_request
from ..tasks import TaskSpec
from ..training.feedback import collect_feedback


def retrieval_feedback(data_dir: str | Path, split: str, retrievers: Sequence[str],
                       out_dir: str | Path, model: str | Generator = DEFAULT_MODEL,
                       signal: str = "loglik", depths: Sequence[int] = (1, 4),
                       task: str | TaskSpec | None = None, limit: int | None = None,
                       progress: bool = True) -> dict[str, dict[str, float]]:
    """Mean feedback of each retriever's top-d items, for each d in `depths`, per question
    then averaged over questions: ``{retriever: {"top1": .., "top4": ..}}``."""
    deepest = max(depths)
    built = build_retrievers(retrievers)  # once: dense embeddings are cached across both uses
    store = collect_feedback(data_dir, split, out_dir, model=model, retriever=list(retrievers),
                             signal=signal, depth=deepest, task=task, limit=limit,
                             progress=progress, retrievers=built)
    values = store.values()
    spec = resolve_task(data_dir, split, task)
    questions = load_split(data_dir, split, limit, task=spec)
    requests = [rank_request(spec, q) for q in questions]
    table: dict[str, dict[str, float]] = {}
    for name, retriever in built.items():
        ranked = rank_many(retriever, requests)
        table[name] = {
            f"top{d}": fmean(fmean(values[(q.id, s.item.id)] for s in r[:d])
                             for q, r in zip(questions, ranked) if r)
            for d in depths}
    return table
