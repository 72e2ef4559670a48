"""The four checks (validation/report/checks.py) on constructed inputs whose verdict is known in advance."""

from __future__ import annotations

import json

import numpy as np
import pytest

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


# Hoeffding allowance sqrt(ln(n/α)/2 · scale) with α = 1e-3 and scale = 1e-4, worked out by hand:
# n = 4:  ln(4000) = 8.294049640102028,  sqrt(8.294049640102028 / 2 · 1e-4) = 0.02036424518623515
# n = 10: ln(10^4) = 9.210340371976184,  sqrt(9.210340371976184 / 2 · 1e-4) = 0.021459660262893473
ALLOWANCE_4 = 0.02036424518623515
ALLOWANCE_10 = 0.021459660262893473


def test_quant_error_holds_when_every_draw_is_below_its_bound() -> None:
    assert ALPHA == 1e-3  # the literals above assume it
    rows = client_rows([0.5, 0.7, 0.99, 1.0])
    res = check_quant_error(rows, deterministic=False)
    assert res["holds"] is True
    assert res["measured"]["max_ratio"] == pytest.approx(1.0, rel=1e-12)
    assert res["measured"]["mean_ratio"] == pytest.approx(0.7975, rel=1e-12)  # (0.5 + 0.7 + 0.99 + 1.0)/4
    assert res["measured"]["draws"] == 4 and res["measured"]["over_bound"] == 0
    assert res["tolerance"]["max_relative_allowance"] == pytest.approx(ALLOWANCE_4, rel=1e-12)
    assert res["worst_excess_in_allowances"] == 0.0  # the draw at 1.0 sits exactly on its bound
    json_safe(res)


def test_quant_error_hoeffding_allowance_is_the_edge() -> None:
    n, scale = 10, 1e-4
    a = ALLOWANCE_10
    inside = client_rows([0.8] * (n - 1) + [1.0 + 0.99 * a], scale=scale)  # last draw 1.0212450636602646
    outside = client_rows([0.8] * (n - 1) + [1.0 + 1.01 * a], scale=scale)  # last draw 1.0216743568655225
    res_in = check_quant_error(inside, deterministic=False)
    res_out = check_quant_error(outside, deterministic=False)
    assert res_in["holds"] is True and res_in["measured"]["over_bound"] == 1
    assert res_out["holds"] is False and res_out["measured"]["over_bound"] == 1
    assert res_in["tolerance"]["max_relative_allowance"] == pytest.approx(a, rel=1e-12)
    assert res_out["tolerance"]["max_relative_allowance"] == pytest.approx(a, rel=1e-12)
    assert res_in["worst_excess_in_allowances"] == pytest.approx(0.99, rel=1e-12)
    assert res_out["worst_excess_in_allowances"] == pytest.approx(1.01, rel=1e-12)
    assert res_in["measured"]["max_ratio"] == pytest.approx(1.0212450636602646, rel=1e-12)
    # mean ratio (9 · 0.8 + 1.0212450636602646)/10
    assert res_in["measured"]["mean_ratio"] == pytest.approx(0.8221245063660264, rel=1e-12)


def test_quant_error_deterministic_has_no_hoeffding_allowance() -> None:
    """Nearest rounding obeys the bound on every draw: only float32 rounding (1e-6 relative) is forgiven,
    however large the Hoeffding scale of the rows."""
    big_scale = 1.0
    assert check_quant_error(client_rows([1.0, 0.3], scale=big_scale), deterministic=True)["holds"] is True
    over = client_rows([1.0 + 1e-5, 0.3], scale=big_scale)
    res = check_quant_error(over, deterministic=True)
    assert res["holds"] is False
    assert res["tolerance"]["max_relative_allowance"] == pytest.approx(1e-6, rel=1e-12)
    assert res["worst_excess_in_allowances"] == pytest.approx(10.0, rel=1e-9)  # excess 1e-5 over allowance 1e-6
    # the same rows, stochastic: allowance sqrt(ln(2/1e-3)/2 · 1) = sqrt(7.600902459542082/2) = 1.9494746035204051
    res = check_quant_error(over, deterministic=False)
    assert res["holds"] is True
    assert res["tolerance"]["max_relative_allowance"] == pytest.approx(1.9494746035204051, rel=1e-12)
    assert res["worst_excess_in_allowances"] == pytest.approx(1e-5 / 1.9494746035204051, rel=1e-9)


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
    # by construction the excess is the lemma's (L/2)·V plus −5e-4 plus zero-mean jitter
    assert res["measured"] - res["predicted"] == pytest.approx(-5e-4, rel=1e-9)
    json_safe(res)


