"""Label mode fused: the LLM's calibrated label scores, the user's prior and the vote,
weighted by a logistic fit on the train split; reproducible and reused until its inputs
change."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from synthetic import KINDS, FakeLM

from pergen.errors import ConfigError
from pergen.run.fusion import FEATURES, fit
from pergen.run.pipeline import evaluate


def _with_train(tmp_path: Path, kind: str) -> Path:
    folder = tmp_path / kind
    KINDS[kind](folder, "train", users=4, per_user=5)
    return KINDS[kind](folder, "dev", users=4, per_user=3)


def test_the_fit_learns_the_feature_that_decides() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3, 3))
    gold = x[:, :, 2].argmax(axis=1)  # the third feature alone decides
    weights, _ = fit(x, gold.tolist())
    assert weights[2] > 5 * max(abs(weights[0]), abs(weights[1]))


@pytest.mark.parametrize("kind", ["label", "rating"])
def test_fused_weights_are_reproducible_and_reused(kind: str, tmp_path: Path) -> None:
    data = _with_train(tmp_path, kind)
    first = evaluate(data, "dev", ["bm25"], tmp_path / "a", model=FakeLM(), label_mode="fused",
                     fuse_train=12, progress=False, references=False)
    stored = json.loads((tmp_path / "a" / "bm25" / "fused.json").read_text())
    assert stored["features"] == list(FEATURES) and stored["n_train"] == 12
    again = evaluate(data, "dev", ["bm25"], tmp_path / "b", model=FakeLM(), label_mode="fused",
                     fuse_train=12, progress=False, references=False)
    assert json.loads((tmp_path / "b" / "bm25" / "fused.json").read_text()) == stored
    assert first["bm25"].predictions == again["bm25"].predictions
    before = (tmp_path / "a" / "bm25" / "fused.json").stat().st_mtime_ns
    lm = FakeLM()
    evaluate(data, "dev", ["bm25"], tmp_path / "a", model=lm, label_mode="fused", fuse_train=12,
             progress=False, references=False)
    assert lm.calls == 0  # dev and train answers come from the journals
    assert (tmp_path / "a" / "bm25" / "fused.json").stat().st_mtime_ns == before


def test_fused_needs_a_train_split(synthetic, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        evaluate(synthetic("label"), "dev", ["bm25"], tmp_path / "o", model=FakeLM(),
                 label_mode="fused", progress=False)
    assert e.value.option == "label_mode"
