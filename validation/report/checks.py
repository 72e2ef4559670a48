"""The theory's predictions checked against training, each as (predicted, measured, tolerance, holds).

(i)   quant_error — every client-round quantization: measured ‖Q(Δ) − Δ‖² against the theory's bound on its
      expectation (d R²/(4s²) per block, QSGD's min(d/s², √d/s)‖x‖²). The error is a sum of independent
      per-coordinate terms in [0, δ²] (δ the grid step), so by Hoeffding a draw exceeds its mean by more than
      sqrt(ln(n/α)/2 · Σ_j δ_j⁴) with probability at most α/n; with α = 10⁻³ over the n draws that is the
      tolerance (deterministic rounding: the bound holds per draw, tolerance float32 rounding only).
(ii)  one_step — the quantization lemma E f(w_{t+1}) ≤ f(w̄_{t+1}) + (L/2)·Σ_i p_i² E‖Q(Δ_i) − Δ_i‖²: the mean
      over rounds of the measured excess loss f(w_{t+1}) − f(w̄_{t+1}) against the mean of (L/2)·V_t with the
      measured V_t and the estimated L; tolerance 3 standard errors of the mean difference.
(iii) bound — the non-convex bound of theory/bound.py with the estimated constants and the run's
      quantization term, against the measured average ‖∇f(w_t)‖²: holds when measured ≤ predicted, and only
      applies when the estimated constants meet the bound's step-size conditions (reported otherwise).
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
#: how the report names each step-size condition it found broken
CONDITION_TEXT = {"descent": "ηLτ ≤ 1/2", "drift": "η²L²(τ−1)(5τ−1) < 1"}


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
    return {"predicted": float(p.mean()), "measured": float(e.mean()), "tolerance": tol,
            "holds": bool(diff.mean() <= tol), "rounds": int(diff.size),
            "note": "mean over quantized rounds of f(w_{t+1}) − f(w̄_{t+1}) vs (L/2)·Σ_i p_i²‖Q(Δ_i) − Δ_i‖², "
                    "L estimated"}


def bound_for_run(run: dict[str, Any], constants: dict[str, float], lr: float, local_steps: int) -> dict[str, Any]:
    rows = run["rows"]
    T = len(rows)
    p2 = float(np.mean([r["p2"] for r in rows]))
    quant_sum = float(sum(r["quant_error_bound"] for r in rows))
    L = constants["L"]
    descent = float(numeric.condition_descent(L, lr, local_steps))
    measured = float(np.mean([r["grad_norm2"] for r in rows]))
    conditions = step_size_conditions(L, lr, local_steps)
    applies = all(conditions.values())
    out: dict[str, Any] = {"measured": measured, "applies": applies, "eta_L_tau": descent, "conditions": conditions,
                           "step_size_limit": float(numeric.step_size_limit(L, local_steps))}
    if applies:
        args = (L, lr, local_steps, p2, constants["sigma2"], constants["zeta2"], constants["gap"], T)
        pred = float(numeric.bound_nonconvex(*args, quant_sum))
        out.update(predicted=pred, ratio=pred / measured if measured > 0 else None, holds=measured <= pred,
                   terms={name: float(numeric.functions()[f"bound_nonconvex_{name}"](*args, quant_sum))
                          for name in ("initial_gap", "sgd_noise", "drift", "quantization")})
    else:
        out.update(predicted=None, ratio=None, holds=None)
    return out


def check_bound(per_run: list[dict[str, Any]]) -> dict[str, Any]:
    applied = [b for b in per_run if b["applies"]]
    if not applied:
        worst = max(b["eta_L_tau"] for b in per_run)
        limit = min(b["step_size_limit"] for b in per_run)
        broken = [CONDITION_TEXT[k] for k in CONDITION_TEXT if any(not b["conditions"][k] for b in per_run)]
        return {"predicted": None, "measured": float(np.mean([b["measured"] for b in per_run])), "tolerance": 0.0,
                "holds": None, "applies": False,
                "note": f"the estimated constants break the step-size condition{'s' if len(broken) > 1 else ''} "
                        f"{' and '.join(broken)} (ηLτ up to {worst:.3g}; the bound needs lr ≤ {limit:.3g}): the bound "
                        "does not apply to this configuration"}
    return {"predicted": float(np.mean([b["predicted"] for b in applied])),
            "measured": float(np.mean([b["measured"] for b in applied])), "tolerance": 0.0,
            "holds": all(b["holds"] for b in applied), "applies": True,
            "min_ratio": float(min(b["ratio"] for b in applied if b["ratio"] is not None)),
            "runs": len(applied)}


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
