"""The no-LLM references beside every run: the ones that apply to each task kind run on
the same questions, land in metrics.json and the table with what wins, and are absent
with --no-reference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synthetic import FakeLM
from typer.testing import CliRunner

from pergen.cli import app
from pergen.llm import MODELS
from pergen.run.pipeline import evaluate

EXPECTED = {"generation": {"ref:copy-input", "ref:knn"},
            "label": {"ref:knn", "ref:knn-vote", "ref:profile-prior"},
            "rating": {"ref:knn", "ref:knn-vote", "ref:profile-prior"}}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_each_task_kind_gets_its_references(kind: str, synthetic, tmp_path: Path) -> None:
    data = synthetic(kind)
    runs = evaluate(data, "dev", ["none", "bm25"], tmp_path / "r", model=FakeLM(),
                    progress=False)
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert set(metrics) == {"none", "bm25"} | EXPECTED[kind] == set(runs)
    assert all("gold-loglik" not in metrics[r] for r in EXPECTED[kind])
    assert "gold-loglik" in metrics["bm25"]  # the methods keep it
    table = (tmp_path / "r" / "table.md").read_text()
    assert "ref:*: no-LLM references" in table and "best method" in table
    wins = json.loads((tmp_path / "r" / "significance.json").read_text())["what_wins"]
    assert wins[0].startswith(next(iter(metrics["bm25"])) + ": best method")
    # The same answers as the reference model run on its own.
    ref = next(iter(sorted(EXPECTED[kind])))
    alone = evaluate(data, "dev", [{"ref:knn": "bm25", "ref:copy-input": "none",
                                    "ref:knn-vote": "bm25", "ref:profile-prior": "none"}[ref]],
                     tmp_path / "alone", model=ref.removeprefix("ref:"), progress=False,
                     references=False)
    assert runs[ref].predictions == next(iter(alone.values())).predictions


def test_a_choice_task_gets_the_cosine_similarity_vote(tweets: Path, tweet_task_path: Path,
                                                      tmp_path: Path) -> None:
    runs = evaluate(tweets, "dev", ["bm25"], tmp_path, task=str(tweet_task_path),
                    model=FakeLM(), limit=6, progress=False)
    assert set(runs) == {"bm25", "ref:similarity-vote"}
    run = json.loads((tmp_path / "ref_similarity-vote" / "run.json").read_text())
    assert run["retriever"] == "ref:similarity-vote" and run["settings"]["model"] == \
        "similarity-vote"
    assert MODELS.facts("similarity-vote").reference == "dense-cos"  # cosine: comparable


def test_no_reference_turns_them_off(synthetic, tmp_path: Path) -> None:
    data = synthetic("generation")
    result = CliRunner().invoke(app, ["evaluate", "--data", str(data), "--retriever", "bm25",
                                      "--model", "knn", "--out", str(tmp_path / "off"),
                                      "--no-reference"])
    assert result.exit_code == 0, result.output
    assert set(json.loads((tmp_path / "off" / "metrics.json").read_text())) == {"bm25"}
    result = CliRunner().invoke(app, ["evaluate", "--data", str(data), "--retriever", "bm25",
                                      "--model", "knn", "--out", str(tmp_path / "on")])
    assert result.exit_code == 0, result.output
    assert "rouge-1: best method" in result.output


def test_gold_loglik_is_weighed_against_no_profile_whatever_the_baseline(synthetic,
                                                                        tmp_path: Path) -> None:
    """The second what-wins line asks whether a profile helps: its side is always `none`,
    not the significance baseline (issue 22's runs use --baseline dense)."""
    evaluate(synthetic("generation"), "dev", ["none", "bm25", "recency"], tmp_path / "r",
             model=FakeLM(), progress=False, baseline="bm25")
    wins = json.loads((tmp_path / "r" / "significance.json").read_text())["what_wins"]
    likelihood = [w for w in wins if w.startswith("gold-loglik")]
    assert len(likelihood) == 1 and " vs none " in likelihood[0]
    assert "best personalized none" not in likelihood[0]
