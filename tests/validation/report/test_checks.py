"""The four checks (validation/report/checks.py) on constructed inputs whose verdict is known in advance."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fedquant.theory import numeric
from fedquant.validation.report.checks import (
    ALPHA,
    bound_for_run,
    check_bound,
    check_one_step,
    check_quant_error,
    check_ranking,
)


def json_safe(result: dict) -> None:
    """Every check ends up in summary.json, written with allow_nan=False."""
    json.dumps(result, allow_nan=False)


# ------------------------------------------------------------------------------------------ quant_error


def client_rows(meas: list[float], bound: float = 1.0, scale: float = 1e-4) -> list[dict]:
    return [{"levels": 15, "quant_error": m, "quant_error_bound": bound, "hoeffding_scale": scale} for m in meas]


def allowance(n: int, scale: float) -> float:
    """Hoeffding: a sum of independent terms in [0, δ_j²] exceeds its mean by t with probability at most
    exp(−2t²/Σδ_j⁴); t for probability α/n, so that all n draws are covered at once with probability 1 − α."""
    return math.sqrt(math.log(n / ALPHA) / 2 * scale)


def test_quant_error_holds_when_every_draw_is_below_its_bound() -> None:
    rows = client_rows([0.5, 0.7, 0.99, 1.0])
    res = check_quant_error(rows, deterministic=False)
    assert res["holds"] is True
    assert res["measured"]["max_ratio"] == pytest.approx(1.0)
    assert res["measured"]["mean_ratio"] == pytest.approx(0.7975)
    assert res["measured"]["draws"] == 4 and res["measured"]["over_bound"] == 0
    json_safe(res)


def test_quant_error_hoeffding_allowance_is_the_edge() -> None:
    n, scale = 10, 1e-4
    a = allowance(n, scale)
    inside = client_rows([0.8] * (n - 1) + [1.0 + 0.99 * a], scale=scale)
    outside = client_rows([0.8] * (n - 1) + [1.0 + 1.01 * a], scale=scale)
    res_in = check_quant_error(inside, deterministic=False)
    res_out = check_quant_error(outside, deterministic=False)
    assert res_in["holds"] is True and res_in["measured"]["over_bound"] == 1
    assert res_out["holds"] is False
    assert res_in["tolerance"]["max_relative_allowance"] == pytest.approx(a)
    assert res_out["worst_excess_in_allowances"] == pytest.approx(1.01)


def test_quant_error_deterministic_has_no_hoeffding_allowance() -> None:
    """Nearest rounding obeys the bound on every draw: only float32 rounding (1e-6 relative) is forgiven,
    however large the Hoeffding scale of the rows."""
    big_scale = 1.0
    assert check_quant_error(client_rows([1.0, 0.3], scale=big_scale), deterministic=True)["holds"] is True
    over = client_rows([1.0 + 1e-5, 0.3], scale=big_scale)
    assert check_quant_error(over, deterministic=True)["holds"] is False
    assert check_quant_error(over, deterministic=False)["holds"] is True  # the same rows, stochastic
    res = check_quant_error(over, deterministic=True)
    assert res["tolerance"]["max_relative_allowance"] == pytest.approx(1e-6)


def test_quant_error_ignores_unquantized_rows() -> None:
    none_rows = [{"levels": 0, "quant_error": 5.0, "quant_error_bound": 0.0, "hoeffding_scale": 0.0}] * 3
    res = check_quant_error(none_rows, deterministic=False)
    assert res["holds"] is None and "no quantized" in res["note"]
    res = check_quant_error(none_rows + client_rows([0.5]), deterministic=False)
    assert res["holds"] is True and res["measured"]["draws"] == 1
    json_safe(res)


# ------------------------------------------------------------------------------------------ one_step


def one_step_runs(excess_shift: float, noise: float, L: float = 2.0, n: int = 20) -> list[tuple[dict, float]]:
    rng = np.random.default_rng(5)
    v = rng.uniform(1e-3, 2e-3, n)
    jitter = noise * np.resize([1.0, -1.0], n)  # zero mean for even n: the mean difference is the shift exactly
    rows = [{"levels": 15, "quant_error": float(vi), "excess_loss": float(0.5 * L * vi + excess_shift + e)}
            for vi, e in zip(v, jitter, strict=True)]
    rows.append({"levels": 0, "quant_error": 0.0, "excess_loss": 10.0})  # the none run's rows are ignored
    rows.append({"levels": 15, "quant_error": 1.0})  # a downlink-free row without excess_loss is ignored
    return [({"rows": rows}, L)]


def test_one_step_holds_when_excess_is_below_the_lemma() -> None:
    res = check_one_step(one_step_runs(excess_shift=-5e-4, noise=1e-4))
    assert res["holds"] is True and res["rounds"] == 20
    assert res["measured"] < res["predicted"]
    json_safe(res)


def test_one_step_fails_when_excess_exceeds_the_lemma_beyond_three_standard_errors() -> None:
    runs = one_step_runs(excess_shift=1e-3, noise=1e-4)
    res = check_one_step(runs)
    rows = [r for r in runs[0][0]["rows"] if r["levels"] and "excess_loss" in r]
    diff = np.array([r["excess_loss"] - 0.5 * 2.0 * r["quant_error"] for r in rows])
    assert res["tolerance"] == pytest.approx(3 * diff.std(ddof=1) / math.sqrt(diff.size))
    assert res["measured"] - res["predicted"] == pytest.approx(diff.mean())
    assert res["holds"] is False


def test_one_step_small_excess_within_tolerance_holds() -> None:
    # a mean excess of one standard error over the prediction is within 3 standard errors
    noise, n = 1e-3, 20
    res = check_one_step(one_step_runs(excess_shift=noise / math.sqrt(n), noise=noise, n=n))
    assert 0 < res["measured"] - res["predicted"] < res["tolerance"]
    assert res["holds"] is True


def test_one_step_without_quantized_rounds_is_not_applicable() -> None:
    res = check_one_step([({"rows": [{"levels": 0, "excess_loss": 0.0, "quant_error": 0.0}]}, 1.0)])
    assert res["holds"] is None and "note" in res


# ------------------------------------------------------------------------------------------ bound


def bound_run(T: int = 10) -> dict:
    rng = np.random.default_rng(9)
    return {"rows": [{"p2": 0.25 + 0.01 * t, "quant_error_bound": float(rng.uniform(1e-4, 1e-3)),
                      "grad_norm2": float(rng.uniform(0.01, 0.05))} for t in range(T)]}


CONSTANTS = {"L": 2.0, "sigma2": 0.5, "zeta2": 0.3, "gap": 2.3}


def test_bound_does_not_apply_when_lr_L_tau_exceeds_one_half() -> None:
    lr, tau = 0.1, 5  # η L τ = 0.1·2·5 = 1 > 1/2
    per_run = bound_for_run(bound_run(), CONSTANTS, lr, tau)
    assert per_run["applies"] is False
    assert per_run["eta_L_tau"] == pytest.approx(1.0)
    assert per_run["predicted"] is None
    assert per_run["step_size_limit"] == pytest.approx(float(numeric.step_size_limit(2.0, tau)))
    assert per_run["holds"] is None  # not evaluated: n/a, not a failure
    res = check_bound([per_run])
    assert res["applies"] is False and res["predicted"] is None and res["holds"] is None
    assert "does not apply" in res["note"] and "1/2" in res["note"]
    json_safe(res)


def test_bound_value_is_the_theory_function() -> None:
    run = bound_run()
    lr, tau = 0.02, 5  # η L τ = 0.2 ≤ 1/2
    per_run = bound_for_run(run, CONSTANTS, lr, tau)
    assert per_run["applies"] is True
    rows = run["rows"]
    p2 = float(np.mean([r["p2"] for r in rows]))
    quant = sum(r["quant_error_bound"] for r in rows)
    expected = float(numeric.bound_nonconvex(2.0, lr, tau, p2, 0.5, 0.3, 2.3, len(rows), quant))
    assert per_run["predicted"] == expected
    assert per_run["measured"] == pytest.approx(np.mean([r["grad_norm2"] for r in rows]), rel=1e-15)
    assert sum(per_run["terms"].values()) == pytest.approx(expected, rel=1e-9)
    assert per_run["terms"]["quantization"] > 0
    assert per_run["holds"] is (per_run["measured"] <= expected)
    res = check_bound([per_run])
    assert res["applies"] is True and res["predicted"] == expected and res["holds"] is per_run["holds"]
    json_safe(res)


def test_bound_fails_when_measured_exceeds_predicted() -> None:
    run = bound_run()
    lr, tau = 0.02, 5
    pred = bound_for_run(run, CONSTANTS, lr, tau)["predicted"]
    for r in run["rows"]:
        r["grad_norm2"] = 2 * pred
    per_run = bound_for_run(run, CONSTANTS, lr, tau)
    assert per_run["holds"] is False and check_bound([per_run])["holds"] is False
    for r in run["rows"]:
        r["grad_norm2"] = 0.5 * pred
    assert check_bound([bound_for_run(run, CONSTANTS, lr, tau)])["holds"] is True


# ------------------------------------------------------------------------------------------ ranking


def test_ranking_agreeing_order_holds() -> None:
    res = check_ranking({"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}, {"a": 0.1, "b": 0.3, "c": 0.2, "d": 0.4})
    assert res["kendall_tau"] == pytest.approx(4 / 6)  # 5 concordant, 1 discordant pair of 6
    assert res["holds"] is True
    assert res["predicted"] == ["a", "b", "c", "d"] and res["measured"] == ["a", "c", "b", "d"]
    json_safe(res)


def test_ranking_reversed_order_fails() -> None:
    res = check_ranking({"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 0.3, "b": 0.2, "c": 0.1})
    assert res["kendall_tau"] == pytest.approx(-1.0)
    assert res["holds"] is False


def test_ranking_needs_three_schemes() -> None:
    res = check_ranking({"a": 1.0, "b": 2.0}, {"a": 0.1, "b": 0.2})
    assert res["holds"] is None and "three" in res["note"]
    # a scheme without a prediction does not count
    res = check_ranking({"a": 1.0, "b": 2.0, "c": None}, {"a": 0.1, "b": 0.2, "c": 0.3})
    assert res["holds"] is None


def test_ranking_with_every_prediction_equal_is_not_applicable() -> None:
    """Calibrated schemes that all plan the same schedule tie: Kendall τ is undefined (NaN), which must not
    reach summary.json (json.dumps(allow_nan=False) would fail and lose the whole report)."""
    res = check_ranking({"a": 0.5, "b": 0.5, "c": 0.5}, {"a": 0.3, "b": 0.2, "c": 0.1})
    assert res["holds"] is None and "undefined" in res["note"]
    json_safe(res)
    res = check_ranking({"a": 0.1, "b": 0.2, "c": 0.3}, {"a": 0.3, "b": 0.3, "c": 0.3})
    assert res["holds"] is None
    json_safe(res)
