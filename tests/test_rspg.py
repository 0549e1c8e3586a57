"""RSPG end to end on a small real subset: per-retriever feedback, selector training, and
selectors (RSPG-Pre/Post, QPP) inside `evaluate`, then the report of that run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pergen.errors import ConfigError
from pergen.reports.run import analyse, load_run, write_report
from pergen.rspg.oracle import success_rate
from pergen.rspg.selector import Selector, load_selector_examples, train_selector
from pergen.run.pipeline import evaluate
from pergen.training.config import TrainConfig
from pergen.training.feedback import FeedbackStore, collect_retriever_feedback
from pergen.training.losses import kd_loss

pytestmark = pytest.mark.slow  # fine-tunes MiniLM on CPU

POOL = ["none", "recency", "bm25"]
FAST = TrainConfig(method="kd", epochs=2, lr=1e-4, dev_fraction=0.25, batch_size=4)


@pytest.fixture(scope="module")
def store(huffpost: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """knn answers with the top retrieved headline: real, instant per-retriever feedback."""
    out = tmp_path_factory.mktemp("rspg") / "fb"
    collect_retriever_feedback(huffpost, "train", out, POOL, model="knn", k=2, limit=16,
                               progress=False)
    return out


@pytest.fixture(scope="module")
def selectors(store: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("selectors")
    for mode in ("pre", "post"):
        train_selector(store, root / mode, mode, FAST, progress=False)
    return {mode: root / mode for mode in ("pre", "post")}


def test_per_retriever_feedback_records_prompt_output_and_metric(store: Path) -> None:
    fb = FeedbackStore(store)
    assert fb.key.unit == "retriever" and fb.key.retriever == "none|recency|bm25"
    groups = fb.by_question()
    assert len(groups) == 16
    for pairs in groups.values():
        assert [p.item for p in pairs] == POOL
        none, recency, _ = pairs
        assert none.output == "" and none.value == 0.0  # knn without items answers nothing
        assert "is the title for" in recency.doc  # LaMP-4's per-item template in the prompt
    examples, pool = load_selector_examples(store)
    assert pool == POOL and len(examples) == 16 and examples[0].outputs is not None


def test_selector_loss_is_kl_to_the_softmax_of_metrics(store: Path, selectors: dict[str, Path]
                                                       ) -> None:
    examples, _ = load_selector_examples(store)
    selector = Selector.load(selectors["pre"])
    batch = examples[:3]
    with torch.no_grad():
        scores = selector.scores(batch)
    metrics = torch.tensor([e.feedback for e in batch])
    target = torch.softmax(metrics, -1)
    by_hand = (target * (target.log() - torch.log_softmax(scores, -1))).sum(-1).mean()
    assert kd_loss(scores, metrics).item() == pytest.approx(by_hand.item(), abs=1e-6)


def test_training_lowers_the_selector_dev_loss(selectors: dict[str, Path]) -> None:
    for mode, folder in selectors.items():
        history = json.loads((folder / "training.json").read_text())["history"]
        epochs = history["epochs"]
        assert history["best_epoch"] > 0, mode
        assert epochs[history["best_epoch"]]["dev_loss"] < epochs[0]["dev_loss"], mode


def test_selectors_inside_evaluate_and_the_report(huffpost: Path, selectors: dict[str, Path],
                                                  tmp_path: Path) -> None:
    specs = [f"rspg-pre:{selectors['pre']}", f"rspg-post:{selectors['post']}", "qpp-wig:" +
             "+".join(POOL), "qpp-nqc:" + "+".join(POOL)]
    runs = evaluate(huffpost, "dev", specs, tmp_path, model="knn", limit=8, progress=False)
    assert set(POOL) <= set(runs)  # the pool ran too, as rows of the table
    selection = json.loads((tmp_path / "selection.json").read_text())["selectors"]
    assert set(selection) == set(specs)
    for spec in specs:
        choices = selection[spec]
        assert len(choices) == 8 and set(choices.values()) <= set(POOL)
        for qid, chosen in choices.items():  # the chosen retriever's answer, reused
            assert runs[spec].predictions[qid] == runs[chosen].predictions[qid]
        assert set(runs[spec].metrics) == {"rouge-1", "rouge-L"}
    scores = {p: {q: v for q, v in zip(runs[p].predictions, runs[p].per_example["rouge-1"])}
              for p in POOL}
    assert 0.0 <= success_rate(scores, selection[specs[0]]) <= 1.0
    analysis = analyse(load_run(tmp_path))
    assert set(analysis.rates) == set(POOL)  # selectors repeat pool values: not in the pool
    assert set(analysis.selectors) == set(specs)
    assert analysis.selectors[specs[0]][0] == pytest.approx(success_rate(scores, selection[specs[0]]))
    html, md = write_report(tmp_path)
    text = md.read_text()
    assert "rspg-pre" in text and "qpp-wig" in text
    assert html.exists()


def test_wrong_selector_specs_are_refused(selectors: dict[str, Path], huffpost: Path,
                                          tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="RSPG-pre selector, not rspg-post"):
        evaluate(huffpost, "dev", [f"rspg-post:{selectors['pre']}"], tmp_path, model="knn", limit=2)
    with pytest.raises(ConfigError, match="rspg-pre needs the trained model's folder"):
        evaluate(huffpost, "dev", ["rspg-pre"], tmp_path, model="knn", limit=2)
    with pytest.raises(ConfigError, match="retrievers 'qpp-magic' is not valid; accepted: .*qpp-wig"):
        evaluate(huffpost, "dev", ["qpp-magic"], tmp_path, model="knn", limit=2)
    with pytest.raises(ConfigError, match="no selector"):
        Selector.load(tmp_path)
