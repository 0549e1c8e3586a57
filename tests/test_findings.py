"""`pergen findings`: the verdict rule, the page, resuming, --only, and refusals."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from synthetic import TOPICS, FakeLM

from pergen.errors import ConfigError
from pergen.studies.findings import CLAIM_NAMES, NOT_APPLICABLE, findings
from pergen.studies.verdicts import (
    CONTRADICTED,
    INCONCLUSIVE,
    REPRODUCED,
    paired,
    selected,
    verdict,
)
from pergen.tasks import get_task


def bag_of_topics(texts):  # a cheap, deterministic stand-in for the dense encoder
    return np.array([[t.count(w) for w in TOPICS] + [1e-3] for t in texts], dtype=float)


def run(data: Path, out: Path, **options):
    options.setdefault("model", FakeLM())
    return findings(data, "dev", out, progress=False, embed=bag_of_topics,
                    summaries_dir=out.parent / "summaries", **options)


# --- the verdict rule ---------------------------------------------------------------------

def test_verdict_rule() -> None:
    assert verdict(0.1, 0.01, 1) == REPRODUCED
    assert verdict(0.1, 0.01, -1) == CONTRADICTED
    assert verdict(-0.1, 0.01, -1) == REPRODUCED
    assert verdict(0.1, 0.05, 1) == INCONCLUSIVE  # p must be below 0.05
    assert verdict(0.0, 0.0, 1) == INCONCLUSIVE
    # lower is better (MAE): a negative effect means A is better
    assert verdict(-0.5, 0.01, 1, lower_is_better=True) == REPRODUCED
    assert verdict(-0.5, 0.01, -1, lower_is_better=True) == CONTRADICTED
    with pytest.raises(ValueError):
        verdict(0.1, 0.01, 0)


def test_paired_measures_on_constructed_data() -> None:
    better, worse = [1.0] * 30 + [0.0] * 10, [0.0] * 30 + [0.0] * 10
    m = paired("accuracy", better, worse, expects=1, seed=3)
    assert m.verdict == REPRODUCED and m.n == 40 and m.effect == pytest.approx(0.75)
    assert (m.a, m.b) == (pytest.approx(0.75), 0.0) and m.p < 1e-6
    assert m.ci[0] <= m.effect <= m.ci[1] and "McNemar" in m.test
    assert paired("accuracy", better, worse, expects=-1, seed=3).verdict == CONTRADICTED
    assert paired("accuracy", better, worse, expects=1, seed=3) == m  # seeded
    small = paired("accuracy", [1.0, 0.0, 1.0], [0.0, 0.0, 0.0], expects=1)
    assert small.verdict == INCONCLUSIVE and small.effect == pytest.approx(2 / 3)
    # MAE: smaller errors in A are better, so the note's "A better" is reproduced
    rng = np.random.default_rng(0)
    errors = rng.uniform(1, 2, 50)
    mae = paired("mae", list(errors - 0.8), list(errors), expects=1)
    assert mae.effect == pytest.approx(-0.8) and mae.verdict == REPRODUCED
    loglik = paired("gold-loglik", list(-errors), list(-errors + rng.normal(0, 1, 50)), 1)
    assert loglik.verdict == INCONCLUSIVE and "t-test" in loglik.test


def test_selected_subset_against_the_whole() -> None:
    units = [1.0] * 16 + [0.0] * 4
    sure = selected("accuracy", units, [True] * 16 + [False] * 4, expects=1)
    assert sure.effect == pytest.approx(0.2) and sure.verdict == REPRODUCED and sure.p < 0.01
    assert sure.ci[0] <= sure.effect <= sure.ci[1] and sure.n == 20
    mixed = selected("accuracy", units, [True, False] * 10, expects=1)
    assert mixed.verdict == INCONCLUSIVE
    everything = selected("accuracy", units, [True] * 20, expects=1)
    assert everything.effect == 0.0 and everything.p == 1.0


# --- the command --------------------------------------------------------------------------

def test_every_claim_on_the_page_and_resume_recomputes_nothing(synthetic, tmp_path: Path
                                                               ) -> None:
    data = synthetic("generation", users=4, per_user=3)
    out = tmp_path / "f"
    lm, lines = FakeLM(), []
    result = run(data, out, model=lm, on_progress=lines.append)
    assert lm.calls > 0 and len(lines) == 11 and lines[0].startswith("[1/10] own")
    assert lines[-1].startswith("the no-LLM references")
    summary = json.loads((out / "findings.json").read_text())
    assert [c["name"] for c in summary["claims"]] == list(CLAIM_NAMES)
    assert summary["n"] == 12 and summary["model"] == "fake" and summary["metric"] == "rouge-1"
    rows = [r for c in summary["claims"] for r in c["rows"]]
    assert len(rows) == len(result.rows) == 11
    for r in rows:
        m = r["measure"]
        assert m["n"] == 12 and m["ci"][0] <= m["effect"] <= m["ci"][1] and 0 <= m["p"] <= 1
        assert r["verdict"] == m["verdict"] and r["gold_loglik"]["n"] == 12
    page = (out / "findings.md").read_text()
    for claim in summary["claims"]:
        assert claim["title"] in page and f"--only {claim['name']}" in page
    table = [line for line in page.splitlines() if line.startswith("| ") and "(00" in line]
    assert len(table) == 11 and all(line.count("|") == 13 for line in table)
    assert "n = 12 questions" in page and "model fake" in page and "What limits" in page
    # the method against the answers without an LLM, run once on the same questions
    refs = {r["name"]: r["measure"] for r in summary["references"]}
    assert "ref:copy-input" in refs and all(m["n"] == 12 for m in refs.values())
    own = summary["conditions"]["own"]["metrics"]["rouge-1"]
    assert all(m["a"] == pytest.approx(own) for m in refs.values())
    assert "## Against the no-LLM answers" in page and "| ref:copy-input |" in page
    assert (out / "references" / "ref_copy-input" / "journal.jsonl").exists()
    assert (out / "findings.html").read_text().startswith("<!DOCTYPE html>")
    assert (out / "swap.md").exists() and (out / "own" / "bm25" / "journal.jsonl").exists()
    # another user's headlines carry other topics: a random partner's profile loses
    swap = next(r for r in rows if r["a_condition"] == "random")
    assert swap["measure"]["effect"] < 0 and swap["verdict"] == REPRODUCED

    again = FakeLM()
    run(data, out, model=again)
    assert again.calls == 0 and again.scored == 0
    resumed = json.loads((out / "findings.json").read_text())
    assert {**resumed, "seconds": None} == {**summary, "seconds": None}


def test_only_runs_a_subset(synthetic, tmp_path: Path) -> None:
    data = synthetic("generation", users=3, per_user=2)
    out = tmp_path / "f"
    run(data, out, only=["position"])
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["after", "own", "references"]
    summary = json.loads((out / "findings.json").read_text())
    assert [c["name"] for c in summary["claims"]] == ["position"]
    assert set(summary["not_run"]) == set(CLAIM_NAMES) - {"position"}
    assert not (out / "partners.json").exists()
    bare = tmp_path / "bare"
    run(data, bare, only=["position"], references=False)
    assert not (bare / "references").exists()
    assert json.loads((bare / "findings.json").read_text())["references"] == []
    assert "no-LLM" not in (bare / "findings.md").read_text()


def test_claims_the_task_or_model_cannot_test_are_listed_with_the_reason(synthetic,
                                                                         tmp_path: Path) -> None:
    data = synthetic("label", users=3, per_user=2)
    no_inputs = replace(get_task("LaMP_2"), input_fields=())
    out = tmp_path / "f"
    run(data, out, task=no_inputs, model="knn-vote", only=["view", "abstention", "position"])
    summary = json.loads((out / "findings.json").read_text())
    rows = {c["name"]: c["rows"] for c in summary["claims"]}
    assert all(r["verdict"] == NOT_APPLICABLE and "no input part" in r["reason"]
               for r in rows["view"])
    assert rows["abstention"][0]["verdict"] == NOT_APPLICABLE
    assert "does not score text" in rows["abstention"][0]["reason"]
    position = rows["position"][0]
    assert position["measure"]["n"] == 6 and position["gold_loglik"] is None
    page = (out / "findings.md").read_text()
    assert not (out / "output-only").exists() and "not applicable" in page
    view_line = next(line for line in page.splitlines() if "--only view" in line)
    assert "Run folders" not in view_line  # own ran, but not for this claim


@pytest.mark.parametrize("options, option", [
    ({"only": ["nope"]}, "only"), ({"retriever": "nope"}, "retriever"),
    ({"retriever": "none"}, "retriever"), ({"retriever": "recency"}, "retriever"),
    ({"k": -1}, "k"), ({"label_mode": "guess"}, "label_mode"), ({"coverage": 1.0}, "coverage"),
    ({"cold_cap": -1}, "cold_cap"), ({"metric": "accuracy"}, "metric"),
    ({"summarizer": "nope"}, "summarizer"), ({"confidence": "nope"}, "confidence"),
    ({"model": "nope"}, "model"), ({"split": "train"}, "data_dir")])
def test_bad_options_are_refused_before_anything_is_written(synthetic, tmp_path: Path,
                                                           options, option) -> None:
    args = {"data": synthetic("generation"), "out": tmp_path / "o", **options}
    split = args.pop("split", "dev")
    with pytest.raises(ConfigError) as e:
        findings(args.pop("data"), split, args.pop("out"), progress=False,
                 embed=bag_of_topics, **{"model": FakeLM(), **args})
    assert e.value.option == option
    assert not (tmp_path / "o").exists()


def test_a_folder_with_other_settings_is_refused_before_anything_runs(synthetic,
                                                                      tmp_path: Path) -> None:
    data = synthetic("generation", users=3, per_user=2)
    out = tmp_path / "f"
    run(data, out, only=["position"])
    with pytest.raises(ConfigError, match="other settings") as e:
        run(data, out, only=["retrieval", "position"], k=2)
    assert e.value.option == "out_dir" and not (out / "recency").exists()
    (data / "dev_outputs.json").unlink()
    with pytest.raises(ConfigError, match="no outputs file") as e:
        run(data, tmp_path / "g", task="LaMP_4")
    assert e.value.option == "split" and not (tmp_path / "g").exists()


def test_findings_through_the_cli(synthetic, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pergen.cli import app

    data = synthetic("label", users=3, per_user=2)
    out = tmp_path / "f"
    args = ["findings", "--data", str(data), "--model", "knn-vote", "--only", "position",
            "--only", "retrieval", "--out", str(out), "--summaries", str(tmp_path / "s")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "[1/3] own" in result.output and "findings.md" in result.output
    assert "Profile position" in result.output
    summary = json.loads((out / "findings.json").read_text())
    assert [c["name"] for c in summary["claims"]] == ["position", "retrieval"]
    for bad, flag in ((["--only", "nope"], "--only"), (["--cold-cap", "-1"], "--cold-cap"),
                      (["--profile-view", "x"], None)):
        result = CliRunner().invoke(app, ["findings", "--data", str(data), "--model",
                                          "knn-vote", "--out", str(tmp_path / "x"), *bad])
        assert result.exit_code == 2 and not (tmp_path / "x").exists()
        assert flag is None or flag in result.output