def hand_one_step_runs(excess: list[float]) -> list[tuple[dict, float]]:
    """Two seeds with their own L: seed A (L = 3) with V = 0.02, 0.04 predicts (L/2)·V = 0.03, 0.06;
    seed B (L = 1) with V = 0.1, 0.2 predicts 0.05, 0.1. Mean prediction (0.03 + 0.06 + 0.05 + 0.1)/4 = 0.06."""
    a = [{"levels": 15, "quant_error": 0.02, "excess_loss": excess[0]},
         {"levels": 0, "quant_error": 0.0, "excess_loss": 10.0},  # the none run's rows are ignored
         {"levels": 15, "quant_error": 0.04, "excess_loss": excess[1]},
         {"levels": 15, "quant_error": 1.0}]  # a downlink-free row without excess_loss is ignored
    b = [{"levels": 7, "quant_error": 0.1, "excess_loss": excess[2]},
         {"levels": 7, "quant_error": 0.2, "excess_loss": excess[3]}]
    return [({"rows": a}, 3.0), ({"rows": b}, 1.0)]


def test_one_step_fails_when_excess_exceeds_the_lemma_beyond_three_standard_errors() -> None:
    # excess = prediction + d with d = 0.1, 0.3, 0.1, 0.3: mean d 0.2; deviations ±0.1, so
    # sd = sqrt(4 · 0.01 / 3) = 0.2/√3, SE = sd/√4 = 0.1/√3, tolerance 3·SE = √3/10 = 0.17320508075688773 < 0.2
    res = check_one_step(hand_one_step_runs([0.13, 0.36, 0.15, 0.4]))
    assert res["rounds"] == 4
    assert res["predicted"] == pytest.approx(0.06, rel=1e-12)
    assert res["measured"] == pytest.approx(0.26, rel=1e-12)  # (0.13 + 0.36 + 0.15 + 0.4)/4
    assert res["tolerance"] == pytest.approx(0.17320508075688773, rel=1e-12)
    assert res["holds"] is False
    json_safe(res)


def test_one_step_small_excess_within_tolerance_holds() -> None:
    # d = 0, 0.3, 0, 0.3: mean d 0.15 > 0 (the excess is above the lemma); deviations ±0.15, so
    # sd = sqrt(4 · 0.0225 / 3) = √0.03, tolerance 3·√0.03/2 = 0.2598076211353316 > 0.15
    res = check_one_step(hand_one_step_runs([0.03, 0.36, 0.05, 0.4]))
    assert res["predicted"] == pytest.approx(0.06, rel=1e-12)
    assert res["measured"] == pytest.approx(0.21, rel=1e-12)  # (0.03 + 0.36 + 0.05 + 0.4)/4
    assert res["tolerance"] == pytest.approx(0.2598076211353316, rel=1e-12)
    assert res["holds"] is True


def test_one_step_excess_below_the_lemma_holds() -> None:
    # d = −0.02, 0, −0.02, 0: mean d −0.01; deviations ±0.01, sd = 0.02/√3, tolerance 3·0.01/√3 = √3/100
    res = check_one_step(hand_one_step_runs([0.01, 0.06, 0.03, 0.1]))
    assert res["predicted"] == pytest.approx(0.06, rel=1e-12)
    assert res["measured"] == pytest.approx(0.05, rel=1e-12)  # (0.01 + 0.06 + 0.03 + 0.1)/4
    assert res["tolerance"] == pytest.approx(0.017320508075688773, rel=1e-12)
    assert res["holds"] is True


