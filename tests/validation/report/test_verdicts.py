"""Paired verdicts: hand-computed t intervals, the three verdicts, the ranking and prediction checks in context,
the answer line."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.report.summary import answer_line, prediction_in_context, ranking_in_context
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


CFG = ExperimentConfig(schemes=("none", "feddq", "optimal", "optimal-online"), seeds=(0, 1))


def _plans(persistence: dict | None, sd: dict | None = None) -> dict:
    crit = {"name": "final" if persistence and "fit" in persistence else "nonconvex", "asked": "auto",
            "reason": "r"}
    if persistence is not None:
        crit["persistence"] = persistence
    plans = {}
    for k in CFG.seeds:
        plans[k] = {"predicted_objective": {"feddq": 0.10, "optimal": 0.30, "optimal-online": 0.11},
                    "criterion": crit}
        if sd is not None:
            plans[k]["predicted_sd"] = sd
    return plans


def _verdicts(limiting: bool, **kv: str) -> dict:
    return {"seeds": 2, "quantization": {"limiting": limiting, "line": "quantization is not limiting here"},
            "against_best": [{"scheme": s, "reference": "feddq", "verdict": v} for s, v in kv.items()]}


def test_prediction_in_context_reads_n_a_where_quantization_is_not_limiting_unless_all_ties_were_predicted():
    tied = _verdicts(False, feddq="best", optimal="tied", **{"optimal-online": "tied"})
    # the injected cost was resolved and a difference predicted (optimal far above): the data cannot judge it
    sd = {"feddq": 0.001, "optimal": 0.001, "optimal-online": 0.01}
    out = prediction_in_context(CFG, _plans({"fit": "power(...)"}, sd), tied)
    assert out["holds"] is None and out["note"] == "quantization is not limiting here"
    # the pilot's injected noise cost nothing measurable: every scheme predicted to tie, and they do
    out = prediction_in_context(CFG, _plans({"excess": [0.0]}), tied)
    assert out["holds"] is True and out["predicted_ties"] == ["optimal", "optimal-online"]
    assert "predicted to tie" in out["ties_note"]


def test_answer_line_names_the_schedule_its_saving_and_its_ties():
    summary = {"schemes": {"none": {"total_bits": 1000.0}, "feddq": {"total_bits": 50.0}},
               "verdicts": {"seeds": 5, "against_best": [
                   {"scheme": "feddq", "reference": "feddq", "verdict": "best", "equal_bits": True},
                   {"scheme": "optimal", "reference": "feddq", "verdict": "tied", "equal_bits": True},
                   {"scheme": "fixed:8", "reference": "feddq", "verdict": "worse", "equal_bits": False}],
                   "quantization": {"against_none": [{"scheme": "feddq", "mean_difference": 0.07, "ci_low": 0.01,
                                                      "ci_high": 0.12}]}}}
    line = answer_line(summary)
    assert line == ("answer: at this budget use feddq — 5.0% of the unquantized run's bits (saves 95.0%), final "
                    "loss +0.0700 vs none [+0.0100, +0.1200]; tied with optimal within the 95% interval over 5 "
                    "seeds (any of them will do)")
