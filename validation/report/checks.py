"""The theory's predictions checked against training, each as (predicted, measured, tolerance, holds).

(i)   quant_error — every client-round quantization: measured ‖Q(Δ) − Δ‖² against the theory's bound on its
      expectation (d R²/(4s²) per block, QSGD's min(d/s², √d/s)‖x‖²). The error is a sum of independent
      per-coordinate terms in [0, δ²] (δ the grid step), so by Hoeffding a draw exceeds its mean by more than
      sqrt(ln(n/α)/2 · Σ_j δ_j⁴) with probability at most α/n; with α = 10⁻³ over the n draws that is the
      tolerance (deterministic rounding: the bound holds per draw, tolerance float32 rounding only).
(ii)  one_step — the quantization lemma E f(w_{t+1}) ≤ f(w̄_{t+1}) + (L/2)·Σ_i p_i² E‖Q(Δ_i) − Δ_i‖²: the mean
      over rounds of the measured excess loss f(w_{t+1}) − f(w̄_{t+1}) against the mean of (L/2)·V_t with the
      measured V_t and the estimated L; tolerance 3 standard errors of the mean difference.
(iii) bound — the non-convex bound of theory/bound.py with the estimated constants, client sampling, and the
      lemma of the quantizer run (unbiased with the dither's residual bias, biased deterministic rounding, or
      error feedback: theory/rounding_bias.py), against the measured average ‖∇f(w_t)‖²: holds when
      measured ≤ predicted; applies only when the estimated constants meet ηLτ ≤ 1 and the theory covers the
      configuration (reported otherwise, with the reason).
(iv)  ranking — Kendall τ between each calibrated scheme's predicted objective (its schedule on the planning
      problem) and its measured final training loss at equal budget; holds when τ > 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import kendalltau

from fedquant.theory import numeric
from fedquant.theory.evaluate import step_size_conditions

ALPHA = 1e-3


def check_quant_error(client_rows: list[dict[str, Any]], deterministic: bool) -> dict[str, Any]:
    rows = [r for r in client_rows if r["levels"] != 0 and r["quant_error_bound"] > 0]
    if not rows:
        return {"predicted": None, "measured": None, "tolerance": None, "holds": None,
                "note": "no quantized client updates"}
    bound = np.array([r["quant_error_bound"] for r in rows])
    meas = np.array([r["quant_error"] for r in rows])
    scale = np.array([r.get("hoeffding_scale", 0.0) for r in rows])
    n = len(rows)
    if deterministic:
        allowance = 1e-6 * bound
        rule = "per draw (deterministic rounding), float32 slack 1e-6"
    else:
        allowance = np.sqrt(math.log(n / ALPHA) / 2.0 * scale)
        rule = f"Hoeffding, all {n} draws at once with probability ≥ {1 - ALPHA}"
    excess = meas - bound
    worst = float(np.max(excess / np.maximum(allowance, 1e-300)))
    ratio = meas / bound
    return {
        "predicted": "E‖Q(Δ) − Δ‖² ≤ bound (per client and round)",
        "measured": {"max_ratio": float(ratio.max()), "mean_ratio": float(ratio.mean()), "draws": n,
                     "over_bound": int(np.sum(excess > 0))},
        "tolerance": {"rule": rule, "max_relative_allowance": float(np.max(allowance / bound))},
        "holds": bool(np.all(excess <= allowance)),
        "worst_excess_in_allowances": worst,
    }


def check_one_step(runs: list[tuple[dict[str, Any], float]]) -> dict[str, Any]:
    """``runs``: (run record, that seed's estimated L)."""
    excess, pred = [], []
    for run, L in runs:
        for r in run["rows"]:
            if r["levels"] != 0 and "excess_loss" in r:
                excess.append(r["excess_loss"])
                pred.append(float(numeric.one_step_quantization(L, r["quant_error"])))
    if not excess:
        return {"predicted": None, "measured": None, "tolerance": None, "holds": None, "note": "no quantized rounds"}
    e, p = np.array(excess), np.array(pred)
    diff = e - p
    tol = 3.0 * float(diff.std(ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else 0.0
    out = {"predicted": float(p.mean()), "measured": float(e.mean()), "tolerance": tol,
           "holds": bool(diff.mean() <= tol), "rounds": int(diff.size),
           "note": "mean over quantized rounds of f(w_{t+1}) − f(w̄_{t+1}) vs (L/2)·Σ_i p_i²‖Q(Δ_i) − Δ_i‖², "
                   "L estimated"}
    sharp = sharp_estimate([run for run, _ in runs])
    if sharp is not None:
        out["sharp"] = sharp
    return out


def sharp_estimate(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The sharp per-round cost (validation/training/curvature.py) against the measured excess, per run.

    The measured side is the excess minus its zero-mean first-order part ∇f(w̄)ᵀe (``excess_loss_second_order``:
    the same expectation, far less noise). Per run, ratio = mean predicted / mean measured over its quantized
    rounds; a run whose measured mean is within 2 standard errors of 0 cannot resolve a ratio and is counted as
    unresolved. Reported: the median and range of the resolved runs' ratios.
    """
    ratios, unresolved = [], 0
    for run in runs:
        rows = [r for r in run["rows"] if r["levels"] != 0 and "excess_loss_predicted" in r]
        if len(rows) < 2:
            continue
        meas = np.array([r["excess_loss_second_order"] for r in rows])
        pred = np.array([r["excess_loss_predicted"] for r in rows])
        se = float(meas.std(ddof=1) / math.sqrt(meas.size))
        if meas.mean() <= 2 * se:
            unresolved += 1
            continue
        ratios.append(float(pred.mean() / meas.mean()))
    if not ratios and not unresolved:
        return None
    out: dict[str, Any] = {"runs": len(ratios), "unresolved": unresolved}
    if ratios:
        out.update(median_ratio=float(np.median(ratios)), min_ratio=float(min(ratios)),
                   max_ratio=float(max(ratios)))
    return out


#: the stochastic quantizer's dither bias per coordinate, in grid steps: 2⁻¹⁷ + ulp32(s + 1) ≤ 2⁻¹⁷ + 2⁻²³(s + 1)
#: (validation/compression/stochastic.py); the biased lemma (theory/rounding_bias.py) accounts for it
DITHER_BIAS_STEPS = 2.0**-17
ULP_STEPS = 2.0**-23


def _lemma(quantizer: str, error_feedback: bool) -> str:
    if error_feedback:
        return "error feedback"
    return "biased (deterministic rounding)" if quantizer == "deterministic" else "unbiased"


def _round_coefficients(run: dict[str, Any], lemma: str, L: float, kappa: tuple[float, float],
                        ef: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per round (added to b, added to v) by the quantizer's lemma, from the run's client rows.

    unbiased: the dither bias M_t = Σ_i p_i (2⁻¹⁷ + 2⁻²³(s+1))·2·sqrt(bound_i) and (L/2)(M_t² + V_t);
    biased: M_t = Σ_i p_i sqrt(bound_i) (per-draw bound of deterministic rounding) and (L/2)M_t², no V_t;
    error feedback: E'_t = Σ_i p_i sqrt(bound of the residual client i carries into round t), no V_t.
    """
    rows = run["rows"]
    T = len(rows)
    by_round: list[list[dict[str, Any]]] = [[] for _ in range(T)]
    for r in run["client_rows"]:
        by_round[r["round"]].append(r)
    add_b, add_v = np.zeros(T), np.zeros(T)
    if rows and rows[0]["levels"] == 0:  # the unquantized reference
        return add_b, add_v
    k_g, k_0 = kappa
    residual: dict[int, float] = {}
    for t, clients in enumerate(by_round):
        if lemma == "error feedback":
            carried = sum(r["weight"] * residual.get(r["client"], 0.0) for r in clients)
            add_b[t], add_v[t] = carried * ef[0], carried * ef[1]
            for r in clients:
                residual[r["client"]] = math.sqrt(r["quant_error_bound"])
            continue
        if lemma == "unbiased":
            bias = sum(r["weight"] * (DITHER_BIAS_STEPS + ULP_STEPS * (r["levels"] + 1)) * 2.0
                       * math.sqrt(r["quant_error_bound"]) for r in clients)
            variance = rows[t]["quant_error_bound"]
        else:
            bias = sum(r["weight"] * math.sqrt(r["quant_error_bound"]) for r in clients)
            variance = 0.0
        add_b[t] = bias * k_g
        add_v[t] = bias * k_0 + L / 2 * (bias**2 + variance)
    return add_b, add_v


def bound_for_run(run: dict[str, Any], constants: dict[str, float], lr: float, local_steps: int, *,
                  quantizer: str = "stochastic", error_feedback: bool = False, clients: int | None = None,
                  per_round: int | None = None, equal_weights: bool = True) -> dict[str, Any]:
    """The non-convex bound of theory/bound.py for one run, with the lemma of the quantizer actually run.

    Per round the coefficients are c (fixed), b_t = b + (the quantizer's share) and v_t likewise; summed over
    rounds (Cauchy–Schwarz on Σ b_t G_t) the bound is (√B + √(B + K))²/c with B = mean(b_t²)/(4c) and
    K = Δ₀/T + mean(v_t) (``numeric.nonconvex_from_coefficients``). Client sampling (n of N) enters through
    ω = (N − n)/(n(N − 1)); the lemma needs equal client weights, and error feedback needs full participation.
    """
    rows = run["rows"]
    T = len(rows)
    L = constants["L"]
    measured = float(np.mean([r["grad_norm2"] for r in rows]))
    conditions = step_size_conditions(L, lr, local_steps)
    sampled = clients is not None and per_round is not None and per_round < clients
    lemma = _lemma(quantizer, error_feedback)
    out: dict[str, Any] = {"measured": measured, "applies": all(conditions.values()), "conditions": conditions,
                           "eta_L_tau": float(numeric.condition_step_size(L, lr, local_steps)),
                           "step_size_limit": float(numeric.step_size_limit(L, local_steps)), "lemma": lemma}
    uncovered = None
    if sampled and not equal_weights:
        uncovered = ("clients of unequal size are sampled: the server's weights nᵢ/Σ_S nⱼ are biased for f, and "
                     "the sampling lemma covers equal weights only")
    elif sampled and error_feedback:
        uncovered = "error feedback under client sampling: the virtual-iterate argument needs full participation"
    if uncovered is not None:
        out.update(applies=False, uncovered=uncovered)
    if not out["applies"]:
        out.update(predicted=None, ratio=None, holds=None)
        return out
    omega = float(numeric.sampling_factor(clients, per_round)) if sampled else 0.0
    p2 = 1.0 / clients if sampled else float(np.mean([r["p2"] for r in rows]))
    noisy = (L, lr, local_steps, constants["sigma2"], constants["zeta2"], p2, omega)
    c = float(numeric.descent_coefficient(L, lr, local_steps, omega))
    if c <= 0:
        out.update(applies=False, predicted=None, ratio=None, holds=None,
                   uncovered=f"client sampling ({per_round} of {clients}, ω = {omega:.3g}) makes the descent "
                             f"coefficient c = {c:.3g} ≤ 0 at this step size")
        return out
    b, v = float(numeric.coupling_coefficient(*noisy)), float(numeric.noise_per_round(*noisy))
    kappa = (float(numeric.biased_gradient_factor(L, lr, local_steps, omega)),
             float(numeric.biased_gradient_offset(*noisy)))
    ef = (float(numeric.error_feedback_factor(L, lr, local_steps)),
          float(numeric.error_feedback_offset(L, lr, local_steps, constants["sigma2"], constants["zeta2"])))
    add_b, add_v = _round_coefficients(run, lemma, L, kappa, ef)
    b_rms = float(np.sqrt(np.mean((b + add_b) ** 2)))
    K = constants["gap"] / T + v + float(np.mean(add_v))
    pred = float(numeric.nonconvex_from_coefficients(c, b_rms, K))
    sgd = float(numeric.sgd_noise_per_round(L, lr, local_steps, constants["sigma2"], p2)) / c
    terms = {"initial_gap": constants["gap"] / (T * c), "sgd_noise": sgd, "quantization": float(np.mean(add_v)) / c}
    terms["drift"] = pred - sum(terms.values())
    out.update(predicted=pred, ratio=pred / measured if measured > 0 else None, holds=measured <= pred,
               terms=terms, coefficients={"c": c, "b_rms": b_rms, "K": K, "omega": omega})
    return out


def check_bound(per_run: list[dict[str, Any]]) -> dict[str, Any]:
    applied = [b for b in per_run if b["applies"]]
    if not applied:
        notes = []
        if any(not all(b["conditions"].values()) for b in per_run):
            worst = max(b["eta_L_tau"] for b in per_run)
            limit = min(b["step_size_limit"] for b in per_run)
            notes.append(f"the estimated constants break the step-size condition ηLτ ≤ 1 (ηLτ up to {worst:.3g}; "
                         f"the bound needs lr ≤ {limit:.3g}): the bound does not apply to this configuration")
        reasons = sorted({b["uncovered"] for b in per_run if "uncovered" in b})
        if reasons:
            notes.append(f"the theory does not cover this configuration: {'; '.join(reasons)}")
        return {"predicted": None, "measured": float(np.mean([b["measured"] for b in per_run])), "tolerance": 0.0,
                "holds": None, "applies": False, "note": "; and ".join(notes)}
    return {"predicted": float(np.mean([b["predicted"] for b in applied])),
            "measured": float(np.mean([b["measured"] for b in applied])), "tolerance": 0.0,
            "holds": all(b["holds"] for b in applied), "applies": True,
            "min_ratio": float(min(b["ratio"] for b in applied if b["ratio"] is not None)),
            "runs": len(applied), "lemma": applied[0]["lemma"]}


def check_ranking(predicted: dict[str, float], measured: dict[str, float]) -> dict[str, Any]:
    names = [s for s in predicted if s in measured and predicted[s] is not None]
    if len(names) < 3:
        return {"predicted": None, "measured": None, "tolerance": None, "holds": None,
                "note": "fewer than three schemes at equal budget"}
    x = np.array([predicted[s] for s in names])
    y = np.array([measured[s] for s in names])
    tau, pvalue = kendalltau(x, y)
    if not math.isfinite(tau):  # one side is constant: no order to compare (and NaN is not valid JSON)
        return {"predicted": None, "measured": None, "tolerance": None, "holds": None,
                "note": "Kendall τ undefined: every scheme has the same predicted objective or the same final loss"}
    order_pred = [names[i] for i in np.argsort(x, kind="stable")]
    order_meas = [names[i] for i in np.argsort(y, kind="stable")]
    return {"predicted": order_pred, "measured": order_meas, "tolerance": "Kendall τ > 0",
            "holds": bool(tau > 0), "kendall_tau": float(tau), "p_value": float(pvalue),
            "predicted_objective": {s: float(predicted[s]) for s in names},
            "final_loss": {s: float(measured[s]) for s in names}}


def predict_winner(predicted: dict[str, list[float]], spread: dict[str, list[float]] | None, z: float = 1.96,
                   all_tie: bool = False) -> tuple[str, list[str] | None, dict[str, float]]:
    """The prediction alone, from the plans (before training): the winner w = argmin_s J̄_s, the schemes
    expected to tie with it (see :func:`check_prediction`; None when the criterion predicts no spread), and
    J̄_s. ``predicted`` maps each scheme to its J on every seed (no None)."""
    names = list(predicted)
    mean_j = {s: float(np.mean(predicted[s])) for s in names}
    winner = min(names, key=lambda s: mean_j[s])
    ties: list[str] | None = None
    if all_tie:
        ties = [s for s in names if s != winner]
    elif spread is not None and all(s in spread for s in names):
        n = len(predicted[winner])
        ties = []
        for s in names:
            if s == winner:
                continue
            se = math.sqrt(float(np.mean(np.square(spread[s]) + np.square(spread[winner]))) / n)
            if abs(mean_j[s] - mean_j[winner]) < z * se:
                ties.append(s)
    return winner, ties, mean_j


def check_prediction(predicted: dict[str, list[float]], spread: dict[str, list[float]] | None,
                     verdicts: list[dict[str, Any]], z: float = 1.96, all_tie: bool = False) -> dict[str, Any]:
    """The toolkit's prediction, made before training, against the paired verdicts measured after it.

    Predicted: the winner w, the scheme of least mean predicted objective J̄ (the criterion's; in loss units
    under ``final``), and — when the criterion is ``final``, whose J and spread sd are in loss units — the
    schemes expected to tie with it: |J̄_s − J̄_w| < z·SE, SE = (mean over seeds of (sd_s² + sd_w²)/n)^½, the
    standard error of a paired mean difference that the schedules' own noise predicts (persistence.py).
    With ``all_tie`` (the pilot's injected noise cost nothing measurable) every scheme is predicted to tie.
    The check holds when w is measured best or tied with the best (95 % paired interval) and every predicted
    tie is measured tied with the best.
    """
    names = [s for s in predicted if predicted[s] and all(v is not None for v in predicted[s])]
    measured = {v["scheme"]: v["verdict"] for v in verdicts if v["scheme"] in names}
    names = [s for s in names if s in measured]
    tolerance = (f"the predicted winner measured best or tied with it (95% paired interval); ties predicted at "
                 f"|ΔJ| < {z:g}·SE")
    if len(names) < 2:
        return {"predicted": None, "measured": None, "tolerance": tolerance, "holds": None,
                "note": "fewer than two schemes at equal budget"}
    winner, ties, mean_j = predict_winner({s: predicted[s] for s in names}, spread, z, all_tie)
    good = ("best", "tied")
    misses = [] if measured[winner] in good else [f"predicted winner {winner} measured {measured[winner]}"]
    misses += [f"predicted tie {s} measured {measured[s]}" for s in (ties or []) if measured[s] not in good]
    return {"predicted": winner, "predicted_ties": ties, "measured": measured, "tolerance": tolerance,
            "holds": not misses,
            "misses": misses, "predicted_objective": mean_j}