def test_one_step_single_round_has_no_tolerance() -> None:
    # one round: no standard error, tolerance 0; L = 3, V = 0.02 predicts 0.03
    run = [({"rows": [{"levels": 15, "quant_error": 0.02, "excess_loss": 0.05}]}, 3.0)]
    res = check_one_step(run)
    assert res["predicted"] == pytest.approx(0.03, rel=1e-12) and res["measured"] == 0.05
    assert res["tolerance"] == 0.0 and res["holds"] is False
    run[0][0]["rows"][0]["excess_loss"] = 0.02
    assert check_one_step(run)["holds"] is True


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
    assert per_run["eta_L_tau"] == pytest.approx(1.0, rel=1e-12)
    assert per_run["predicted"] is None
    # 1/(L · max(2τ, √((τ−1)(5τ−1)))) = 1/(2 · max(10, √96 ≈ 9.80)) = 1/20
    assert per_run["step_size_limit"] == pytest.approx(0.05, rel=1e-12)
    assert per_run["holds"] is None  # not evaluated: n/a, not a failure
    res = check_bound([per_run])
    assert res["applies"] is False and res["predicted"] is None and res["holds"] is None
    assert "does not apply" in res["note"] and "1/2" in res["note"]
    assert "conditions ηLτ ≤ 1/2 and η²L²(τ−1)(5τ−1) < 1 (ηLτ up to 1;" in res["note"] and "lr ≤ 0.05" in res["note"]
    json_safe(res)


def test_bound_does_not_apply_when_only_the_drift_condition_fails() -> None:
    # τ = 10, η = 0.024, L = 2: ηLτ = 0.48 ≤ 1/2, but η²L²(τ−1)(5τ−1) = 0.048² · 9 · 49 = 1.016064 ≥ 1
    per_run = bound_for_run(bound_run(), CONSTANTS, 0.024, 10)
    assert per_run["applies"] is False and per_run["predicted"] is None and per_run["holds"] is None
    assert per_run["eta_L_tau"] == pytest.approx(0.48, rel=1e-12)
    assert per_run["step_size_limit"] == pytest.approx(1 / 42, rel=1e-12)  # 1/(2 · max(20, √(9·49) = 21))
    note = check_bound([per_run])["note"]  # names the condition that failed, not the one that held
    assert "condition η²L²(τ−1)(5τ−1) < 1 (ηLτ up to 0.48;" in note and "ηLτ ≤ 1/2" not in note


# L = 2, η = 0.1, τ = 2 (ηLτ = 0.4 ≤ 1/2, drift η²L²(τ−1)(5τ−1) = 0.04 · 9 = 0.36 < 1), T = 4 rounds with
# mean p2 = 0.25 and Σ quantization bounds = 0.1. With A = 1 − 0.36 = 0.64, B = 2 − 6τL²η²(τ−1) = 1.52,
# B/A = 2.375 and τηT = 0.8, the bound's terms are
#   initial gap    gap · (B/A)/(τηT)              = 0.08 · 2.375/0.8          = 0.2375
#   sgd noise      Lη · p2 · σ² · B/A             = 0.2 · 0.25 · 0.5 · 2.375  = 0.059375
#   drift          L²η²(τ−1)(σ² + ζ²(2τ−1))/A     = 0.04 · (0.5 + 0.9)/0.64   = 0.0875
#   quantization   (L/2) · Σ bounds · (B/A)/(τηT) = 1 · 0.1 · 2.375/0.8       = 0.296875
# and the bound is their sum, 0.68125.
HAND_CONSTANTS = {"L": 2.0, "sigma2": 0.5, "zeta2": 0.3, "gap": 0.08}
HAND_TERMS = {"initial_gap": 0.2375, "sgd_noise": 0.059375, "drift": 0.0875, "quantization": 0.296875}
HAND_BOUND = 0.68125


def hand_bound_run(grad_norm2: list[float]) -> dict:
    p2 = [0.2, 0.3, 0.2, 0.3]
    quant = [0.01, 0.02, 0.03, 0.04]
    return {"rows": [{"p2": a, "quant_error_bound": q, "grad_norm2": g}
                     for a, q, g in zip(p2, quant, grad_norm2, strict=True)]}


