"""QPP selectors (paper section 5, Table 4) on hand-made rankings; expected values worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pergen.errors import ConfigError, DataError
from pergen.rspg.qpp import (
    PREDICTORS,
    get_predictor,
    nqc,
    reciprocal_rank_scores,
    select_by_qpp,
    sigma_max,
    sigma_x,
    wig,
)

ALL = [lambda s: wig(s), lambda s: nqc(s), sigma_max, lambda s: sigma_x(s)]


# --- WIG -------------------------------------------------------------------------------------

def test_wig_by_hand() -> None:
    # [3, 2, 1], k=2: top-2 mean = 2.5, corpus = mean(3, 2, 1) = 2 -> WIG = 0.5
    assert wig([3, 2, 1], k=2) == pytest.approx(0.5)
    # k=1: 3 - 2 = 1
    assert wig([3, 2, 1], k=1) == pytest.approx(1.0)


def test_wig_explicit_corpus_score() -> None:
    # corpus score 1 instead of the mean 2: 2.5 - 1 = 1.5
    assert wig([3, 2, 1], k=2, corpus_score=1.0) == pytest.approx(1.5)


def test_wig_k_beyond_list_is_cut() -> None:
    # k=10 on 3 items: top-k is the whole list, mean 2 - corpus 2 = 0
    assert wig([3, 2, 1], k=10) == pytest.approx(0.0)
    # with corpus 0: 2 - 0 = 2
    assert wig([3, 2, 1], k=10, corpus_score=0.0) == pytest.approx(2.0)


def test_wig_sorts_its_input() -> None:
    # [1, 3, 2] is the same list as [3, 2, 1]: top-2 are 3 and 2, not 1 and 3
    assert wig([1, 3, 2], k=2) == pytest.approx(0.5)


# --- NQC -------------------------------------------------------------------------------------

def test_nqc_by_hand() -> None:
    # [3, 2, 1], k=2: top-2 mean 2.5, deviations +-0.5, std 0.5; corpus |2| -> 0.25
    assert nqc([3, 2, 1], k=2) == pytest.approx(0.25)
    # k=3: std(3, 2, 1) = sqrt(2/3); corpus 2 -> sqrt(2/3) / 2
    assert nqc([3, 2, 1], k=3) == pytest.approx(math.sqrt(2 / 3) / 2)


def test_nqc_negative_scores_use_absolute_corpus_score() -> None:
    # [-1, -3, -5], k=2: top-2 std = 1; corpus mean -3 -> |-3| = 3 -> 1/3 (positive)
    assert nqc([-1, -3, -5], k=2) == pytest.approx(1 / 3)


def test_nqc_zero_corpus_score_falls_back_to_std() -> None:
    # [1, -1]: corpus mean 0, ratio undefined -> raw std of top-2 = 1
    assert nqc([1, -1], k=2) == pytest.approx(1.0)
    assert nqc([3, 2, 1], k=2, corpus_score=0.0) == pytest.approx(0.5)


def test_nqc_explicit_corpus_score() -> None:
    # std 0.5 / |-0.5| = 1
    assert nqc([3, 2, 1], k=2, corpus_score=-0.5) == pytest.approx(1.0)


# --- sigma_max / sigma_x% --------------------------------------------------------------------

def test_sigma_max_by_hand() -> None:
    # [3, 2, 1]: std of top-1 = 0, top-2 = 0.5, top-3 = sqrt(2/3) ~ 0.816 -> max sqrt(2/3)
    assert sigma_max([3, 2, 1]) == pytest.approx(math.sqrt(2 / 3))


def test_sigma_max_peak_inside_the_list() -> None:
    # [5, 1, 1, 1]: top-2 std = 2; top-3 mean 7/3, var (64+16+16)/27 -> std ~1.886;
    # top-4 mean 2, var (9+1+1+1)/4 = 3 -> std ~1.732. The max is at cut-off 2: 2.0
    assert sigma_max([5, 1, 1, 1]) == pytest.approx(2.0)


def test_sigma_max_large_offset_is_stable() -> None:
    # shifting every score by 1e6 leaves every std unchanged: still sqrt(2/3)
    assert sigma_max([1e6 + 3, 1e6 + 2, 1e6 + 1]) == pytest.approx(math.sqrt(2 / 3), rel=1e-6)


def test_sigma_x_by_hand() -> None:
    # [3, 2, 1], x=0.5: threshold 1.5 keeps {3, 2} -> std 0.5
    assert sigma_x([3, 2, 1], x=0.5) == pytest.approx(0.5)
    # x=0.3: threshold 0.9 keeps all -> sqrt(2/3)
    assert sigma_x([3, 2, 1], x=0.3) == pytest.approx(math.sqrt(2 / 3))
    # x=1: only the top item -> 0
    assert sigma_x([3, 2, 1], x=1.0) == pytest.approx(0.0)


def test_sigma_x_negative_scores() -> None:
    # top -1 < 0, x=0.5: threshold -1 / 0.5 = -2 keeps {-1, -2} -> std 0.5
    assert sigma_x([-1, -2, -4], x=0.5) == pytest.approx(0.5)
    # positive top with negative tail: threshold 0.5 * 2 = 1 keeps {2} only -> 0
    assert sigma_x([2, -1, -3], x=0.5) == pytest.approx(0.0)
    # top exactly 0: threshold 0 keeps {0, 0} -> 0
    assert sigma_x([0, 0, -5], x=0.5) == pytest.approx(0.0)


@pytest.mark.parametrize("x", [0.0, -0.1, 1.5])
def test_sigma_x_rejects_bad_x(x: float) -> None:
    with pytest.raises(ConfigError):
        sigma_x([3, 2, 1], x=x)


# --- edge cases ------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", ALL)
@pytest.mark.parametrize("scores", [[], [4.2], [2.0, 2.0, 2.0], [0.0] * 5, np.array([])])
def test_degenerate_lists_predict_zero(fn, scores) -> None:
    # empty, a single item, all-equal and the paper's all-zero "none" list: no spread, no gain
    value = fn(scores)
    assert value == pytest.approx(0.0, abs=1e-12)
    assert not math.isnan(value)


@pytest.mark.parametrize("fn", ALL)
def test_non_finite_scores_are_rejected(fn) -> None:
    with pytest.raises(DataError):
        fn([1.0, float("nan")])
    with pytest.raises(DataError):
        fn([float("inf"), 1.0])


def test_bad_shape_and_k() -> None:
    with pytest.raises(DataError):
        wig([[1.0, 2.0]])
    with pytest.raises(ConfigError):
        nqc([3, 2, 1], k=0)


def test_reciprocal_rank_scores() -> None:
    assert reciprocal_rank_scores(3) == pytest.approx([1.0, 0.5, 1 / 3])
    assert reciprocal_rank_scores(0) == []


# --- registry and selection ------------------------------------------------------------------

def test_registry_names_and_unknown_name() -> None:
    assert set(PREDICTORS) == {"wig", "nqc", "sigma_max", "sigma_x%"}
    assert get_predictor("sigma_x%") is sigma_x
    with pytest.raises(ConfigError, match="wig.*nqc.*sigma_max.*sigma_x%"):
        get_predictor("clarity")
    with pytest.raises(ConfigError, match="known"):
        select_by_qpp({"bm25": [1.0]}, "clarity")


def test_select_by_qpp_predictors_disagree() -> None:
    rankings = {
        "none": [],
        # a: WIG k=2: 9.5 - 9 = 0.5; NQC: 0.5 / 9 ~ 0.056
        "a": [10.0, 9.0, 8.0],
        # b: WIG k=2: 0.75 - 0.6 = 0.15; NQC: std(1, 0.5) = 0.25, / 0.6 ~ 0.417
        "b": [1.0, 0.5, 0.3],
    }
    assert select_by_qpp(rankings, "wig", k=2) == "a"
    assert select_by_qpp(rankings, "nqc", k=2) == "b"
    # sigma_max: a = sqrt(2/3) ~ 0.816; b: top-2 0.25, top-3 std(1, .5, .3) ~ 0.294 -> a
    assert select_by_qpp(rankings, "sigma_max") == "a"
    # sigma_x% (x=0.5): a threshold 5 keeps all -> 0.816; b threshold 0.5 keeps {1, .5} -> 0.25
    assert select_by_qpp(rankings, "sigma_x%", x=0.5) == "a"


def test_select_by_qpp_none_and_ties() -> None:
    # "none" (no scores) predicts 0; a flat list also predicts 0 -> tie, first name wins
    assert select_by_qpp({"none": [], "flat": [1.0, 1.0, 1.0]}, "wig") == "none"
    assert select_by_qpp({"flat": [1.0, 1.0, 1.0], "none": []}, "wig") == "flat"
    # any positive prediction beats "none" even when "none" comes first
    assert select_by_qpp({"none": [], "bm25": [3.0, 2.0, 1.0]}, "nqc", k=2) == "bm25"
    # the only candidate is chosen
    assert select_by_qpp({"none": []}, "sigma_max") == "none"
    # recency via reciprocal ranks: [1, .5, .333], WIG k=2 = 0.75 - 0.611 ~ 0.139 < bm25's 0.5
    rankings = {"recency": reciprocal_rank_scores(3), "bm25": [3.0, 2.0, 1.0]}
    assert select_by_qpp(rankings, "wig", k=2) == "bm25"
    with pytest.raises(ConfigError):
        select_by_qpp({}, "wig")
