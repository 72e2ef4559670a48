"""fedquant.benchmarks.scaling: the exponent fit, its point selection, and the benchmark's structure.

No timing is asserted anywhere: the structure test runs tiny sizes and checks what is reported, not how fast.

Tolerance of the exponent recovery. With t = c·n^a·exp(σ·ε), ε ~ N(0, 1), the least-squares slope has
standard error σ/√Sxx, Sxx = Σ(x − x̄)² over x = ln n. For the 9 sizes 10^3, 10^3.5, …, 10^7 (x evenly spread
over ln 10^4 = 9.21) Sxx = 79.5, so σ = 0.1 (10 % noise, more than the benchmark's medians show) gives a
standard error of 0.0112; the tolerance 0.06 is 5.3 standard errors (a false failure about once in 10^7
seeds), and still far tighter than the difference the verdicts act on (1 against 1.1, or n log n's 1.1).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fedquant.benchmarks import scaling
from fedquant.benchmarks.scaling import MIN_FIT_SECONDS, bench_scaling, fit_exponent, format_bench
from fedquant.cli import main

SIZES = np.logspace(3, 7, 9)
TOLERANCE = 0.06


@pytest.mark.parametrize("exponent", [0.5, 1.0, 1.1, 1.5, 2.0])
@pytest.mark.parametrize("seed", range(5))
def test_fit_recovers_the_exponent_of_a_noisy_power_law(exponent: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # 10 ms at the smallest size, so every point is above the 1 ms cut (exp(0.1·ε) > 0.5 for |ε| < 6.9)
    t = 1e-2 * (SIZES / SIZES[0]) ** exponent * np.exp(0.1 * rng.standard_normal(SIZES.size))
    fit = fit_exponent(SIZES, t, overhead_factor=0.0)  # the estimator on every point (selection: below)
    assert fit.rule == "t >= min" and fit.used == tuple(range(SIZES.size))
    assert abs(fit.exponent - exponent) <= TOLERANCE
    # the reported standard error is the textbook one: within a factor 3 of σ/√Sxx = 0.0112
    sxx = float(np.sum((np.log(SIZES) - np.log(SIZES).mean()) ** 2))
    assert 0.1 / math.sqrt(sxx) / 3 <= fit.stderr <= 3 * 0.1 / math.sqrt(sxx)
    # the default selection (t ≥ 10× the fastest) keeps fewer points — for a = 0.5 the 5 of 2 decades, s.e.
    # 0.1/√13.2 = 0.028 — so the looser 4 × 0.06 (over 8 standard errors)
    assert abs(fit_exponent(SIZES, t).exponent - exponent) <= 4 * TOLERANCE


def test_exact_power_law_is_fitted_exactly() -> None:
    fit = fit_exponent(SIZES, 1e-6 * SIZES**1.25)
    assert fit.exponent == pytest.approx(1.25, abs=1e-12)
    assert fit.stderr == pytest.approx(0.0, abs=1e-10)


def test_points_below_a_millisecond_are_left_out() -> None:
    """Linear work behind a fixed 0.1 ms overhead: the fast points would flatten the slope."""
    n = np.logspace(2, 8, 13)
    t = 1e-4 + 1e-9 * n
    fit = fit_exponent(n, t)
    assert fit.used == tuple(int(i) for i in np.flatnonzero(t >= MIN_FIT_SECONDS))
    assert min(n[list(fit.used)]) >= 9e5  # t ≥ 1 ms ⇔ 1e-9·n ≥ 0.9 ms
    assert fit.exponent == pytest.approx(1.0, abs=0.05)
    everything = fit_exponent(n, t, min_seconds=0.0, overhead_factor=0.0)  # the same data, overhead included
    assert everything.exponent < 0.8


def test_milliseconds_of_fixed_cost_are_left_out_too() -> None:
    """A 2 ms fixed cost clears the 1 ms floor everywhere; the 10× rule keeps its share ≤ 10 % of every point."""
    n = np.logspace(3, 8, 11)
    t = 2e-3 + 1e-9 * n
    fit = fit_exponent(n, t)
    assert fit.used == tuple(int(i) for i in np.flatnonzero(t >= 10 * t.min()))
    assert 0.9 <= fit.exponent <= 1.0  # biased low by at most 10 % (the fixed cost is ≤ t/10 on every point)
    assert fit_exponent(n, t, overhead_factor=0.0).exponent < 0.6  # the 1 ms floor alone would let it flatten


def test_too_few_slow_points_fall_back_to_the_two_largest_sizes() -> None:
    n = np.array([10.0, 100.0, 1000.0, 10000.0])
    t = np.array([1e-6, 2e-6, 4e-6, 8e-6])  # all below 1 ms
    fit = fit_exponent(n, t)
    assert fit.rule == "two largest sizes" and fit.used == (2, 3)
    assert fit.exponent == pytest.approx(math.log(2) / math.log(10))
    assert math.isnan(fit.stderr)  # two points leave no residual


@pytest.mark.parametrize(("sizes", "times"), [
    ([1000.0], [1.0]),  # one point
    ([1000.0, 1000.0, 1000.0], [1.0, 2.0, 3.0]),  # one size, repeated
    ([], []),  # nothing
    ([10.0, 100.0], [0.0, -1.0]),  # no positive time
    ([10.0, 100.0], [float("nan"), 1.0]),  # only one usable point
])
def test_degenerate_inputs_give_nan(sizes: list[float], times: list[float]) -> None:
    fit = fit_exponent(sizes, times)
    assert math.isnan(fit.exponent) and fit.used == () and fit.rule == "degenerate"


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        fit_exponent([1.0, 2.0], [1.0])


TINY = {"rounds": (200, 2_000), "clients_solver": (1, 3), "clients_engine": (2, 4), "d": (1_000, 3_000),
        "n": (1_000, 10_000)}
CURVES = {"integer vs T", "continuous vs T", "integer vs N", "continuous vs N", "vectorized vs clients",
          "loop vs clients", "vectorized vs d", "loop vs d", "quantize+encode vs n"}


def test_quick_scaling_structure(tmp_path) -> None:
    out = tmp_path / "scaling.png"
    r = bench_scaling(out, quick=True, threads=1, sizes=TINY)
    assert {c["curve"] for c in r["curves"]} == CURVES
    assert out.is_file() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and r["plot"] == str(out)
    for c in r["curves"]:
        assert len(c["sizes"]) == len(c["seconds"]) == 2 and all(t > 0 for t in c["seconds"])
        assert math.isfinite(c["exponent"]) and set(c["used"]) <= set(c["sizes"]) and len(c["used"]) >= 2
        assert isinstance(c["as_expected"], bool)
    d_sizes = next(c["sizes"] for c in r["curves"] if c["curve"] == "vectorized vs d")
    assert d_sizes == [985, 3010]  # the MLP 64-h-10 has 75h + 10 parameters, h = 13 and 40
    text = format_bench(r)
    for name in CURVES:
        assert name in text
    assert f"plot: {out}" in text and text.count("as expected") + text.count("WORSE") == len(CURVES)


def test_cli_scaling_json(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(scaling, "QUICK_SIZES", TINY)
    out = tmp_path / "s.svg"
    assert main(["bench", "scaling", "--quick", "--threads", "1", "--format", "json", "--out", str(out)]) == 0
    r = json.loads(capsys.readouterr().out)["scaling"]
    assert r["quick"] is True and r["plot"] == str(out) and out.is_file()
    assert {c["curve"] for c in r["curves"]} == CURVES


@pytest.mark.parametrize(("argv", "flag"), [
    (["bench", "scaling", "--out", "plot.txt"], "--out"),
    (["bench", "scaling", "--out", "no/such/folder/plot.png"], "--out"),
    (["bench", "scaling", "--out", ""], "--out"),
    (["bench", "schedule", "--rounds", "10000000"], "--rounds"),  # cvxpy at 10^7 would run for hours
    (["bench", "scaling", "--quik"], "--quik"),
])
def test_bad_scaling_input_is_one_line_and_exit_2(argv, flag, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and flag in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_the_cli_refuses_cvxpy_where_the_benchmark_does() -> None:
    from fedquant.benchmarks import solvers
    from fedquant.cli import bench

    assert bench.CVXPY_MAX_ROUNDS == solvers.CVXPY_MAX_ROUNDS
