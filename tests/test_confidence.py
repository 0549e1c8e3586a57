"""Confidence per answer (`pergen.evaluation.confidence`) and abstention in `evaluate`
(`pergen.evaluation.abstention`), on synthetic users with the deterministic fake LLM."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from synthetic import FakeLM
from typer.testing import CliRunner

from pergen.cli import app
from pergen.errors import ConfigError
from pergen.evaluation.confidence import label_confidence, parse_verbal
from pergen.run.pipeline import evaluate

runner = CliRunner()


def _cheap_embed(texts):  # type: ignore[no-untyped-def]
    return np.ones((len(texts), 3))


def test_label_confidence_is_a_probability_monotone_in_the_margin() -> None:
    margins = [0.0, 0.1, 0.5, 1.0, 3.0, 10.0, 100.0]
    values = label_confidence([[m, 0.0, -1.0] for m in margins])
    assert all(0.0 <= v <= 1.0 for v in values)
    assert values == sorted(values) and len(set(values)) == len(values)
    two = label_confidence([[m, 0.0] for m in margins])
    assert two == pytest.approx([1 / (1 + math.exp(-m)) for m in margins])  # sigmoid of margin
    assert label_confidence([[0.0, 0.0, 0.0, 0.0]]) == pytest.approx([0.25])


@pytest.mark.parametrize("reply, value", [("85", 0.85), ("I am 90% sure", 0.9), ("0.7", 0.7),
                                          ("100", 1.0), ("0", 0.0), ("no idea", None),
                                          ("250", None), ("", None)])
def test_verbal_replies(reply: str, value: float | None) -> None:
    assert parse_verbal(reply) == value


@pytest.mark.parametrize("mode", ["choose", "calibrate"])
def test_label_runs_write_the_chosen_labels_probability(synthetic, tmp_path: Path, mode) -> None:
    data = synthetic("label", users=3, per_user=3)
    runs = evaluate(data, "dev", ["none", "bm25"], tmp_path / "r", model=FakeLM(),
                    label_mode=mode, progress=False)
    for name in ("none", "bm25"):
        stored = json.loads((tmp_path / "r" / name / "confidence.json").read_text())
        assert stored == runs[name].confidence and len(stored) == 9
        assert all(0.0 <= v <= 1.0 for v in stored.values())
    # The fake quotes the user's own tag with BM25: surer than without a profile.
    assert np.mean(list(runs["bm25"].confidence.values())) > \
        np.mean(list(runs["none"].confidence.values()))
    figures = json.loads((tmp_path / "r" / "selective.json").read_text())["bm25"]
    assert set(figures["at_coverage"]) == {"0.5", "0.8", "1"} and figures["ece"] is not None


def test_generation_confidence_is_one_batched_pass_kept_in_the_journal(synthetic, tmp_path):
    class Unsure(FakeLM):
        def loglik(self, requests, targets):  # type: ignore[no-untyped-def]
            self.scored += len(requests)
            return [-0.5 * len(t.split()) for t in targets]  # 0.5 nats per word

    model = Unsure()
    runs = evaluate(synthetic("generation"), "dev", ["bm25"], tmp_path / "g", model=model,
                    gold_loglik=False, batch_size=4, progress=False)
    assert model.scored == 6  # one extra pass over the answers, none for the (off) gold
    assert runs["bm25"].confidence == pytest.approx({q: math.exp(-0.5) for q in
                                                     runs["bm25"].predictions})
    records = [json.loads(line) for line in (tmp_path / "g" / "bm25" / "journal.jsonl").open()]
    assert all(r["confidence"]["method"] == "prob" and r["confidence"]["answer"] == r["output"]
               for r in records)
    again = Unsure()
    evaluate(synthetic("generation"), "dev", ["bm25"], tmp_path / "g", model=again,
             gold_loglik=False, progress=False)
    assert again.scored == 0 and again.calls == 0  # resumed: nothing asked again


def test_verbal_confidence_asks_a_second_prompt_and_counts_unparsed(synthetic, tmp_path):
    class Says(FakeLM):
        def generate(self, requests, max_new_tokens):  # type: ignore[no-untyped-def]
            if all("How sure are you" in r.prompt for r in requests):
                self.calls += len(requests)
                return ["80" if "garden" in r.prompt else "hmm" for r in requests]
            return super().generate(requests, max_new_tokens)

    model = Says()
    runs = evaluate(synthetic("generation"), "dev", ["bm25"], tmp_path / "v", model=model,
                    confidence="verbal", gold_loglik=False, progress=False)
    assert model.calls == 12  # 6 answers + 6 confidence questions
    assert runs["bm25"].confidence == {"u0-q0": 0.8, "u0-q1": 0.8}  # the garden user's
    assert "4 verbal replies held no usable number" in (runs["bm25"].confidence_note or "")
    summary = json.loads((tmp_path / "v" / "selective.json").read_text())["bm25"]
    assert summary["missing_confidence"] == 4 and summary["confidence"] == "verbal"


def test_models_that_cannot_score_get_a_note_and_no_file(synthetic, tmp_path: Path) -> None:
    out = tmp_path / "k"
    result = runner.invoke(app, ["evaluate", "--data", str(synthetic("generation")),
                                 "--model", "knn", "--retriever", "bm25", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert not (out / "bm25" / "confidence.json").exists()
    assert "note: bm25: knn does not score text" in " ".join(result.output.split())


def test_coverage_abstains_and_says_the_threshold(synthetic, tmp_path: Path) -> None:
    data = synthetic("label", users=4, per_user=5)
    out = tmp_path / "c"
    result = runner.invoke(app, ["evaluate", "--data", str(data), "--retriever", "bm25",
                                 "--model", "knn", "--out", str(out), "--confidence", "verbal"])
    assert result.exit_code == 0  # knn: not an LLM, no verbal either
    runs = evaluate(data, "dev", ["bm25"], tmp_path / "a", model=FakeLM(), label_mode="calibrate",
                    coverage=0.8, progress=False)
    run = runs["bm25"]
    stored = json.loads((tmp_path / "a" / "bm25" / "run.json").read_text())["abstention"]
    assert stored["threshold_from"] == "chosen on this run for coverage 0.8"
    assert stored["below"] == len(run.abstained) == 20 - len(run.predictions) == 4
    assert min(run.confidence[q] for q in run.predictions) >= stored["threshold"] > \
        max(run.confidence[q] for q in run.abstained)
    preds = json.loads((tmp_path / "a" / "bm25" / "predictions.json").read_text())["golds"]
    assert {p["id"] for p in preds} == set(run.predictions)  # abstained: no prediction
    # metrics.json: abstained counted as wrong; selective.json: the answered ones alone.
    golds = {g["id"]: g["output"] for g in json.loads((data / "dev_outputs.json").read_text())["golds"]}
    right = sum(run.predictions[q] == golds[q] for q in run.predictions)
    assert run.metrics["accuracy"] == pytest.approx(right / 20)
    figures = json.loads((tmp_path / "a" / "selective.json").read_text())["bm25"]
    assert figures["answered"]["accuracy"] == pytest.approx(right / 16)
    assert figures["answered"]["coverage"] == 0.8
    # Re-thresholding needs no answer again, and drops the abstention when not asked.
    model = FakeLM()
    runs = evaluate(data, "dev", ["bm25"], tmp_path / "a", model=model, label_mode="calibrate",
                    progress=False)
    assert model.calls == 0 and len(runs["bm25"].predictions) == 20
    assert "abstention" not in json.loads((tmp_path / "a" / "bm25" / "run.json").read_text())


@pytest.mark.parametrize("fallback", ["none", "profile-prior", "global"])
def test_fallbacks_answer_every_question(synthetic, tmp_path: Path, fallback: str) -> None:
    data = synthetic("label", users=3, per_user=4)
    runs = evaluate(data, "dev", ["bm25"], tmp_path / fallback, model=FakeLM(),
                    label_mode="calibrate", abstain_below=0.99, fallback=fallback,
                    embed=_cheap_embed, progress=False)
    run = runs["bm25"]
    assert len(run.predictions) == 12 and not run.abstained
    assert json.loads((tmp_path / fallback / "bm25" / "run.json").read_text()
                      )["abstention"]["below"] == 12
    if fallback == "profile-prior":  # each user's own habit: every answer right
        assert run.metrics["accuracy"] == 1.0
    if fallback == "global":  # answered again from everyone else's items
        assert (tmp_path / fallback / "bm25" / "fallback-global" / "journal.jsonl").exists()


@pytest.mark.parametrize("args, option, says", [
    (["--confidence", "sure"], "--confidence", "'sure' is not valid; accepted: prob, verbal"),
    (["--fallback", "pray", "--coverage", "0.8"], "--fallback", "accepted: abstain, none"),
    (["--abstain-below", "1.5"], "--abstain-below", "must be a confidence in [0, 1], got 1.5"),
    (["--coverage", "0"], "--coverage", "must be a share in (0, 1], got 0.0"),
    (["--coverage", "0.8", "--abstain-below", "0.5"], "--coverage", "not both"),
    (["--fallback", "persona"], "--fallback", "persona needs a threshold"),
    (["--coverage", "0.8", "--confidence", "none"], "--coverage", "confidence none measures"),
    (["--coverage", "0.8", "--model", "knn"], "--coverage", "knn does not score text"),
    (["--coverage", "0.8", "--model", "knn", "--confidence", "verbal"], "--coverage",
     "knn is not an LLM"),
])
def test_bad_trust_options_name_the_option_and_write_nothing(synthetic, tmp_path, args, option,
                                                             says) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["evaluate", "--data", str(synthetic("generation")), "--out",
                                 str(out), "--retriever", "bm25", *args])
    flat = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert option in flat and says in flat and "Traceback" not in flat
    assert not out.exists()


def test_library_refusals_before_writing(synthetic, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fallback profile-prior"):
        evaluate(synthetic("generation"), "dev", ["bm25"], tmp_path / "o", model=FakeLM(),
                 coverage=0.5, fallback="profile-prior", progress=False)
    with pytest.raises(ConfigError, match="selectors"):
        evaluate(synthetic("rating"), "dev", ["qpp-wig:recency+bm25"], tmp_path / "o",
                 model=FakeLM(), coverage=0.5, fallback="persona", progress=False)
    assert not (tmp_path / "o").exists()


def test_score_command_with_confidence_and_abstained(tmp_path: Path) -> None:
    golds = tmp_path / "g.json"
    golds.write_text(json.dumps({"task": "LaMP_2", "golds": [
        {"id": q, "output": o} for q, o in [("a", "comedy"), ("b", "action"), ("c", "fantasy"),
                                            ("d", "comedy")]]}))
    preds = tmp_path / "p.json"
    preds.write_text(json.dumps({"task": "LaMP_2", "golds": [
        {"id": q, "output": o} for q, o in [("a", "comedy"), ("b", "comedy"), ("c", "fantasy")]]}))
    conf = tmp_path / "c.json"
    conf.write_text(json.dumps({"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.1}))
    result = runner.invoke(app, ["score", "--golds", str(golds), "--preds", str(preds),
                                 "--missing", "abstain", "--confidence", str(conf),
                                 "--charts", str(tmp_path / "charts")])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["metrics"]["accuracy"] == 0.5  # d: abstained, counted as wrong
    assert found["answered"] == {"coverage": 0.75, "accuracy": pytest.approx(2 / 3),
                                 "f1": pytest.approx(found["answered"]["f1"])}
    assert found["selective"]["aurc"] == pytest.approx((0 + 1 / 2 + 1 / 3 + 2 / 4) / 4)
    assert {p.name for p in (tmp_path / "charts").iterdir()} == {"risk_coverage.png",
                                                                "reliability.png"}
    conf.write_text(json.dumps({"a": 1.5}))
    bad = runner.invoke(app, ["score", "--golds", str(golds), "--preds", str(preds),
                              "--missing", "abstain", "--confidence", str(conf)])
    assert bad.exit_code == 2 and "record a" in bad.output and "not a number in [0, 1]" in bad.output


@pytest.mark.parametrize("kind", ["label", "rating"])
def test_agreement_ranks_every_agreement_with_the_vote_above_every_disagreement(
        kind: str, synthetic, tmp_path: Path) -> None:
    data = synthetic(kind, users=4, per_user=4)
    runs = evaluate(data, "dev", ["bm25"], tmp_path / "r", model=FakeLM(),
                    label_mode="calibrate", confidence="agreement", progress=False)
    sure = runs["bm25"].confidence
    vote = runs["ref:knn-vote"].predictions  # the same vote, run as a reference
    agree = [q for q in sure if runs["bm25"].predictions[q] == vote[q]]
    disagree = [q for q in sure if q not in agree]
    assert len(sure) == 16 and all(0.0 <= v <= 1.0 for v in sure.values())
    assert all(sure[q] >= 0.5 for q in agree) and all(sure[q] <= 0.5 for q in disagree)
    stored = json.loads((tmp_path / "r" / "bm25" / "confidence.json").read_text())
    assert stored == pytest.approx(sure)


def test_agreement_on_a_choice_task_uses_the_similarity_vote(tweets: Path, tweet_task_path,
                                                            tmp_path: Path) -> None:
    runs = evaluate(tweets, "dev", ["bm25"], tmp_path, task=str(tweet_task_path),
                    model=FakeLM(), label_mode="calibrate", confidence="agreement", limit=8,
                    progress=False)
    sure, vote = runs["bm25"].confidence, runs["ref:similarity-vote"].predictions
    for q, value in sure.items():
        assert (value >= 0.5) == (runs["bm25"].predictions[q] == vote[q])
