"""`evaluate` end to end on real data: outputs, scores, resume and refusal of stale runs.

The LLM here is `knn` (answers with the top retrieved item's output): real retrieval and
scoring without loading a model; tests with the real embedded LLM are in test_end_to_end.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from pergen.data.lamp import load_outputs, load_questions
from pergen.errors import ConfigError, DataError
from pergen.llm import get_model
from pergen.llm.base import BaseGenerator, Request
from pergen.run.pipeline import evaluate
from pergen.run.ranking import rank
from pergen.tasks import get_task


class Counting(BaseGenerator):
    """Wraps a real backend and counts the requests it answers; can stop after N batches."""

    def __init__(self, inner, stop_after_batches: int | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.tokenizer = inner.tokenizer
        self.seen: list[str] = []
        self.batches = 0
        self.stop_after = stop_after_batches

    def generate(self, requests: Sequence[Request], max_new_tokens: int) -> list[str]:
        if self.stop_after is not None and self.batches >= self.stop_after:
            raise KeyboardInterrupt
        self.batches += 1
        self.seen.extend(r.input for r in requests)
        return self.inner.generate(requests, max_new_tokens)


def test_knn_evaluate_writes_lamp_outputs(huffpost: Path, tmp_path: Path) -> None:
    runs = evaluate(huffpost, "dev", ["none", "bm25", "recency"], tmp_path, model="knn",
                    limit=12, progress=False, references=False)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) == {"none", "bm25", "recency"}
    assert metrics["none"] == {"rouge-1": 0.0, "rouge-L": 0.0}  # knn without items: empty
    assert metrics["bm25"]["rouge-1"] > 0.05
    preds = load_outputs(tmp_path / "bm25" / "predictions.json")
    assert preds.task == "LaMP_4" and len(preds.by_id) == 12
    # knn answers with the title of the top BM25 item: check against an independent ranking
    task = get_task("LaMP_4")
    ranking = rank(huffpost, "dev", "bm25", limit=12, progress=False)
    questions = {q.id: q for q in load_questions(huffpost / "dev_questions.json", limit=12)}
    for qid, out in preds.by_id.items():
        top = next(i for i in questions[qid].profile if i.id == ranking[qid][0])
        assert out == task.output_of(top)
    scores = json.loads((tmp_path / "bm25" / "scores.json").read_text())
    assert len(scores) == 12 and set(next(iter(scores.values()))) == {"rouge-1", "rouge-L"}
    assert runs["bm25"].metrics == metrics["bm25"]


def test_interrupted_run_resumes_without_redoing(huffpost: Path, tmp_path: Path) -> None:
    first = Counting(get_model("knn"), stop_after_batches=2)
    with pytest.raises(KeyboardInterrupt):
        evaluate(huffpost, "dev", ["bm25"], tmp_path, model=first, limit=20, batch_size=4,
                 progress=False)
    assert len(first.seen) == 8
    journal = (tmp_path / "bm25" / "journal.jsonl").read_text().splitlines()
    assert len(journal) == 8 and not (tmp_path / "metrics.json").exists()
    second = Counting(get_model("knn"))
    evaluate(huffpost, "dev", ["bm25"], tmp_path, model=second, limit=20, batch_size=4,
             progress=False)
    assert len(second.seen) == 12 and not set(first.seen) & set(second.seen)
    fresh = tmp_path / "fresh"
    evaluate(huffpost, "dev", ["bm25"], fresh, model="knn", limit=20, progress=False)
    assert load_outputs(tmp_path / "bm25" / "predictions.json").by_id == \
        load_outputs(fresh / "bm25" / "predictions.json").by_id


def test_resume_with_other_settings_is_refused(huffpost: Path, tmp_path: Path) -> None:
    evaluate(huffpost, "dev", ["bm25"], tmp_path, model="knn", limit=3, progress=False)
    with pytest.raises(ConfigError, match="other settings"):
        evaluate(huffpost, "dev", ["bm25"], tmp_path, model="knn", k=2, limit=3, progress=False)


def test_task_file_and_missing_golds(tweets: Path, tweet_task_path: Path, tmp_path: Path) -> None:
    evaluate(tweets, "dev", ["recency"], tmp_path, task=str(tweet_task_path), model="knn",
             limit=4, progress=False)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    # knn answers with a tweet, never a label: always wrong, as the official rule says
    assert metrics["recency"]["accuracy"] == 0.0
    data = tmp_path / "data"
    data.mkdir()
    (data / "dev_questions.json").write_text((tweets / "dev_questions.json").read_text())
    (data / "dev_outputs.json").write_text('{"task": "tweet_authorship", "golds": []}')
    with pytest.raises(DataError, match="no gold output"):
        evaluate(data, "dev", ["none"], tmp_path / "r", task=str(tweet_task_path), model="knn",
                 limit=2, progress=False)


def test_label_mode_choose_needs_a_scorer(huffpost: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="choose"):
        evaluate(huffpost, "dev", ["none"], tmp_path, model="knn", limit=2,
                 label_mode="choose", progress=False)


def test_rrf_reuses_the_runs_own_retrievers() -> None:
    from pergen.run.pipeline import build_retrievers
    built = build_retrievers(["bm25", "recency", "rrf:bm25+recency", "bm25"])
    assert list(built) == ["bm25", "recency", "rrf:bm25+recency"]
    assert built["rrf:bm25+recency"].retrievers == [built["bm25"], built["recency"]]


def test_huge_profile_and_hostile_text(huffpost: Path, tmp_path: Path) -> None:
    """20,000 profile items (real ones, repeated under new ids) and hostile strings."""
    q = load_questions(huffpost / "dev_questions.json", limit=1)[0]
    items = [{"id": f"p{i}", "date": p.date, "title": p.get("title"), "text": p.get("text")}
             for i, p in enumerate(q.profile * (20000 // len(q.profile) + 1))][:20000]
    items[7]["text"] = "\u202e\x00<script>alert(1)</script> \ud83d\ude00 " + "x" * 100_000
    data = tmp_path / "data"
    data.mkdir()
    (data / "dev_questions.json").write_text(json.dumps(
        [{"id": "huge", "input": q.input, "profile": items}]))
    (data / "dev_outputs.json").write_text(json.dumps(
        {"task": "LaMP_4", "golds": [{"id": "huge", "output": "a headline"}]}))
    runs = evaluate(data, "dev", ["bm25", "recency"], tmp_path / "out", model="knn",
                    progress=False, references=False)
    assert set(runs) == {"bm25", "recency"}
    journal = json.loads((tmp_path / "out" / "bm25" / "journal.jsonl").read_text())
    assert len(journal["retrieved"]) == 4 and len(journal["prompt"]) < 20_000
