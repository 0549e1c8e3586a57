"""`rank`: the LaMP ranking file `{question_id: [profile_item_id, ...]}`, best first."""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from ..data.splits import check_split, load_split, resolve_task
from ..retrievers import rank_many
from ..tasks import TaskSpec
from .settings import check_retrievers
from .steps import build_retrievers, rank_request
from .storage import atomic_write_json


def rank(data_dir: str | Path, split: str, retriever: str, out: str | Path | None = None,
         task: str | TaskSpec | None = None, limit: int | None = None, with_date: bool = False,
         batch_size: int = 64, progress: bool = True) -> dict[str, list[str]]:
    """Rank every question's whole profile; write the ranking file when `out` is given.

    `none` has no order of its own: its ranking is the profile in file order.
    """
    check_retrievers([retriever], option="retriever", selectors=False)
    check_split(data_dir, split)
    spec = resolve_task(data_dir, split, task)
    ret = build_retrievers([retriever])[retriever]
    questions = load_split(data_dir, split, limit, task=spec)
    ranking: dict[str, list[str]] = {}
    for start in tqdm(range(0, len(questions), batch_size), disable=not progress, desc=retriever,
                      unit="batch"):
        batch = questions[start:start + batch_size]
        requests = [rank_request(spec, q, with_date) for q in batch]
        for q, scored in zip(batch, rank_many(ret, requests)):
            ids = [s.item.id for s in scored]
            ranking[q.id] = ids if ids or not q.profile else [i.id for i in q.profile]
    if out is not None:
        atomic_write_json(out, ranking)
    return ranking
