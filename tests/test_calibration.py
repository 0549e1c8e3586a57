"""Batch calibration on hand-made label scores."""

import math

import pytest

from pergen.evaluation.calibration import batch_calibrated


def test_batch_calibration_removes_a_constant_preference() -> None:
    # every input prefers "A" by 2 nats; relative to that, inputs 2 and 3 lean to "B"
    scores = [[-1.0, -3.0], [-1.0, -2.0], [-1.0, -2.5], [-1.0, -3.5]]
    assert [("A", "B")[int(s[1] > s[0])] for s in scores] == ["A"] * 4
    # normalized B-minus-A margins: -2, -1, -1.5, -2.5; mean -1.75 -> B for inputs 2 and 3
    assert batch_calibrated(scores, ["A", "B"]) == ["A", "B", "B", "A"]


def test_normalization_over_labels_and_shape_check() -> None:
    shifted = [[s + 7.0 for s in row] for row in ([-1.0, -3.0], [-1.0, -2.0])]
    assert batch_calibrated(shifted, ["A", "B"]) == ["A", "B"]
    assert batch_calibrated([[math.log(0.5)] * 3], ["x", "y", "z"]) == ["x"]  # ties: first
    with pytest.raises(ValueError, match="scores"):
        batch_calibrated([[0.0, 1.0]], ["x", "y", "z"])
