"""The checks (validation/report/checks.py) on constructed inputs whose verdict is known in advance."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fedquant.validation.report.checks import (
    ALPHA,
    bound_for_run,
    check_bound,
    check_one_step,
    check_prediction,
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
    rows = [{"levels": 15, "p2": 0.5, "quant_error_bound": float(rng.uniform(1e-4, 1e-3)),
             "grad_norm2": float(rng.uniform(0.01, 0.05))} for _ in range(T)]
    # two clients of weight 1/2 with equal bounds: V_t = Σᵢ pᵢ² boundᵢ = bound/2
    client_rows = [{"round": t, "client": i, "weight": 0.5, "levels": 15,
                    "quant_error_bound": 2 * r["quant_error_bound"]} for t, r in enumerate(rows) for i in range(2)]
    return {"rows": rows, "client_rows": client_rows}


CONSTANTS = {"L": 2.0, "sigma2": 0.5, "zeta2": 0.3, "gap": 2.3}


def test_bound_does_not_apply_when_lr_L_tau_exceeds_one() -> None:
    lr, tau = 0.11, 5  # η L τ = 0.11·2·5 = 1.1 > 1
    per_run = bound_for_run(bound_run(), CONSTANTS, lr, tau)
    assert per_run["applies"] is False
    assert per_run["conditions"] == {"step size": False}
    assert per_run["eta_L_tau"] == pytest.approx(1.1, rel=1e-12)
    assert per_run["predicted"] is None
    assert per_run["step_size_limit"] == pytest.approx(0.1, rel=1e-12)  # 1/(Lτ) = 1/(2·5)
    assert per_run["holds"] is None  # not evaluated: n/a, not a failure
    res = check_bound([per_run])
    assert res["applies"] is False and res["predicted"] is None and res["holds"] is None
    assert "does not apply" in res["note"]
    assert "break the step-size condition ηLτ ≤ 1 (ηLτ up to 1.1; the bound needs lr ≤ 0.1)" in res["note"]
    json_safe(res)
    # the condition is ηLτ ≤ 1, not < 1: at ηLτ = 1 exactly (η = 0.1) the bound applies
    at_limit = bound_for_run(bound_run(), CONSTANTS, 0.1, tau)
    assert at_limit["applies"] is True and at_limit["predicted"] is not None


def test_bound_does_not_apply_to_an_uncovered_configuration() -> None:
    """3 of 10 clients of unequal size sampled per round: the sampling lemma needs equal weights. The step size
    (ηLτ = 0.4) is fine, so the note names the configuration, not the condition."""
    per_run = bound_for_run(bound_run(), CONSTANTS, 0.1, 2, clients=10, per_round=3, equal_weights=False)
    assert per_run["conditions"] == {"step size": True}
    assert per_run["applies"] is False and per_run["predicted"] is None and per_run["holds"] is None
    assert "unequal size" in per_run["uncovered"]
    res = check_bound([per_run])
    assert res["applies"] is False and res["predicted"] is None and res["holds"] is None
    assert res["note"].startswith("the theory does not cover this configuration")
    assert "step-size" not in res["note"]
    json_safe(res)
    # error feedback under sampling is not covered either; equal weights under sampling, or full participation, are
    ef = bound_for_run(bound_run(), CONSTANTS, 0.1, 2, error_feedback=True, clients=10, per_round=3)
    assert ef["applies"] is False and "error feedback" in ef["uncovered"]
    for kw in ({"clients": 10, "per_round": 3}, {"clients": 10, "per_round": 10, "equal_weights": False}):
        covered = bound_for_run(bound_run(), CONSTANTS, 0.1, 2, **kw)
        assert covered["applies"] is True and "uncovered" not in covered, kw


def one_round_by_hand(L: float, lr: float, tau: int, sigma2: float, zeta2: float, p2: float,
                      omega: float) -> dict[str, float]:
    """c, b, v (theory/fedavg.py) and κ_G, κ_0 (theory/rounding_bias.py) from the finite sums of the drift lemma:
    φ_k = ((1 + ηL)^k − 1)/L, ψ_k = η√k(1 + ηL)^k, δ_G = L‖φ‖/√τ, δ_X = L(√ζ²‖φ‖ + √σ²‖ψ‖)/√τ, s_ξ = √(σ²p2/τ),
    α = ηL Σ_{k<τ} φ_k, β = φ_τ√ζ² + η√τ√σ²(1 + L‖ψ‖), x = Lητ."""
    q = lr * L
    phi = [((1 + q) ** k - 1) / L for k in range(tau + 1)]
    psi = [lr * math.sqrt(k) * (1 + q) ** k for k in range(tau + 1)]
    phi_n = math.sqrt(sum(p * p for p in phi[:tau]))
    psi_n = math.sqrt(sum(p * p for p in psi[:tau]))
    dg = L * phi_n / math.sqrt(tau)
    dx = L * (math.sqrt(zeta2) * phi_n + math.sqrt(sigma2) * psi_n) / math.sqrt(tau)
    sx = math.sqrt(sigma2 * p2 / tau)
    alpha = lr * L * sum(phi[:tau])
    beta = phi[tau] * math.sqrt(zeta2) + lr * math.sqrt(tau) * math.sqrt(sigma2) * (1 + L * psi_n)
    x = L * lr * tau
    return {
        "c": lr * tau * (1 - x / 2) - lr * tau * (1 - x) * dg - x**2 / (2 * L) * dg**2 - L / 2 * omega * alpha**2,
        "b": lr * tau * (1 - x) * dx + x**2 / L * dg * (dx + sx) + L * omega * alpha * beta,
        "v": x**2 / (2 * L) * (dx + sx) ** 2 + L / 2 * omega * beta**2,
        "v_sgd": x**2 / (2 * L) * sx**2,
        "kappa_g": 1 + x * (1 + dg) + L * math.sqrt(omega) * alpha,
        "kappa_0": x * (dx + sx) + L * math.sqrt(omega) * beta,
        "ef_b": x * (1 + dg),  # error feedback: added to b and to v per unit of the carried residual E'_t
        "ef_v": x * dx,
    }


# L = 2, η = 0.1, τ = 2 (ηLτ = 0.4 ≤ 1; the step-size limit is 1/(Lτ) = 0.25), T = 4 rounds of two clients with
# weights 1/2 (p2 = 1/2), σ² = 0.5, ζ² = 0.3, Δ₀ = 0.08, and per-client quantization bounds
HAND_CONSTANTS = {"L": 2.0, "sigma2": 0.5, "zeta2": 0.3, "gap": 0.08}
HAND_LR, HAND_TAU = 0.1, 2
HAND_BOUNDS = ([0.02, 0.04, 0.06, 0.08], [0.04, 0.04, 0.02, 0.02])
# the stochastic quantizer's dither bias per coordinate in grid steps, 2⁻¹⁷ + 2⁻²³(s + 1), for s = 15
HAND_DITHER = 2.0**-17 + 2.0**-23 * 16


def hand_bound_run(grad_norm2: list[float]) -> dict:
    a, b = HAND_BOUNDS
    rows = [{"levels": 15, "p2": 0.5, "quant_error_bound": 0.25 * (x + y), "grad_norm2": g}  # V_t = Σᵢ pᵢ² boundᵢ
            for x, y, g in zip(a, b, grad_norm2, strict=True)]
    client_rows = [{"round": t, "client": i, "weight": 0.5, "levels": 15, "quant_error_bound": bounds[t]}
                   for t in range(4) for i, bounds in enumerate(HAND_BOUNDS)]
    return {"rows": rows, "client_rows": client_rows}


def hand_bound(lemma: str) -> dict:
    """The bound of the hand run, step by step from the formulas of checks.bound_for_run's docstring."""
    L, gap, T = HAND_CONSTANTS["L"], HAND_CONSTANTS["gap"], 4
    k = one_round_by_hand(L, HAND_LR, HAND_TAU, HAND_CONSTANTS["sigma2"], HAND_CONSTANTS["zeta2"], 0.5, 0.0)
    a, b = HAND_BOUNDS
    add_b, add_v = [], []
    for t in range(T):
        if lemma == "unbiased":  # M_t = Σᵢ pᵢ·dither·2√boundᵢ; (L/2)(M_t² + V_t)
            m = 0.5 * HAND_DITHER * 2 * (math.sqrt(a[t]) + math.sqrt(b[t]))
            add_b.append(m * k["kappa_g"])
            add_v.append(m * k["kappa_0"] + L / 2 * (m**2 + 0.25 * (a[t] + b[t])))
        elif lemma == "biased":  # M_t = Σᵢ pᵢ√boundᵢ; (L/2)M_t², no V_t
            m = 0.5 * (math.sqrt(a[t]) + math.sqrt(b[t]))
            add_b.append(m * k["kappa_g"])
            add_v.append(m * k["kappa_0"] + L / 2 * m**2)
        else:  # error feedback: E'_t = Σᵢ pᵢ √(bound of client i in round t − 1), nothing in round 0
            e = 0.0 if t == 0 else 0.5 * (math.sqrt(a[t - 1]) + math.sqrt(b[t - 1]))
            add_b.append(e * k["ef_b"])
            add_v.append(e * k["ef_v"])
    c = k["c"]
    b_rms = math.sqrt(sum((k["b"] + x) ** 2 for x in add_b) / T)
    K = gap / T + k["v"] + sum(add_v) / T
    B = b_rms**2 / (4 * c)
    value = (math.sqrt(B) + math.sqrt(B + K)) ** 2 / c
    terms = {"initial_gap": gap / (T * c), "sgd_noise": k["v_sgd"] / c, "quantization": sum(add_v) / (T * c)}
    terms["drift"] = value - sum(terms.values())
    return {"value": value, "terms": terms, "c": c, "b_rms": b_rms, "K": K, "one_round": k}