def test_bound_value_and_terms_by_hand() -> None:
    per_run = bound_for_run(hand_bound_run([0.4, 0.5, 0.6, 0.7]), HAND_CONSTANTS, 0.1, 2)
    assert per_run["applies"] is True
    assert per_run["eta_L_tau"] == pytest.approx(0.4, rel=1e-12)
    assert per_run["step_size_limit"] == pytest.approx(0.125, rel=1e-12)  # 1/(2 · max(4, √(1·9) = 3))
    assert set(per_run["terms"]) == set(HAND_TERMS)
    for name, value in HAND_TERMS.items():
        assert per_run["terms"][name] == pytest.approx(value, rel=1e-12), name
    assert per_run["predicted"] == pytest.approx(HAND_BOUND, rel=1e-12)
    assert per_run["measured"] == pytest.approx(0.55, rel=1e-12)  # mean of 0.4, 0.5, 0.6, 0.7
    assert per_run["ratio"] == pytest.approx(0.68125 / 0.55, rel=1e-12)
    assert per_run["holds"] is True  # 0.55 ≤ 0.68125
    res = check_bound([per_run])
    assert res["applies"] is True and res["holds"] is True and res["runs"] == 1 and res["tolerance"] == 0.0
    assert res["predicted"] == pytest.approx(HAND_BOUND, rel=1e-12)
    assert res["measured"] == pytest.approx(0.55, rel=1e-12)
    assert res["min_ratio"] == pytest.approx(0.68125 / 0.55, rel=1e-12)
    json_safe(res)


def test_bound_fails_when_measured_exceeds_predicted() -> None:
    holding = bound_for_run(hand_bound_run([0.4, 0.5, 0.6, 0.7]), HAND_CONSTANTS, 0.1, 2)
    failing = bound_for_run(hand_bound_run([0.7, 0.7, 0.7, 0.8]), HAND_CONSTANTS, 0.1, 2)
    assert failing["predicted"] == pytest.approx(HAND_BOUND, rel=1e-12)  # the bound ignores the gradients
    assert failing["measured"] == pytest.approx(0.725, rel=1e-12)  # > 0.68125
    assert failing["ratio"] == pytest.approx(0.68125 / 0.725, rel=1e-12)
    assert failing["holds"] is False
    # one failing run fails the check, although the mean measured (0.55 + 0.725)/2 = 0.6375 is below 0.68125
    res = check_bound([holding, failing])
    assert res["holds"] is False and res["runs"] == 2
    assert res["predicted"] == pytest.approx(HAND_BOUND, rel=1e-12)
    assert res["measured"] == pytest.approx(0.6375, rel=1e-12)
    assert res["min_ratio"] == pytest.approx(0.68125 / 0.725, rel=1e-12)
    json_safe(res)


# ------------------------------------------------------------------------------------------ ranking


def test_ranking_agreeing_order_holds() -> None:
    res = check_ranking({"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}, {"a": 0.1, "b": 0.3, "c": 0.2, "d": 0.4})
    assert res["kendall_tau"] == pytest.approx(4 / 6, rel=1e-12)  # (5 concordant − 1 discordant)/6 pairs
    # exact two-sided p: permutations of 4 with ≤ 1 or ≥ 5 inversions, (1 + 3 + 3 + 1)/24
    assert res["p_value"] == pytest.approx(1 / 3, rel=1e-12)
    assert res["holds"] is True
    assert res["predicted"] == ["a", "b", "c", "d"] and res["measured"] == ["a", "c", "b", "d"]
    json_safe(res)


def test_ranking_reversed_order_fails() -> None:
    res = check_ranking({"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 0.3, "b": 0.2, "c": 0.1})
    assert res["kendall_tau"] == pytest.approx(-1.0, rel=1e-12)
    assert res["p_value"] == pytest.approx(1 / 3, rel=1e-12)  # the 2 of 3! orders with 0 or 3 inversions
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
