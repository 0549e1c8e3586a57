"""The `pergen` CLI: exact outputs on real data, and clear errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pergen.cli import app
from pergen.data.lamp import load_outputs
from pergen.run.ranking import rank

runner = CliRunner()


def test_rank_writes_lamp_ranking(huffpost: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PERGEN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "rank.json"
    result = runner.invoke(app, ["rank", "--data", str(huffpost), "--split", "dev",
                                 "--retriever", "bm25", "--out", str(out), "--limit", "5"])
    assert result.exit_code == 0, result.output
    ranking = json.loads(out.read_text())
    assert len(ranking) == 5 and all(len(v) >= 5 for v in ranking.values())
    # A batch job keeps BM25's tokens on disk; the second run reads them back (same steps,
    # no new file) and ranks the same.
    def steps() -> dict[str, int]:  # a step tokenized again would be written again
        return {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cache" / "bm25-tokens").iterdir()}

    written = steps()
    assert written
    assert ranking == rank(huffpost, "dev", "bm25", limit=5, progress=False)
    assert steps() == written


def test_evaluate_and_score_agree(huffpost: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--data", str(huffpost), "--retriever", "none",
                                 "--retriever", "bm25", "--model", "knn", "--limit", "10",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "rouge-1" in result.output and "bm25" in result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    gold = tmp_path / "golds.json"
    golds = load_outputs(huffpost / "dev_outputs.json").by_id
    preds = load_outputs(tmp_path / "bm25" / "predictions.json").by_id
    gold.write_text(json.dumps({"task": "LaMP_4", "golds": [
        {"id": k, "output": golds[k]} for k in preds]}))
    scored = runner.invoke(app, ["score", "--golds", str(gold), "--preds",
                                 str(tmp_path / "bm25" / "predictions.json")])
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout) == metrics["bm25"]
    assert (tmp_path / "table.md").read_text().startswith("| retriever | rouge-1 | rouge-L |")
    assert json.loads((tmp_path / "significance.json").read_text())["baseline"] == "none"
    again = runner.invoke(app, ["evaluate", "--data", str(huffpost), "--retriever", "none",
                                "--retriever", "bm25", "--model", "knn", "--limit", "10",
                                "--out", str(tmp_path), "--baseline", "bm25"])
    assert again.exit_code == 0, again.output
    significance = json.loads((tmp_path / "significance.json").read_text())
    assert significance["baseline"] == "bm25"
    assert significance["p_values"]["bm25"]["rouge-1"] is None  # the baseline itself
    assert significance["p_values"]["none"]["rouge-1"] is not None
    assert "than `bm25`" in (tmp_path / "table.md").read_text()


def test_bad_inputs_exit_2_with_clear_message(huffpost: Path, tmp_path: Path) -> None:
    bad = tmp_path / "data"
    bad.mkdir()
    (bad / "dev_questions.json").write_text('[{"id": "q1", "input": "x", "profile": [{}]}]')
    (bad / "dev_outputs.json").write_text('{"task": "LaMP_4", "golds": []}')
    result = runner.invoke(app, ["rank", "--data", str(bad), "--retriever", "bm25",
                                 "--out", str(tmp_path / "r.json")])
    assert result.exit_code == 2
    assert "dev_questions.json" in result.output and "record q1" in result.output
    assert "profile[0].id" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["score", "--golds", str(huffpost / "dev_outputs.json"),
                                 "--preds", str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_device_option_refuses_what_it_cannot_place(huffpost: Path, tmp_path: Path) -> None:
    base = ["evaluate", "--data", str(huffpost), "--split", "dev", "--out", str(tmp_path / "r")]
    result = runner.invoke(app, [*base, "--model", "copy-input", "--device", "cuda"])
    assert result.exit_code == 2 and "applies to local models" in result.output
    result = runner.invoke(app, [*base, "--model", "smollm2", "--device", "tpu"])
    assert result.exit_code == 2 and "accepted auto, cpu, cuda" in result.output
    assert not (tmp_path / "r").exists()  # refused before anything is written


def _outputs(path: Path, task: str, values: dict[str, str]) -> Path:
    path.write_text(json.dumps({"task": task, "golds": [{"id": k, "output": v}
                                                        for k, v in values.items()]}))
    return path


def test_score_by_hand_rating_and_tags(tmp_path: Path) -> None:
    """LaMP-3: errors 1, 4 (unparseable 'five' for gold 5 becomes the worst extreme, 1),
    0 -> MAE 5/3, RMSE sqrt(17/3). LaMP-2: accuracy 2/4; macro-F1 over all 15 tags:
    comedy 0.5, classic 1, action 0, the 12 unseen tags 0 -> 1.5 / 15 = 0.1 ('funny' is
    outside the label set: wrong, and no false positive for any tag)."""
    golds = _outputs(tmp_path / "g3.json", "LaMP_3", {"a": "1", "b": "5", "c": "3"})
    preds = _outputs(tmp_path / "p3.json", "LaMP_3", {"a": "2", "b": "five", "c": " 3 "})
    result = runner.invoke(app, ["score", "--golds", str(golds), "--preds", str(preds)])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert abs(got["mae"] - 5 / 3) < 1e-12 and abs(got["rmse"] - (17 / 3) ** 0.5) < 1e-12
    golds = _outputs(tmp_path / "g2.json", "LaMP_2", {"a": "comedy", "b": "action",
                                                      "c": "comedy", "d": "classic"})
    preds = _outputs(tmp_path / "p2.json", "LaMP_2", {"a": "comedy", "b": "comedy",
                                                      "c": "funny", "d": " classic"})
    result = runner.invoke(app, ["score", "--golds", str(golds), "--preds", str(preds)])
    assert json.loads(result.stdout) == {"accuracy": 0.5, "f1": 0.1}


def test_feedback_and_report_commands(huffpost: Path, tmp_path: Path) -> None:
    fb = runner.invoke(app, ["feedback", "--data", str(huffpost), "--model", "knn", "--limit", "3",
                             "--retriever", "bm25", "--depth", "3", "--out", str(tmp_path / "fb")])
    assert fb.exit_code == 0, fb.output
    assert "9 feedback records" in fb.output
    per = runner.invoke(app, ["feedback", "--data", str(huffpost), "--model", "knn", "--limit", "3",
                              "--per-retriever", "--retriever", "none", "--retriever", "bm25",
                              "--out", str(tmp_path / "per")])
    assert per.exit_code == 0, per.output
    assert "6 feedback records" in per.output
    bad = runner.invoke(app, ["feedback", "--data", str(huffpost), "--model", "knn", "--limit", "3",
                              "--signal", "loglik", "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "--signal loglik needs a model that scores" in bad.output
    assert not (tmp_path / "bad").exists()
    values = tmp_path / "values.jsonl"
    saved = runner.invoke(app, ["feedback-save", "--store", str(tmp_path / "fb"), "--out", str(values)])
    assert saved.exit_code == 0 and "saved 9 pairs" in saved.output, saved.output
    loaded = runner.invoke(app, ["feedback-load", "--values", str(values), "--data", str(huffpost),
                                 "--out", str(tmp_path / "fb2")])
    assert loaded.exit_code == 0 and "loaded 9 pairs" in loaded.output, loaded.output
    wrong = runner.invoke(app, ["feedback-load", "--values", str(values), "--data", str(huffpost),
                                "--split", "dev", "--out", str(tmp_path / "fb3")])
    assert wrong.exit_code == 2 and "not in the dev split" in wrong.output, wrong.output
    assert not (tmp_path / "fb3").exists()
    chatty = runner.invoke(app, ["feedback-load", "--values", str(values), "--data", str(huffpost),
                                 "--prompt-style", "chatty", "--out", str(tmp_path / "fb5")])
    assert chatty.exit_code == 2 and "--prompt-style" in chatty.output, chatty.output
    assert "auto, paper, chat" in chatty.output and not (tmp_path / "fb5").exists()
    missing = runner.invoke(app, ["feedback-load", "--values", str(tmp_path / "nope.jsonl"),
                                  "--data", str(huffpost), "--out", str(tmp_path / "fb4")])
    assert missing.exit_code == 2 and "--values" in missing.output, missing.output
    assert "no such file" in missing.output and not (tmp_path / "fb4").exists()
    per_values = runner.invoke(app, ["feedback-save", "--store", str(tmp_path / "per"),
                                     "--out", str(tmp_path / "per.jsonl")])
    assert per_values.exit_code == 0
    refused = runner.invoke(app, ["feedback-load", "--values", str(tmp_path / "per.jsonl"),
                                  "--data", str(huffpost), "--out", str(tmp_path / "per2")])
    assert refused.exit_code == 2 and "RSPG-Post learns from" in refused.output, refused.output
    assert not (tmp_path / "per2").exists()
    run = tmp_path / "run"
    ev = runner.invoke(app, ["evaluate", "--data", str(huffpost), "--retriever", "none",
                             "--retriever", "bm25", "--retriever", "qpp-wig:none+bm25",
                             "--model", "knn", "--limit", "6", "--out", str(run)])
    assert ev.exit_code == 0, ev.output
    rep = runner.invoke(app, ["report", str(run)])
    assert rep.exit_code == 0, rep.output
    assert (run / "report.html").exists() and "qpp-wig" in (run / "report.md").read_text()
    missing = runner.invoke(app, ["report", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "metrics.json" in missing.output
