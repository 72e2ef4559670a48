"""The experiment's files: rounds.csv, clients.csv, summary.json, report.md and plots.

Everything here reads the finished run records of ``out/runs`` (experiment.py), so a resumed experiment
writes the same files as one that never stopped.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from fedquant.files import dumps, write_atomic
from fedquant.run_folder import plan_file, run_file
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.report.checks import (
    bound_for_run,
    check_bound,
    check_one_step,
    check_prediction,
    check_quant_error,
    check_ranking,
)
from fedquant.validation.report.verdicts import LEVEL, against_best, quantization_cost

ROUND_COLUMNS = ["scheme", "seed", "round", "participants", "loss", "accuracy", "test_loss", "grad_norm2", "range",
                 "p2", "levels", "bit_width", "bits", "bytes", "bytes_entropy", "quant_error", "quant_error_bound",
                 "excess_loss", "excess_loss_second_order", "excess_loss_predicted", "loss_after", "accuracy_after",
                 "downlink_bits"]
CLIENT_COLUMNS = ["scheme", "seed", "round", "client", "weight", "range", "levels", "bits", "bytes", "quant_error",
                  "quant_error_bound", "hoeffding_scale"]


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    used = [c for c in columns if any(c in r for r in rows)]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(used)
    for r in rows:
        w.writerow([_fmt(r.get(c)) for c in used])
    return buf.getvalue()


def load(config: ExperimentConfig, out: Path) -> tuple[dict[int, dict[str, Any]], dict[tuple[str, int], Any]]:
    plans = {s: json.loads(plan_file(out, s).read_text()) for s in config.seeds}
    runs = {(sch, s): json.loads(run_file(out, s, sch).read_text()) for s in config.seeds for sch in config.schemes}
    return plans, runs


def _mean(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def _std(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.std(vals, ddof=1)) if len(vals) > 1 else (0.0 if vals else None)


def summarize(config: ExperimentConfig, plans: dict[int, Any], runs: dict[tuple[str, int], Any]) -> dict[str, Any]:
    targets: dict[int, float] = {}
    for s in config.seeds:
        if config.target_accuracy is not None:
            targets[s] = config.target_accuracy
        else:
            targets[s] = 0.95 * runs[("none", s)]["rows"][-1]["accuracy_after"]
    schemes: dict[str, Any] = {}
    per_run: list[dict[str, Any]] = []
    for scheme in config.schemes:
        acc, loss, bits, byts, ent, rtt, btt, pred, clipped = [], [], [], [], [], [], [], [], []
        for s in config.seeds:
            rows = runs[(scheme, s)]["rows"]
            cum = np.cumsum([r["bits"] for r in rows])
            hit = next((i for i, r in enumerate(rows) if r["accuracy_after"] >= targets[s]), None)
            acc.append(rows[-1]["accuracy_after"])
            loss.append(rows[-1]["loss_after"])
            bits.append(float(cum[-1]))
            byts.append(float(sum(r["bytes"] for r in rows)))
            if "bytes_entropy" in rows[0]:
                ent.append(float(sum(r["bytes_entropy"] for r in rows)))
            rtt.append(None if hit is None else hit + 1)
            btt.append(None if hit is None else float(cum[hit]))
            pred.append(plans[s]["predicted_objective"].get(scheme))
            clipped.append(runs[(scheme, s)]["guard_clipped"])
            ref = runs[("none", s)]["rows"][-1] if ("none", s) in runs else None
            per_run.append({"scheme": scheme, "seed": s, "final_loss": loss[-1], "final_accuracy": acc[-1],
                            "total_bits": bits[-1], "rounds_to_target": rtt[-1],
                            "loss_cost_vs_none": None if ref is None else loss[-1] - ref["loss_after"],
                            "accuracy_cost_vs_none": None if ref is None else ref["accuracy_after"] - acc[-1]})
        schemes[scheme] = {
            "total_bits": _mean(bits), "total_bytes": _mean(byts), "total_bytes_entropy": _mean(ent),
            "final_loss": _mean(loss), "final_loss_std": _std(loss),
            "final_accuracy": _mean(acc), "final_accuracy_std": _std(acc),
            "rounds_to_target": _mean(rtt), "bits_to_target": _mean(btt),
            "reached_target": int(sum(r is not None for r in rtt)),
            "predicted_objective": _mean(pred), "guard_clipped_rounds": int(sum(clipped)),
        }
        if "none" in config.schemes:
            schemes[scheme]["loss_cost_vs_none"] = _mean([r["loss_cost_vs_none"] for r in per_run[-len(config.seeds):]])
            schemes[scheme]["accuracy_cost_vs_none"] = _mean(
                [r["accuracy_cost_vs_none"] for r in per_run[-len(config.seeds):]])
    quantized = [runs[(sch, s)] for sch in config.schemes if sch != "none" for s in config.seeds]
    checks = {
        "quant_error": check_quant_error([r for run in quantized for r in run["client_rows"]],
                                         deterministic=config.quantizer == "deterministic"),
        "one_step": (check_one_step([(runs[(sch, s)], plans[s]["constants"]["L"]) for sch in config.schemes
                                     if sch != "none" for s in config.seeds])
                     if not getattr(config, "error_feedback", False) and config.quantizer != "deterministic" else
                     {"predicted": None, "measured": None, "tolerance": None, "holds": None,
                      "note": "error feedback: the excess loss f(w_{t+1}) − f(w̄_{t+1}) also carries the residual "
                              "Σᵢ pᵢ eₜ,ᵢ, so the unbiased one-step lemma does not describe these rounds (the "
                              "bound check uses the error-feedback lemma)"
                      if getattr(config, "error_feedback", False) else
                              "deterministic rounding is biased: the unbiased lemma's (L/2)·V does not bound its "
                              "excess loss, which has the first-order term ‖∇f(w̄)‖·M of the biased lemma "
                              "(theory/rounding_bias.py; the bound check uses it)"}),
        "bound": check_bound([bound_for_run(runs[(sch, s)], plans[s]["constants"], config.lr,
                                            plans[s]["max_local_steps"], quantizer=config.quantizer,
                                            error_feedback=getattr(config, "error_feedback", False),
                                            clients=config.clients,
                                            per_round=max(1, round(config.participation * config.clients)),
                                            equal_weights=config.partition == "iid")
                              for sch in config.schemes for s in config.seeds]),
        "ranking": check_ranking({s: schemes[s]["predicted_objective"] for s in config.adaptive()},
                                 {s: schemes[s]["final_loss"] for s in config.adaptive()}),
    }
    verdicts = paired_verdicts(config, runs)
    checks["ranking"] = ranking_in_context(checks["ranking"], verdicts, config.adaptive())
    checks["prediction"] = prediction_in_context(config, plans, verdicts)
    used = {str(k): plans[k].get("criterion", {"name": "nonconvex", "asked": config.criterion, "reason": "as given"})
            for k in config.seeds}
    return {"config": config.to_json(), "targets": {str(s): t for s, t in targets.items()},
            "budget_bits": {str(s): plans[s]["budget_bits"] for s in config.seeds},
            "schemes": schemes, "checks": checks, "verdicts": verdicts, "runs": per_run,
            "constants": {str(s): plans[s]["constants"] for s in config.seeds}, "criterion": used}


def paired_verdicts(config: ExperimentConfig, runs: dict[tuple[str, int], Any]) -> dict[str, Any]:
    """Every quantized scheme against the best, and against ``none`` when it ran (verdicts.py), on the final
    training loss, paired by seed."""
    quantized = [sch for sch in config.schemes if sch != "none"]
    loss = {sch: np.array([runs[(sch, s)]["rows"][-1]["loss_after"] for s in config.seeds]) for sch in quantized}
    out: dict[str, Any] = {"metric": "final training loss", "level": LEVEL, "seeds": len(config.seeds),
                           "best_among": "calibrated" if config.adaptive() else "all",
                           "against_best": [{**v.to_json(), "equal_bits": v.scheme in config.adaptive()}
                                            for v in against_best(loss, config.adaptive())] if loss else [],
                           "quantization": None}
    if "none" in config.schemes and loss:
        ref = np.array([runs[("none", s)]["rows"][-1]["loss_after"] for s in config.seeds])
        out["quantization"] = quantization_cost(loss, ref)
    return out


def ranking_in_context(ranking: dict[str, Any], verdicts: dict[str, Any], calibrated: list[str]) -> dict[str, Any]:
    """Kendall τ between the predicted objectives and the final losses is a statistic, not a verdict (the
    prediction check is the verdict): the note says what the data can rank — nothing when quantization is not
    limiting, or when every calibrated scheme is tied with the best within the 95 % interval."""
    if ranking.get("predicted") is None:
        return ranking
    quant = verdicts.get("quantization")
    if quant is not None and not quant["limiting"]:
        return {**ranking, "holds": None, "note": quant["line"]}
    calibrated_verdicts = [v for v in verdicts["against_best"] if v["scheme"] in calibrated]
    if calibrated_verdicts and all(v["verdict"] in ("tied", "best") for v in calibrated_verdicts):
        best = calibrated_verdicts[0]["reference"]
        return {**ranking, "holds": None,
                "note": f"tied: every calibrated scheme is within the 95% interval of the best ({best}) over "
                        f"{verdicts['seeds']} seeds"}
    return {**ranking, "holds": None,
            "note": f"predicted best {ranking['predicted'][0]}, measured best {ranking['measured'][0]}: a statistic, "
                    "the prediction check is the verdict"}


def plan_inputs(config: ExperimentConfig, plans: dict[int, Any]) -> tuple[
        dict[str, list[float]], dict[str, list[float]] | None, bool]:
    """What the plans (the pilots) predict for the calibrated schemes: J per seed, its spread sd per seed (None
    unless every seed planned on the final-loss criterion), and whether the pilot's injected noise cost
    nothing measurable on every seed (then the toolkit predicts that every schedule ties)."""
    calibrated = config.adaptive()
    predicted = {s: [plans[k]["predicted_objective"].get(s) for k in config.seeds] for s in calibrated}
    have_sd = all("predicted_sd" in plans[k] for k in config.seeds)
    spread = {s: [plans[k]["predicted_sd"][s] for k in config.seeds] for s in calibrated} if have_sd else None
    unresolved = all("fit" not in plans[k].get("criterion", {}).get("persistence", {"fit": None})
                     for k in config.seeds)
    return predicted, spread, unresolved


def prediction_in_context(config: ExperimentConfig, plans: dict[int, Any], verdicts: dict[str, Any]) -> dict[str, Any]:
    """The prediction check (checks.check_prediction) on the calibrated schemes; n/a where quantization is not
    limiting or helps (then no cost model can order the schedules)."""
    calibrated = config.adaptive()
    predicted, spread, unresolved = plan_inputs(config, plans)
    out = check_prediction(predicted, spread, [v for v in verdicts["against_best"] if v["scheme"] in calibrated],
                           all_tie=unresolved)
    if unresolved:
        out["ties_note"] = "every scheme predicted to tie: the noise injected into the pilot cost nothing measurable"
    criteria = sorted({plans[k].get("criterion", {}).get("name", "nonconvex") for k in config.seeds})
    out["criterion"] = ", ".join(criteria)
    if spread is None and not unresolved and out.get("holds") is not None:
        out["ties_note"] = "ties not predicted: the criterion's objective has no loss units (final does)"
    quant = verdicts.get("quantization")
    if out.get("holds") is not None and quant is not None and not quant["limiting"]:
        all_tied = out.get("predicted_ties") is not None and len(out["predicted_ties"]) == len(out["measured"]) - 1
        if not (all_tied and out["holds"]):  # a predicted all-way tie is exactly what "not limiting" measures
            out = {**out, "holds": None, "note": quant["line"]}
    return out


def criterion_line(summary: dict[str, Any]) -> str:
    """Which criterion the schedules were planned on, on how many seeds, and why."""
    used = summary.get("criterion") or {}
    if not used:
        return ""
    by_name: dict[str, list[str]] = {}
    for seed, c in used.items():
        by_name.setdefault(c["name"], []).append(seed)
    first = next(iter(used.values()))
    parts = [f"{name} on seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)}" for name, seeds in by_name.items()]
    reasons = sorted({c["reason"] for c in used.values()}, key=len)
    return f"criterion: {'; '.join(parts)} (asked: {first['asked']}) — {reasons[0]}"


def answer_line(summary: dict[str, Any]) -> str:
    """The answer to "which schedule at this budget, what does it save, how sure": the best calibrated scheme,
    its bits against the unquantized run, its cost against it, and the schemes the data cannot tell from it."""
    v = summary.get("verdicts") or {}
    calibrated = [c for c in v.get("against_best", []) if c.get("equal_bits")]
    if not calibrated:
        return ""
    best = calibrated[0]["reference"]
    tied = [c["scheme"] for c in calibrated if c["verdict"] == "tied"]
    schemes = summary["schemes"]
    out = f"answer: at this budget use {best}"
    if "none" in schemes and schemes["none"]["total_bits"]:
        share = schemes[best]["total_bits"] / schemes["none"]["total_bits"]
        out += f" — {100 * share:.1f}% of the unquantized run's bits (saves {100 * (1 - share):.1f}%)"
    quant = v.get("quantization")
    if quant is not None:
        cost = next((c for c in quant["against_none"] if c["scheme"] == best), None)
        if cost is not None and cost["ci_low"] is not None:
            out += (f", final loss {cost['mean_difference']:+.4f} vs none [{cost['ci_low']:+.4f}, "
                    f"{cost['ci_high']:+.4f}]")
    n = v.get("seeds", 0)
    if tied:
        out += f"; tied with {', '.join(tied)} within the 95% interval over {n} seeds (any of them will do)"
    elif len(calibrated) > 1:
        out += f"; better than every other calibrated scheme at 95% over {n} seeds"
    return out


def verdicts_table(summary: dict[str, Any]) -> str:
    """Each scheme against the best on the final training loss, paired by seed, and the quantization line."""
    v = summary.get("verdicts")
    if not v or not v["against_best"]:
        return "no quantized scheme to compare"
    rows = []
    for c in v["against_best"]:
        ci = "–" if c["ci_low"] is None else f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]"
        budget = "this budget" if c.get("equal_bits") else "as given"
        rows.append([c["scheme"], f"{c['mean_difference']:+.4f}", ci, f"{c['wins']}/{c['seeds']}", c["verdict"],
                     budget])
    best = v["against_best"][0]["reference"]
    lines = _aligned(["scheme", "Δ loss vs best", "95% interval", "wins", "verdict", "bits"], rows)
    among = "among the schemes calibrated to the budget" if v.get("best_among") == "calibrated" else "of all"
    lines.append(f"best: {best}, the lowest mean final training loss {among}; paired by seed (same split, model "
                 "and batches); schemes 'as given' spend their own bits")
    if v["quantization"] is not None:
        lines.append(v["quantization"]["line"])
    answer = answer_line(summary)
    if answer:
        lines.append(answer)
    return "\n".join(lines)


def write_outputs(config: ExperimentConfig, out: Path) -> dict[str, Any]:
    plans, runs = load(config, out)
    rows = [r for s in config.seeds for sch in config.schemes for r in runs[(sch, s)]["rows"]]
    crow = [r for s in config.seeds for sch in config.schemes for r in runs[(sch, s)]["client_rows"]]
    write_atomic(out / "rounds.csv", _csv(rows, ROUND_COLUMNS))
    write_atomic(out / "clients.csv", _csv(crow, CLIENT_COLUMNS))
    summary = summarize(config, plans, runs)
    write_atomic(out / "summary.json", dumps(summary))
    write_atomic(out / "report.md", report_markdown(config, plans, summary))
    from fedquant.validation.report.plots import write_plots

    write_plots(config, plans, runs, summary, out)
    return summary


def _signed(v: float, digits: int = 4) -> str:
    """v with its sign at ``digits`` decimals; a value that rounds to zero reads +0.0…, never −0.0…."""
    text = f"{v:+.{digits}f}"
    return "+" + text[1:] if float(text) == 0 else text


def _n(v: Any, fmt: str = ".4g") -> str:
    return "–" if v is None else format(v, fmt)


def _aligned(header: list[str] | None, rows: list[list[str]], left: int = 1) -> list[str]:
    """Columns two spaces apart, each as wide as its widest cell (header included); the first ``left`` columns
    left-aligned, the others right-aligned like the numbers they hold."""
    table = ([header] if header else []) + rows
    widths = [max(len(cell) for cell in column) for column in zip(*table, strict=True)]
    return ["  ".join(cell.ljust(w) if i < left else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(cells, widths, strict=True))).rstrip() for cells in table]


def budget_how(spec: str) -> str:
    """How a ``--budget`` spec sets the budget: ``auto`` → ``auto = what fixed:4 would spend``."""
    if spec == "auto":
        return "auto = what fixed:4 would spend"
    if spec.startswith("fixed:"):
        return f"{spec} = what {spec.split(':', 1)[1]} bits per coordinate would spend"
    return "given in bits"


def budget_line(summary: dict[str, Any]) -> str:
    """The budget of a summary, how it was set, and which schemes were calibrated to it."""
    from fedquant.optimizer.scheme_spec import pinned

    values = sorted(set(summary["budget_bits"].values()))
    amount = f"{values[0]:,.0f}" if len(values) == 1 else f"{values[0]:,.0f} to {values[-1]:,.0f}"
    schemes = list(summary["schemes"])
    calibrated = [s for s in schemes if s != "none" and not pinned(s)]
    as_given = [f"{s} (unquantized)" if s == "none" else s for s in schemes if s not in calibrated]
    return (f"budget: {budget_how(summary['config']['budget'])}, {amount} bits per run ('of budget' is a run's "
            f"bits over it)\ncalibrated to it, each under a budget guard: {', '.join(calibrated) or 'no scheme'}; "
            f"as given: {', '.join(as_given) or 'no scheme'}")


def _decimals(values: list[float]) -> int:
    """Decimals that show the smallest value of a column to three significant digits (at least 3, at most 6)."""
    small = min((abs(v) for v in values if v), default=1.0)
    return int(min(6, max(3, 2 - np.floor(np.log10(small)))))


def summary_table(summary: dict[str, Any]) -> str:
    budget = float(np.mean(list(summary["budget_bits"].values())))
    seeds = len(summary["config"]["seeds"])
    header = ["scheme", "bits (M)", "of budget", "bytes (MB)", "final acc", "final loss", "bits→target (M)",
              "Δacc vs none"]
    rows = []
    mbit = _decimals([s["total_bits"] / 1e6 for s in summary["schemes"].values()])
    mbyte = _decimals([s["total_bytes"] / 1e6 for s in summary["schemes"].values()])
    for name, s in summary["schemes"].items():
        btt = _n(None if s["bits_to_target"] is None else s["bits_to_target"] / 1e6, ".3g")
        dacc = s.get("accuracy_cost_vs_none")
        rows.append([name, f"{s['total_bits'] / 1e6:.{mbit}f}", f"{100 * s['total_bits'] / budget:.1f}%",
                     f"{s['total_bytes'] / 1e6:.{mbyte}f}", f"{s['final_accuracy']:.4f}", f"{s['final_loss']:.4f}",
                     f"{btt} ({s['reached_target']}/{seeds})", "–" if dacc is None else format(0.0 - dacc, "+.4f")])
    targets = list(summary["targets"].values())
    target = (f"{targets[0]:.4f}" if len(set(targets)) == 1 else
              ", ".join(f"{v:.4f}" for v in targets) + " per seed")
    if summary["config"].get("target_accuracy") is None:
        target = f"95% of none's final, {target}"
    return "\n".join([*_aligned(header, rows), "", budget_line(summary),
                      f"bits→target: Mbit until the test accuracy reached the target ({target}); mean over the runs "
                      f"that reached it (runs/seeds)"])


def checks_table(summary: dict[str, Any]) -> str:
    rows = []
    for name, c in summary["checks"].items():
        holds = {True: "holds", False: "FAILS", None: "n/a"}[c.get("holds")]
        pred, meas = c.get("predicted"), c.get("measured")
        if name == "quant_error" and isinstance(meas, dict):
            desc = (f"max ‖Q−Δ‖²/bound {meas['max_ratio']:.4f}, mean {meas['mean_ratio']:.4f} over "
                    f"{meas['draws']} draws ({meas['over_bound']} above the bound, within the Hoeffding allowance "
                    f"{c['tolerance']['max_relative_allowance']:.3g})")
        elif name == "one_step" and pred is not None:
            desc = (f"mean excess loss {meas:.3e} vs (L/2)·V {pred:.3e} (tolerance {c['tolerance']:.2e}, "
                    f"{c['rounds']} rounds)")
            sharp = c.get("sharp")
            if sharp and sharp.get("runs"):
                desc += (f"; sharp estimate / measured: median {sharp['median_ratio']:.3f}, range "
                         f"[{sharp['min_ratio']:.3f}, {sharp['max_ratio']:.3f}] over {sharp['runs']} runs")
                if sharp["unresolved"]:
                    n = sharp["unresolved"]
                    desc += f" ({n} run{'s' if n != 1 else ''} too noisy to resolve)"
        elif name == "prediction" and c.get("predicted") is not None:
            ties = c.get("predicted_ties")
            tie_text = (c["ties_note"] if c.get("ties_note") else
                        f"predicted ties {', '.join(ties)}" if ties else "no tie predicted")
            desc = (f"criterion {c['criterion']}: predicted best {c['predicted']} (measured "
                    f"{c['measured'][c['predicted']]}); {tie_text}")
            if c.get("misses"):
                desc += "; misses: " + "; ".join(c["misses"])
            if c.get("holds") is None and c.get("note"):
                desc = f"{c['note']} ({desc})"
        elif name == "bound":
            desc = (f"bound {_n(pred)} vs mean ‖∇f‖² {_n(meas)}" if c.get("applies") else c.get("note", ""))
        elif name == "ranking" and pred is not None:
            desc = (f"{c['note']} (Kendall τ = {c['kendall_tau']:+.3f}, p = {c['p_value']:.3g})" if c.get("note") else
                    f"Kendall τ = {c['kendall_tau']:+.3f} (p = {c['p_value']:.3g}); predicted best {pred[0]}, "
                    f"measured best {meas[0]}")
        else:
            desc = c.get("note", "")
        rows.append([name, holds, desc])
    return "\n".join(_aligned(None, rows, left=3))


def report_markdown(config: ExperimentConfig, plans: dict[int, Any], summary: dict[str, Any]) -> str:
    seed0 = config.seeds[0]
    p0 = plans[seed0]
    c = config
    local = f"{c.local_epochs} local epoch(s)" if c.local_epochs else f"{c.local_steps} local steps"
    out = [
        "# fedquant validate — report", "",
        f"{c.dataset}, {c.model} (d = {p0['d']:,}, blocks: {c.blocks}), {c.clients} clients, participation "
        f"{c.participation} ({p0['participants_per_round']} per round), partition {c.partition}, {c.rounds} rounds, "
        f"{local}, batch {c.batch_size}, lr {c.lr}, momentum {c.momentum}, quantizer {c.quantizer}, "
        f"criterion {c.criterion}, engine {c.engine}, seeds {list(c.seeds)}.", "",
        f"Budget: {p0['budget_bits']:,.0f} bits per run ({budget_how(c.budget)}); "
        f"calibrated schemes: {', '.join(c.adaptive()) or 'none'}; each runs under a budget guard.",
        f"Pilot: the first {p0['pilot_rounds']} unquantized rounds of each seed ({p0['pilot_bits'] / 1e6:.3g} Mbit at "
        f"float32), extrapolated by {', '.join(f'{k}: {v}' for k, v in p0['forecasts'].items())}.", "",
        "## Results (mean over seeds)", "", "```", summary_table(summary), "```", "",
        criterion_line(summary), "",
        "## Checks: predicted vs measured", "", "```", checks_table(summary), "```", "",
        "## Verdicts: each scheme against the best, paired by seed", "", "```", verdicts_table(summary), "```", "",
        "## What quantization cost against `none`, per run", "",
        "| scheme | seed | final loss | Δ loss vs none | final accuracy | Δ accuracy vs none | bits (M) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary["runs"]:
        dl = r["loss_cost_vs_none"]
        da = r["accuracy_cost_vs_none"]
        dl_txt = "–" if dl is None else _signed(dl)
        da_txt = "–" if da is None else _signed(0.0 - da)
        out.append(f"| {r['scheme']} | {r['seed']} | {r['final_loss']:.4f} | {dl_txt} | "
                   f"{r['final_accuracy']:.4f} | {da_txt} | {r['total_bits'] / 1e6:.3f} |")
    out += ["", "## Estimated constants (pilot iterates)", "", "| seed | L | σ² | ζ² | gap f(w₀) |",
            "|---|---|---|---|---|"]
    for s in c.seeds:
        k = plans[s]["constants"]
        out.append(f"| {s} | {k['L']:.4g} | {k['sigma2']:.4g} | {k['zeta2']:.4g} | {k['gap']:.4g} |")
    out += ["", f"## Calibration (seed {seed0})", ""]
    for scheme, params in p0["params"].items():
        shown = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in params.items())
        out.append(f"- {scheme}: {shown}; planned {p0['planned_bits'][scheme]:,.0f} bits, predicted objective "
                   f"{p0['predicted_objective'][scheme]:.4g}")
    out += ["", f"## Partition (seed {seed0})", "", "```", p0["partition_report"], "```", "",
            "Files: rounds.csv, clients.csv, summary.json, accuracy_vs_bits.png, levels.png, range.png, "
            "predicted_vs_measured.png.", ""]
    return "\n".join(out)
