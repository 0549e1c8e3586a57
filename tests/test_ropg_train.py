"""ROPG training on a small real subset: dev loss falls, runs resume, models round-trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pergen.cli import app
from pergen.errors import ConfigError
from pergen.retrievers import get_retriever
from pergen.ropg import TrainConfig, load_examples, train_retriever
from pergen.run.pipeline import evaluate
from pergen.training.feedback import collect_feedback
from pergen.training.loop import History, split_dev

pytestmark = pytest.mark.slow  # fine-tunes MiniLM on CPU

FAST = {"epochs": 2, "lr": 1e-4, "dev_fraction": 0.25, "batch_size": 8}


@pytest.fixture(scope="module")
def store(huffpost: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real feedback: knn answers with the single item's headline, scored by ROUGE-1."""
    out = tmp_path_factory.mktemp("ropg") / "fb"
    collect_feedback(huffpost, "train", out, model="knn", retriever="bm25", depth=6, limit=24,
                     progress=False)
    return out


def _lowers_dev_loss(history: History, folder: Path, method: str) -> None:
    start, best = history.epochs[0], history.epochs[history.best_epoch]
    assert history.best_epoch > 0
    assert best["dev_loss"] < start["dev_loss"]
    saved = json.loads((folder / "training.json").read_text())
    assert saved["history"]["best_epoch"] == history.best_epoch
    assert saved["config"]["method"] == method


def test_rl_lowers_the_dev_loss(store: Path, tmp_path: Path) -> None:
    config = TrainConfig(method="rl", **FAST)
    _lowers_dev_loss(train_retriever([store], tmp_path, config, progress=False), tmp_path, "rl")


def test_kd_lowers_the_dev_loss_and_resumes_to_the_same_model(store: Path, tmp_path: Path) -> None:
    config = TrainConfig(method="kd", **FAST)
    full = train_retriever([store], tmp_path / "full", config, progress=False)
    _lowers_dev_loss(full, tmp_path / "full", "kd")

    def die(epoch: int, figures: dict[str, float]) -> None:
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_retriever([store], tmp_path / "cut", config, progress=False, on_epoch=die)
    resumed = train_retriever([store], tmp_path / "cut", config, progress=False)
    assert [e["epoch"] for e in resumed.epochs] == [0, 1, 2]
    assert resumed.epochs[2]["dev_loss"] == pytest.approx(full.epochs[2]["dev_loss"], rel=1e-4)
    with pytest.raises(ConfigError, match="other settings"):
        train_retriever([store], tmp_path / "cut", TrainConfig(method="rl", **FAST), progress=False)


def test_dev_split_is_seeded_and_disjoint(store: Path) -> None:
    examples = load_examples([store])
    train, dev = split_dev(examples, 0.25, seed=0)
    again, dev_again = split_dev(list(reversed(examples)), 0.25, seed=0)
    assert [e.question for e in dev] == [e.question for e in dev_again]
    assert not {e.question for e in train} & {e.question for e in dev}
    assert len(dev) == 6 and len(train) == 18
    assert {e.question for e in split_dev(examples, 0.25, seed=1)[1]} != {e.question for e in dev}


def test_trained_retriever_round_trips_through_evaluate(store: Path, huffpost: Path,
                                                        tmp_path: Path) -> None:
    model_dir = tmp_path / "kd"
    runner = CliRunner()
    result = runner.invoke(app, ["train-retriever", "--feedback", str(store), "--out",
                                 str(model_dir), "--method", "kd", "--epochs", "1", "--lr", "1e-4",
                                 "--dev-fraction", "0.25", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (model_dir / "config.json").exists()
    retriever = get_retriever(f"ropg-kd:{model_dir}")
    assert retriever.name == f"ropg-kd:{model_dir}"
    runs = evaluate(huffpost, "dev", [f"ropg-kd:{model_dir}", "dense"], tmp_path / "eval",
                    model="knn", limit=6, progress=False)
    trained, base = runs[f"ropg-kd:{model_dir}"], runs["dense"]
    assert set(trained.metrics) == {"rouge-1", "rouge-L"}
    assert (tmp_path / "eval" / "ropg-kd_kd" / "predictions.json").exists()
    assert len(trained.predictions) == len(base.predictions) == 6
    with pytest.raises(ConfigError, match="needs the trained model's folder"):
        get_retriever("ropg-rl")


def test_train_device_is_checked_before_anything_is_written(store: Path, tmp_path: Path) -> None:
    import torch

    runner = CliRunner()
    base = ["train-retriever", "--feedback", str(store), "--out", str(tmp_path / "m"),
            "--epochs", "1"]
    result = runner.invoke(app, [*base, "--device", "tpu"])
    assert result.exit_code == 2 and "accepted auto, cpu, cuda" in result.output
    if not torch.cuda.is_available():
        result = runner.invoke(app, [*base, "--device", "cuda"])
        assert result.exit_code == 2 and "torch sees no CUDA GPU" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "m").exists()


def test_select_by_feedback_keeps_the_epoch_whose_first_item_is_best(store: Path,
                                                                    tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["train-retriever", "--feedback", str(store), "--method", "kd", "--epochs", "3",
            "--lr", "1e-4", "--dev-fraction", "0.25", "--device", "cpu"]
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "m"), "--select-by", "feedback"])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "m" / "training.json").read_text())
    top1 = [e["dev_top1_feedback"] for e in saved["history"]["epochs"]]
    assert saved["config"]["select_by"] == "feedback"
    assert saved["history"]["best_epoch"] == top1.index(max(top1))
    bad = runner.invoke(app, [*base, "--out", str(tmp_path / "x"), "--select-by", "rouge"])
    assert bad.exit_code == 2 and "--select-by 'rouge' is not valid" in bad.output
    assert "accepted: loss, feedback" in bad.output and not (tmp_path / "x").exists()


def test_a_run_written_before_a_setting_existed_still_resumes(store: Path, tmp_path: Path) -> None:
    """training.json files written before `select_by` existed had its default then."""
    config = TrainConfig(method="kd", **FAST)

    def die(epoch: int, figures: dict[str, float]) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_retriever([store], tmp_path, config, progress=False, on_epoch=die)
    info = tmp_path / "training.json"
    old = json.loads(info.read_text())
    del old["config"]["select_by"]
    info.write_text(json.dumps(old))
    resumed = train_retriever([store], tmp_path, config, progress=False)
    assert [e["epoch"] for e in resumed.epochs] == [0, 1, 2]
    with pytest.raises(ConfigError, match="other settings"):
        train_retriever([store], tmp_path, TrainConfig(method="kd", select_by="feedback", **FAST),
                        progress=False)