def test_one_round_by_hand_matches_the_generated_functions() -> None:
    """The hand formulas above are those the generated module evaluates (at full and partial participation)."""
    from fedquant.theory import numeric

    for L, lr, tau, s2, z2, p2, om in ((2.0, 0.1, 2, 0.5, 0.3, 0.5, 0.0), (1.0, 0.05, 5, 0.1, 0.1, 0.1, 0.0),
                                       (2.0, 0.01, 3, 0.5, 0.3, 0.2, 0.4)):
        k = one_round_by_hand(L, lr, tau, s2, z2, p2, om)
        noisy = (L, lr, tau, s2, z2, p2, om)
        assert float(numeric.descent_coefficient(L, lr, tau, om)) == pytest.approx(k["c"], rel=1e-12)
        assert float(numeric.coupling_coefficient(*noisy)) == pytest.approx(k["b"], rel=1e-12)
        assert float(numeric.noise_per_round(*noisy)) == pytest.approx(k["v"], rel=1e-12)
        assert float(numeric.sgd_noise_per_round(L, lr, tau, s2, p2)) == pytest.approx(k["v_sgd"], rel=1e-12)
        assert float(numeric.biased_gradient_factor(L, lr, tau, om)) == pytest.approx(k["kappa_g"], rel=1e-12)
        assert float(numeric.biased_gradient_offset(*noisy)) == pytest.approx(k["kappa_0"], rel=1e-12)
        assert float(numeric.error_feedback_factor(L, lr, tau)) == pytest.approx(k["ef_b"], rel=1e-12)
        assert float(numeric.error_feedback_offset(L, lr, tau, s2, z2)) == pytest.approx(k["ef_v"], rel=1e-12)


