"""Refining a baseline's knob with trial runs: bracketing, bisection, the best run that fits."""

from __future__ import annotations

import json
import math

import pytest

from fedquant.optimizer.schemes.record import Knob
from fedquant.run_folder import run_file
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.experiment.trial_calibration import refine_knob
from fedquant.validation.training.fedavg import RunOutput
from fedquant.validation.validate import run_experiment


def fake_runs(spend_of):
    calls = []

    def run(x):
        calls.append(x)
        return RunOutput(rows=[{"bits": spend_of(x)}], client_rows=[])

    return run, calls


@pytest.mark.parametrize("increasing", [True, False])
def test_refine_brackets_then_bisects_to_the_budget(increasing):
    # spend grows like log2 of the knob (as bits do with s0) in integer steps of 100
    def spend(x):
        return 100.0 * math.floor(4 * math.log2(x if increasing else 1 / x) + 40)

    knob = Knob("s0", lambda x: None, 1e-6, 1e6, increasing=increasing)  # make is unused by refine_knob itself
    run, calls = fake_runs(spend)
    budget = 5_050.0
    out, trials = refine_knob(knob, planned=0.5 if increasing else 2.0, budget=budget, runs=8, run=run)
    assert len(calls) <= 8 and len(trials) == len(calls)
    assert out is not None and out.rows[0]["bits"] <= budget
    fits = [t["bits"] for t in trials if t["fits"]]
    assert out.rows[0]["bits"] == max(fits)
    assert budget - out.rows[0]["bits"] <= 200  # two steps of the spend function after 8 trials
    assert any(not t["fits"] for t in trials)  # the budget was bracketed from above as well


def test_refine_returns_none_when_nothing_fits():
    knob = Knob("delta", lambda x: None, 1e-3, 1e3, increasing=False)
    run, calls = fake_runs(lambda x: 10.0**9)
    out, trials = refine_knob(knob, planned=1.0, budget=1.0, runs=3, run=run)
    assert out is None and len(trials) == 3 and not any(t["fits"] for t in trials)
    assert calls[1] > calls[0] > 0  # δ grows (fewer bits) while every trial overspends


def test_trial_runs_bring_a_baseline_to_the_budget(tmp_path):
    base = dict(model="logreg", clients=10, participation=0.1, partition="dirichlet:0.5", rounds=15, local_steps=10,
                local_epochs=None, lr=0.2, budget="fixed:1.5", seeds=(0,), schemes=("none", "feddq", "adaquantfl"))
    spend = {}
    for runs in (0, 6):
        out = tmp_path / f"r{runs}"
        summary = run_experiment(ExperimentConfig(**base, calibration_runs=runs), out, progress=False)
        budget = summary["budget_bits"]["0"]
        spend[runs] = {s: summary["schemes"][s]["total_bits"] / budget for s in ("feddq", "adaquantfl")}
        trials = json.loads(run_file(out, 0, "feddq").read_text())["calibration_trials"]
        assert (trials == []) if runs == 0 else (1 <= len(trials) <= runs)
    for s in ("feddq", "adaquantfl"):
        assert spend[6][s] <= 1.0
        assert spend[6][s] >= spend[0][s] - 1e-12  # never further from the budget than the forecast alone
