"""Paired verdicts: hand-computed t intervals, the three verdicts, and the ranking check in context."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fedquant.validation.report.summary import ranking_in_context
from fedquant.validation.report.verdicts import against_best, paired, quantization_cost

#: Student's t quantile t_{0.975, 2} (a table value: 4.3027 to four decimals)
T2 = 4.302652729749462


def test_paired_interval_by_hand_tied() -> None:
    # d = [0, 0.2, 0.1]: mean 0.1, sample sd 0.1, half width t·0.1/√3 = 0.248414…, interval contains 0
    v = paired("a", "b", np.array([1.0, 1.2, 1.1]), np.array([1.0, 1.0, 1.0]))
    half = T2 * 0.1 / math.sqrt(3)
    assert v.mean_difference == pytest.approx(0.1, rel=1e-12)
    assert (v.ci_low, v.ci_high) == (pytest.approx(0.1 - half, rel=1e-9), pytest.approx(0.1 + half, rel=1e-9))
    assert v.verdict == "tied" and v.wins == 0 and v.seeds == 3


def test_paired_interval_by_hand_worse_and_better() -> None:
    # d = [0.30, 0.31, 0.29]: mean 0.30, sd 0.01, half width 0.0248414…: the interval [0.2752, 0.3248] is above 0
    worse = paired("a", "b", np.array([1.30, 1.31, 1.29]), np.zeros(3) + 1.0)
    assert worse.verdict == "worse" and worse.ci_low == pytest.approx(0.30 - T2 * 0.01 / math.sqrt(3), rel=1e-9)
    better = paired("b", "a", np.zeros(3) + 1.0, np.array([1.30, 1.31, 1.29]))
    assert better.verdict == "better" and better.wins == 3 and better.ci_high < 0


def test_one_seed_gives_no_verdict_unless_identical() -> None:
    assert paired("a", "b", np.array([1.1]), np.array([1.0])).verdict == "one seed"
    same = paired("a", "b", np.array([1.0]), np.array([1.0]))
    assert same.verdict == "tied" and same.ci_low is None


def test_against_best_marks_the_best_and_pairs_the_others() -> None:
    loss = {"x": np.array([1.0, 1.1, 1.2]), "y": np.array([1.5, 1.6, 1.7]), "z": np.array([1.0, 1.3, 1.1])}
    verdicts = {v.scheme: v for v in against_best(loss)}
    assert verdicts["x"].verdict == "best" and verdicts["x"].reference == "x"
    assert verdicts["y"].verdict == "worse"  # d = 0.5 at every seed: no spread, a sure difference
    assert verdicts["z"].verdict == "tied" and verdicts["z"].mean_difference == pytest.approx(0.1 / 3, rel=1e-12)
    # the best is chosen among the schemes at one budget: x spent other bits, so z is the reference
    at_budget = {v.scheme: v for v in against_best(loss, among=["y", "z"])}
    assert at_budget["z"].verdict == "best" and at_budget["x"].reference == "z"
    assert at_budget["x"].mean_difference == pytest.approx(-0.1 / 3, rel=1e-12)


def test_quantization_cost_lines() -> None:
    ref = np.array([1.0, 1.1, 1.2])
    helps = quantization_cost({"q": ref - np.array([0.30, 0.31, 0.29])}, ref)
    assert not helps["limiting"] and "lowered the training loss" in helps["line"]
    noise = quantization_cost({"q": ref + np.array([0.0, 0.2, 0.1])}, ref)
    assert not noise["limiting"] and "not limiting" in noise["line"]
    costs = quantization_cost({"q": ref + np.array([0.30, 0.31, 0.29]), "r": ref}, ref)
    assert costs["limiting"] and "1 of 2 schemes (q)" in costs["line"]


RANKING = {"predicted": ["a", "b", "c"], "measured": ["c", "b", "a"], "holds": False, "kendall_tau": -1.0}


def test_ranking_in_context() -> None:
    not_limiting = {"quantization": {"limiting": False, "line": "quantization is not limiting here"},
                    "against_best": [], "seeds": 3}
    assert ranking_in_context(RANKING, not_limiting, ["a", "b", "c"])["holds"] is None
    tied = {"quantization": None, "seeds": 3, "against_best": [
        {"scheme": s, "reference": "c", "verdict": v} for s, v in (("a", "tied"), ("b", "tied"), ("c", "best"))]}
    out = ranking_in_context(RANKING, tied, ["a", "b"])
    assert out["holds"] is None and "tied" in out["note"] and out["kendall_tau"] == -1.0
    assert ranking_in_context(RANKING, tied, ["a", "b", "c"])["holds"] is None  # the best itself counts as tied
    differ = {"quantization": {"limiting": True, "line": ""}, "seeds": 3, "against_best": [
        {"scheme": "a", "reference": "c", "verdict": "worse"}, {"scheme": "b", "reference": "c", "verdict": "tied"}]}
    # schemes differ: Kendall τ is reported as a statistic, the prediction check is the verdict
    out = ranking_in_context(RANKING, differ, ["a", "b"])
    assert out["holds"] is None and "statistic" in out["note"] and out["kendall_tau"] == -1.0