# the hand run's bound with the stochastic quantizer (unbiased lemma with the dither's residual bias), as
# hand_bound("unbiased") computes it: c = 0.142229437251523, b_rms = 0.0299345510163289, K = 0.0521454311810876
HAND_BOUND = 0.5181246978724405
HOLDING = [0.3, 0.4, 0.5, 0.6]  # mean 0.45 ≤ 0.51812…
FAILING = [0.5, 0.5, 0.6, 0.6]  # mean 0.55 > 0.51812…


@pytest.mark.parametrize(("quantizer", "error_feedback", "lemma", "hand"), [
    ("stochastic", False, "unbiased", "unbiased"),
    ("deterministic", False, "biased (deterministic rounding)", "biased"),
    ("stochastic", True, "error feedback", "error feedback"),
])
def test_bound_value_and_terms_by_hand(quantizer: str, error_feedback: bool, lemma: str, hand: str) -> None:
    want = hand_bound(hand)
    per_run = bound_for_run(hand_bound_run(HOLDING), HAND_CONSTANTS, HAND_LR, HAND_TAU,
                            quantizer=quantizer, error_feedback=error_feedback)
    assert per_run["applies"] is True and per_run["lemma"] == lemma
    assert per_run["eta_L_tau"] == pytest.approx(0.4, rel=1e-12)
    assert per_run["step_size_limit"] == pytest.approx(0.25, rel=1e-12)  # 1/(Lτ) = 1/(2·2)
    assert per_run["coefficients"]["c"] == pytest.approx(want["c"], rel=1e-12)
    assert per_run["coefficients"]["b_rms"] == pytest.approx(want["b_rms"], rel=1e-12)
    assert per_run["coefficients"]["K"] == pytest.approx(want["K"], rel=1e-12)
    assert per_run["coefficients"]["omega"] == 0.0
    assert set(per_run["terms"]) == set(want["terms"])
    for name, value in want["terms"].items():
        assert per_run["terms"][name] == pytest.approx(value, rel=1e-10), name
    assert per_run["predicted"] == pytest.approx(want["value"], rel=1e-12)
    assert sum(per_run["terms"].values()) == pytest.approx(per_run["predicted"], rel=1e-12)
    assert per_run["measured"] == pytest.approx(0.45, rel=1e-12)  # mean of 0.3, 0.4, 0.5, 0.6
    assert per_run["ratio"] == pytest.approx(want["value"] / 0.45, rel=1e-12)
    assert want["value"] > 0.45 and per_run["holds"] is True
    res = check_bound([per_run])
    assert res["applies"] is True and res["holds"] is True and res["runs"] == 1 and res["tolerance"] == 0.0
    assert res["lemma"] == lemma
    assert res["predicted"] == pytest.approx(want["value"], rel=1e-12)
    assert res["measured"] == pytest.approx(0.45, rel=1e-12)
    assert res["min_ratio"] == pytest.approx(want["value"] / 0.45, rel=1e-12)
    json_safe(res)


