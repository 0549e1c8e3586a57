"""The real embedded LLM (SmolLM2-135M-Instruct from PyPI) through `evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pergen.data.lamp import load_outputs
from pergen.llm import get_model
from pergen.run.pipeline import evaluate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2():
    return get_model("smollm2")


def test_headlines_with_real_llm(huffpost: Path, tmp_path: Path, smollm2) -> None:
    runs = evaluate(huffpost, "dev", ["none", "bm25"], tmp_path, model=smollm2, limit=3,
                    progress=False)
    for run in runs.values():
        assert all(p.strip() for p in run.predictions.values())
        assert 0.0 < run.metrics["rouge-1"] < 1.0
    journal = [json.loads(line) for line in
               (tmp_path / "bm25" / "journal.jsonl").read_text().splitlines()]
    assert all(len(r["retrieved"]) == 4 and '" is the title for "' in r["prompt"] for r in journal)
    none = [json.loads(line) for line in
            (tmp_path / "none" / "journal.jsonl").read_text().splitlines()]
    assert all(r["retrieved"] == [] and r["prompt"].startswith("Generate a headline") for r in none)


def test_tweets_choose_a_label(tweets: Path, tweet_task_path: Path, tmp_path: Path,
                              smollm2) -> None:
    evaluate(tweets, "dev", ["recency"], tmp_path, task=str(tweet_task_path), model=smollm2,
             limit=4, progress=False)
    preds = load_outputs(tmp_path / "recency" / "predictions.json").by_id
    assert len(preds) == 4 and set(preds.values()) <= {"[1]", "[2]"}


def test_calibrate_removes_label_bias(tweets: Path, tweet_task_path: Path, tmp_path: Path,
                                      smollm2) -> None:
    """SmolLM2 prefers "[1]" whatever the tweets; calibration re-picks from the same scores."""
    evaluate(tweets, "dev", ["bm25"], tmp_path, task=str(tweet_task_path), model=smollm2,
             limit=8, label_mode="calibrate", progress=False)
    journal = [json.loads(line) for line in
               (tmp_path / "bm25" / "journal.jsonl").read_text().splitlines()]
    assert all(len(r["label_scores"]) == 2 for r in journal)
    preds = load_outputs(tmp_path / "bm25" / "predictions.json").by_id
    assert set(preds.values()) == {"[1]", "[2]"}  # both labels used after calibration
