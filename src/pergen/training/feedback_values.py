"""Feedback values without their text: carry a store across machines, or share it.

A `FeedbackStore` journal holds the query and document text of every pair: the data set's
text, which must stay out of a repository (and may be private). The values are what cost
CPU-hours. `save_values` writes the store's key and one ``[question, item, rank, value]``
row per pair (ids and numbers only); `load_values` rebuilds the full records from the data
set (the query and the item's document, as `collect_feedback` writes them), so a
collection into that store resumes after the last pair saved. A store collected
``--with-date`` is rebuilt with ``with_date=True``.

A per-retriever (RSPG) record's document is a whole prompt: it is rebuilt by ranking with
the store's retrievers and cutting the prompt with its model's tokenizer
(`retriever_records`), so the model must be installed and the prompt settings must be the
collection's (checked against the store's template digest). Answers are not kept: a
per-item metric store trains ROPG from values alone, but RSPG-Post learns from a
per-retriever metric store's answers, so such a store is refused rather than rebuilt
without them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ..data.splits import load_split, resolve_task
from ..errors import ConfigError, DataError
from ..retrievers import RankRequest
from ..run.config import RunConfig
from ..run.steps import rank_request
from ..run.storage import atomic_write_text
from ..tasks import TaskSpec
from .feedback import retriever_records
from .feedback_store import FeedbackKey, FeedbackStore, Pair


def save_values(store_dir: str | Path, out: str | Path) -> int:
    """Write the store's key and values to `out` atomically; returns the number of pairs."""
    store = FeedbackStore(store_dir)
    if Path(out).is_dir():
        raise ConfigError(f"{{option}} {out} is a folder; give the values file to write",
                          option="out")
    rows = [json.dumps([p.question, p.item, p.rank, p.value]) for p in store.pairs()]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "\n".join([json.dumps({"key": asdict(store.key)}), *rows]) + "\n")
    return len(rows)


def _rows(values: Path) -> tuple[FeedbackKey, list[tuple[int, list[Any]]]]:
    """The key and the (line number, row) of a values file, each checked for its shape."""
    try:
        lines = values.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"{{option}} {values}: no such file (write one with "
                          "`pergen feedback-save`)", option="values") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read the values file: {e}", file=str(values)) from None
    try:
        key = FeedbackKey(**json.loads(lines[0])["key"])
    except (IndexError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise DataError(f"no store key on the first line ({e})", file=str(values),
                        record="line 1") from None
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        try:
            row = json.loads(line)
            ok = (isinstance(row, list) and len(row) == 4 and all(isinstance(x, str) for x in row[:2])
                  and isinstance(row[2], int) and isinstance(row[3], (int, float)))
        except json.JSONDecodeError:
            ok = False
        if not ok:
            raise DataError("expected [question, item, rank, value]", file=str(values),
                            record=f"line {n}")
        rows.append((n, row))
    return key, rows


def load_values(values: str | Path, store_dir: str | Path, data: str | Path, split: str,
                task: str | TaskSpec | None = None, with_date: bool = False,
                **prompt_settings: Any) -> int:
    """Rebuild the store's records for the saved values (text from the `split` of `data`);
    returns the number of pairs. Every row is checked before the store is written.
    `prompt_settings` (max_length, label_mode, prompt_style) are the collection's, needed
    only to rebuild a per-retriever store's prompts."""
    RunConfig.build(**prompt_settings)  # a wrong value is refused for every kind of store
    key, rows = _rows(Path(values))
    if key.unit == "retriever":
        pairs = _from_retriever_rows(key, rows, values, data, split, task,
                                     with_date=with_date, **prompt_settings)
    else:
        pairs = _from_item_rows(rows, values, data, split, task, with_date)
    store = FeedbackStore(store_dir, key)
    done = store.done()
    store.add([p for p in pairs if store.pair_id(p.question, p.item) not in done])
    return len(pairs)


def _from_retriever_rows(key: FeedbackKey, rows: list[tuple[int, list[Any]]],
                         values: str | Path, data: str | Path, split: str,
                         task: str | TaskSpec | None, **settings: Any) -> list[Pair]:
    """Per-retriever rows as records: the prompts rebuilt, each row's rank and value."""
    if key.signal == "metric":
        raise DataError("a per-retriever metric store cannot be rebuilt: RSPG-Post learns from"
                        " its answers, which values files do not keep", file=str(values))
    records = retriever_records(data, split, key, {row[0] for _, row in rows}, task, **settings)
    pairs = []
    for n, (qid, spec, rank, value) in rows:
        record = records.get(FeedbackStore.pair_id(qid, spec))
        if record is None:
            raise DataError(f"question {qid!r} with retriever {spec!r} is not in the {split} "
                            f"split of {data} and the store's pool", file=str(values),
                            record=f"line {n}")
        pairs.append(replace(record, rank=rank, value=float(value)))
    return pairs


def _from_item_rows(rows: list[tuple[int, list[Any]]], values: str | Path, data: str | Path,
                    split: str, task: str | TaskSpec | None, with_date: bool) -> list[Pair]:
    """Per-item rows as records: the query and the item's document from the data set."""
    spec = resolve_task(data, split, task)
    questions = {q.id: q for q in load_split(data, split, task=spec)}
    pairs: list[Pair] = []
    seen: dict[str, tuple[RankRequest, dict[str, int]]] = {}  # per question: docs, positions
    for n, (qid, item_id, rank, value) in rows:
        q = questions.get(qid)
        if q is not None and qid not in seen:
            seen[qid] = (rank_request(spec, q, with_date),
                         {item.id: i for i, item in enumerate(q.profile)})
        request, positions = seen.get(qid, (None, {}))
        if request is None or item_id not in positions:
            what = f"question {qid!r}" if request is None else f"item {item_id!r} of {qid!r}"
            raise DataError(f"{what} is not in the {split} split of {data}", file=str(values),
                            record=f"line {n}")
        pairs.append(Pair(qid, item_id, rank, float(value), request.query,
                          request.docs[positions[item_id]]))
    return pairs