def test_hand_bound_literal() -> None:
    """The literal above, so that the hand computation and the checks cannot drift together."""
    want = hand_bound("unbiased")
    assert want["value"] == pytest.approx(HAND_BOUND, rel=1e-12)
    assert want["c"] == pytest.approx(0.142229437251523, rel=1e-12)
    # the residual bias is tiny (~1e-5 of the bound's root) but present: without it the bound would be lower
    assert want["b_rms"] > want["one_round"]["b"]


def test_bound_fails_when_measured_exceeds_predicted() -> None:
    holding = bound_for_run(hand_bound_run(HOLDING), HAND_CONSTANTS, HAND_LR, HAND_TAU)
    failing = bound_for_run(hand_bound_run(FAILING), HAND_CONSTANTS, HAND_LR, HAND_TAU)
    assert holding["predicted"] == pytest.approx(HAND_BOUND, rel=1e-12) and holding["holds"] is True
    assert failing["predicted"] == pytest.approx(HAND_BOUND, rel=1e-12)  # the bound ignores the gradients
    assert failing["measured"] == pytest.approx(0.55, rel=1e-12)  # > 0.51812…
    assert failing["ratio"] == pytest.approx(HAND_BOUND / 0.55, rel=1e-12)
    assert failing["holds"] is False
    # one failing run fails the check, although the mean measured (0.45 + 0.55)/2 = 0.5 is below 0.51812…
    res = check_bound([holding, failing])
    assert res["holds"] is False and res["runs"] == 2
    assert res["predicted"] == pytest.approx(HAND_BOUND, rel=1e-12)
    assert res["measured"] == pytest.approx(0.5, rel=1e-12)
    assert res["min_ratio"] == pytest.approx(HAND_BOUND / 0.55, rel=1e-12)
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


def _verdicts(**kv: str) -> list[dict]:
    return [{"scheme": s, "verdict": v} for s, v in kv.items()]


def test_prediction_holds_when_the_predicted_winner_is_best_or_tied():
    pred = {"a": [1.0, 1.1], "b": [2.0, 2.2], "c": [5.0, 5.5]}
    out = check_prediction(pred, None, _verdicts(a="tied", b="best", c="worse"))
    assert out["predicted"] == "a" and out["holds"] is True and out["predicted_ties"] is None
    out = check_prediction(pred, None, _verdicts(a="worse", b="best", c="tied"))
    assert out["holds"] is False and out["misses"] == ["predicted winner a measured worse"]


def test_prediction_ties_come_from_the_predicted_spread():
    # J̄_b − J̄_a = 0.01; SE = sqrt(mean(sd_a² + sd_b²)/n) = sqrt(2·0.01²/2) = 0.01: a tie at z = 1.96 (|Δ| < 0.0196)
    pred = {"a": [0.10, 0.10], "b": [0.11, 0.11], "c": [0.30, 0.30]}
    spread = {"a": [0.01, 0.01], "b": [0.01, 0.01], "c": [0.01, 0.01]}
    out = check_prediction(pred, spread, _verdicts(a="best", b="tied", c="worse"))
    assert out["predicted_ties"] == ["b"] and out["holds"] is True
    out = check_prediction(pred, spread, _verdicts(a="best", b="worse", c="worse"))
    assert out["holds"] is False and out["misses"] == ["predicted tie b measured worse"]
    # a smaller spread makes the same difference resolvable: no tie predicted, and b measured worse is no miss
    tight = {k: [1e-4, 1e-4] for k in spread}
    out = check_prediction(pred, tight, _verdicts(a="best", b="worse", c="worse"))
    assert out["predicted_ties"] == [] and out["holds"] is True


def test_prediction_needs_two_schemes():
    assert check_prediction({"a": [1.0]}, None, _verdicts(a="best"))["holds"] is None


def test_an_unmeasurable_injected_cost_predicts_that_every_scheme_ties():
    pred = {"a": [0.10, 0.10], "b": [0.50, 0.50], "c": [0.30, 0.30]}
    out = check_prediction(pred, None, _verdicts(a="tied", b="best", c="tied"), all_tie=True)
    assert out["predicted_ties"] == ["b", "c"] and out["holds"] is True
    out = check_prediction(pred, None, _verdicts(a="best", b="worse", c="tied"), all_tie=True)
    assert out["holds"] is False and out["misses"] == ["predicted tie b measured worse"]
