"""The experiment's plots: accuracy vs bits, levels and range per round, predictions vs measurements.

Drawn on ``matplotlib.figure.Figure`` objects (no pyplot, no backend switch), so calling this from a notebook
leaves its inline figures alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fedquant.files import atomic_path
from fedquant.validation.experiment.config import ExperimentConfig


def write_plots(config: ExperimentConfig, plans: dict[int, Any], runs: dict[tuple[str, int], Any],
                summary: dict[str, Any], out: Path) -> list[Path]:
    """The four figures of seed ``config.seeds[0]``; each scheme has one colour, line style and marker in all."""
    from matplotlib.figure import Figure

    from fedquant.optimizer.plot import width_panels
    from fedquant.optimizer.style import style

    paths = []
    seed = config.seeds[0]
    t = np.arange(config.rounds)
    every = max(1, config.rounds // 12)  # markers on at most a dozen rounds, so lines stay lines

    def series(scheme: str, key: str) -> np.ndarray:
        return np.array([r[key] for r in runs[(scheme, seed)]["rows"]], dtype=float)

    def line(scheme: str, label: str | None = None) -> dict[str, Any]:
        return {**style(scheme), "lw": 1.6, "ms": 5, "markevery": every, "label": label or scheme}

    fig = Figure(figsize=(9, 4.8), constrained_layout=True)
    ax = fig.subplots()
    acc = {scheme: np.stack([np.cumsum(series(scheme, "bits")) / 1e6, series(scheme, "accuracy_after")])
           for scheme in config.schemes}
    labels = _labels(acc)
    for scheme, (x, y) in acc.items():
        ax.plot(x, y, **line(scheme, labels[scheme]))
    budget = plans[seed].get("budget_bits")
    if budget and config.adaptive():
        ax.axvline(budget / 1e6, color="#555555", ls=":", lw=1.2, label="budget (calibrated schemes)")
    ax.set_xscale("log")
    ax.set_xlabel("cumulative uplink bits (Mbit, log scale)")
    ax.set_ylabel("test accuracy after the round")
    ax.set_title(f"accuracy vs bits (seed {seed})")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    paths.append(_save(fig, out / "accuracy_vs_bits.png"))

    quantized = [scheme for scheme in config.schemes if scheme != "none"]
    if quantized:
        rows = -(-len(quantized) // (1 if len(quantized) <= 3 else 2 if len(quantized) <= 8 else 3))
        fig = Figure(figsize=(9, 1.6 + 1.45 * rows), constrained_layout=True)
        curves, per_client = [], []
        for scheme in quantized:
            width = series(scheme, "bit_width")
            if _per_client_widths(runs[(scheme, seed)]["client_rows"]):
                per_client.append(scheme)
            curves.append((scheme, width, f"mean {width.mean():.2f}"
                           + (", widths per client" if scheme in per_client else "")))
        width_panels(fig, t, curves, "bits per coordinate")
        blocks = " and blocks (by size)" if config.blocks != "model" else ""
        fig.suptitle(f"code width per round (seed {seed}, criterion {config.criterion}); grey: the other schemes",
                     fontsize=11)
        caption = (f"{', '.join(per_client)}: each client gets its own width; a round's width is the mean over "
                   f"its clients{blocks}, hence fractional values." if per_client else
                   "Every client of a round gets the same width (a fractional value is a mean over blocks, by size)."
                   if blocks else "Every client of a round gets the same width.")
        fig.supxlabel(f"round\n{caption}", fontsize=9)
        paths.append(_save(fig, out / "levels.png"))
    else:
        fig = Figure(figsize=(8, 4.5), constrained_layout=True)
        fig.subplots().set_title("no quantized scheme in this experiment")
        paths.append(_save(fig, out / "levels.png"))

    ranges = {scheme: series(scheme, "range") for scheme in config.schemes}
    labels = _labels(ranges)
    ref = ranges.get("none")
    fig = Figure(figsize=(9, 6.0 if ref is not None else 4.5), constrained_layout=True)
    if ref is not None:  # the ranges of all schemes nearly coincide: their ratio to none's shows the difference
        ax, ax_rel = fig.subplots(2, 1, sharex=True, height_ratios=[1.6, 1])
    else:
        ax, ax_rel = fig.subplots(), None
    for scheme, r in ranges.items():
        ax.plot(t, r, **line(scheme, labels[scheme]))
        if ax_rel is not None:
            ax_rel.plot(t, r / ref, **line(scheme))
    ax.set_yscale("log")
    ax.set_ylabel("update range R_t (p²-weighted RMS)")
    ax.set_title(f"range of the client updates (seed {seed})")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if ax_rel is not None:
        ax_rel.set_ylabel("R_t / R_t of none")
        ax_rel.set_xlabel("round")
    else:
        ax.set_xlabel("round")
    paths.append(_save(fig, out / "range.png"))

    fig = Figure(figsize=(12.5, 4.6), constrained_layout=True)
    a1, a2 = fig.subplots(1, 2)
    rank = summary["checks"]["ranking"]
    if rank.get("predicted_objective"):
        names = list(rank["predicted_objective"])
        for k, name in enumerate(names):  # hollow, shrinking markers: schemes at one spot nest instead of hiding
            look = style(name)
            pred, loss = rank["predicted_objective"][name], rank["final_loss"][name]
            a1.scatter([pred], [loss], s=170 - 110 * k / max(1, len(names) - 1), marker=look["marker"],
                       facecolors="none", edgecolors=look["color"], linewidths=1.8, zorder=2 + k,
                       label=f"{name}: J = {pred:.3g}, loss {loss:.4f}")
        a1.set_xscale("log")
        a1.ticklabel_format(axis="y", useOffset=False)
        a1.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="calibrated schemes",
                  title_fontsize=8)
        a1.set_title(f"ranking: Kendall τ = {rank['kendall_tau']:+.2f}")
    else:
        a1.set_title("ranking: needs two calibrated schemes")
    a1.set_xlabel("predicted objective J (planning problem)")
    a1.set_ylabel("measured final training loss")
    lim = None
    for scheme in quantized:
        qe = runs[(scheme, seed)]["client_rows"]
        if not qe:
            continue
        bound = np.array([r["quant_error_bound"] for r in qe])
        meas = np.array([r["quant_error"] for r in qe])
        look = style(scheme)
        a2.loglog(bound, meas, ls="none", marker=look["marker"], ms=3, alpha=0.6, color=look["color"], mew=0,
                  label=scheme)
        lim = [min(bound.min(), lim[0]), max(bound.max(), lim[1])] if lim else [bound.min(), bound.max()]
    if lim:
        a2.loglog(lim, lim, "k--", lw=1, label="measured = bound")
        a2.legend(fontsize=7, loc="upper left", markerscale=2)
    a2.set_xlabel("bound d R²/(4s²) per client and round")
    a2.set_ylabel("measured ‖Q(Δ) − Δ‖²")
    a2.set_title("quantization error vs its bound")
    paths.append(_save(fig, out / "predicted_vs_measured.png"))
    return paths


def _labels(curves: dict[str, np.ndarray]) -> dict[str, str]:
    """Legend labels that say when a scheme's curve is exactly another's, "optimal (= feddq)": one line for both."""
    out = {}
    for k, (name, values) in enumerate(curves.items()):
        same = next((other for other, v in list(curves.items())[:k]
                     if v.shape == values.shape and np.array_equal(v, values)), None)
        out[name] = name if same is None else f"{name} (= {same})"
    return out


def _per_client_widths(client_rows: list[dict[str, Any]]) -> bool:
    """Whether some round gave its clients different widths (then the round's width is their mean)."""
    by_round: dict[int, set[Any]] = {}
    for r in client_rows:
        by_round.setdefault(r["round"], set()).add(r["bits"])  # the bits follow the width, not the levels
    return any(len(v) > 1 for v in by_round.values())


def _save(fig: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, metadata={"Software": None})
    return path
