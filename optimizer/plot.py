"""Plots of schedules: code width and range per round (matplotlib, Agg; written to a file).

``width_panels`` draws one small panel per scheme (shared axes, the other schemes faint grey behind), so
schemes whose widths coincide stay readable; validation/report/plots.py draws its ``levels.png`` with it too.
Every scheme has its colour, line style and marker from ``style.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fedquant.files import atomic_path
from fedquant.optimizer.schedule_record import Schedule
from fedquant.optimizer.style import style

OTHERS = "#c8c8c8"  # the other schemes, behind each panel's own


def width_panels(fig: Any, t: np.ndarray, curves: list[tuple[str, np.ndarray, str]], ylabel: str) -> list[Any]:
    """One panel per ``(scheme, width per round, note)`` on ``fig`` (a Figure or SubFigure), sharing both axes.

    The scheme's name is the panel's title, the note its right-hand title; every panel shows the other
    schemes in grey behind its own, to compare against without hiding anything.
    """
    from matplotlib.ticker import MaxNLocator

    n = len(curves)
    ncols = 1 if n <= 3 else 2 if n <= 8 else 3
    gs = fig.add_gridspec(-(-n // ncols), ncols)
    lo = min(float(np.min(w)) for _, w, _ in curves)
    hi = max(float(np.max(w)) for _, w, _ in curves)
    every = max(1, len(t) // 12)
    axes: list[Any] = []
    for k, (name, widths, note) in enumerate(curves):
        ax = fig.add_subplot(gs[k // ncols, k % ncols], sharex=axes[0] if axes else None,
                             sharey=axes[0] if axes else None)
        for j, (_, other, _) in enumerate(curves):
            if j != k:
                ax.step(t, other, where="mid", color=OTHERS, lw=0.9, zorder=1)
        look = style(name)
        ax.step(t, widths, where="mid", color=look["color"], ls=look["ls"], lw=2.0, zorder=3)
        ax.plot(t, widths, ls="none", marker=look["marker"], color=look["color"], ms=4.5, markevery=every, zorder=4)
        ax.set_title(name, loc="left", fontsize=9, fontweight="bold")
        ax.set_title(note, loc="right", fontsize=8)
        ax.grid(axis="y", color="#e8e8e8", lw=0.6, zorder=0)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5, min_n_ticks=2))
        if k + ncols < n:
            ax.tick_params(labelbottom=False)
        if k % ncols:
            ax.tick_params(labelleft=False)
        axes.append(ax)
    axes[0].set_ylim(max(0.0, lo - 0.6), hi + 0.6)
    fig.supylabel(ylabel, fontsize=10)
    return axes


def plot_schedules(schedules: list[Schedule], path: str | Path) -> Path:
    from matplotlib.figure import Figure  # no pyplot: the caller's backend (a notebook's inline) is untouched

    n = len(schedules)
    rows = -(-n // (1 if n <= 3 else 2 if n <= 8 else 3))
    height = max(2.6, 1.5 * rows)
    fig = Figure(figsize=(10, 2.8 + height), constrained_layout=True)
    top, bottom = fig.subfigures(2, 1, height_ratios=[height, 2.4])
    pr = schedules[0].problem
    t = np.arange(schedules[0].rounds)
    best = min(s.objective for s in schedules)
    curves = [(s.scheme, s.mean_bits(), f"J = {s.objective:.3g}" + (f", {s.objective / best:.2f}× best" if n > 1
                                                                      else "")) for s in schedules]
    axes = width_panels(top, t, curves, "bits per coordinate\n(mean over clients)")
    budget = f", budget {schedules[0].budget_bits / 1e6:.4g} Mbit" if schedules[0].budget_bits else ""
    top.suptitle(f"code width per round — criterion {pr.criterion}, cost {pr.cost}{budget}"
                 + ("; grey: the other schemes" if n > 1 else ""), fontsize=11)
    ax_r = bottom.subplots()
    ax_r.sharex(axes[0])
    rms, loss = schedules[0].range_rms(), pr.loss
    has_loss = bool(np.all(np.isfinite(loss)))
    handles = ax_r.plot(t, rms, color="k", lw=1.6,
                        label="range R_t (p²-weighted RMS" + (", left)" if has_loss else ")"))
    if np.all(rms > 0):
        ax_r.set_yscale("log")  # log scales, so a range and a loss that both decay do not draw one curve
    if has_loss:
        ax_l = ax_r.twinx()
        handles += ax_l.plot(t, loss, color="#666666", ls="--", lw=1.6, label="loss F_t (right)")
        if np.all(loss > 0):
            ax_l.set_yscale("log")
        ax_l.set_ylabel("loss", color="#666666")
    ax_r.set_ylabel("range")
    ax_r.set_xlabel("round t")
    ax_r.legend(handles=handles, fontsize=8, loc="upper right")
    ax_r.set_title("the trajectories the schedules were planned on", fontsize=10, loc="left")
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110)
    return out
