"""Plots of schedules: code width and range per round (matplotlib, Agg; written to a file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .schedules import Schedule


def plot_schedules(schedules: list[Schedule], path: str | Path) -> Path:
    from matplotlib.figure import Figure  # no pyplot: the caller's backend (a notebook's inline) is untouched

    fig = Figure(figsize=(10, 6), constrained_layout=True)
    ax_b, ax_r = fig.subplots(2, 1, sharex=True)
    t = np.arange(schedules[0].rounds)
    styles = ["-", "--", "-.", ":"]
    for n, s in enumerate(schedules):
        ax_b.step(t, s.mean_bits(), where="mid", ls=styles[(n // 10) % 4], lw=1.6,
                  label=f"{s.scheme} (J = {s.objective:.3g})")
    ax_b.set_ylabel("bits per coordinate")
    ax_b.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax_b.set_title(f"criterion {schedules[0].problem.criterion}, cost {schedules[0].problem.cost}, "
                   f"budget {schedules[0].budget_bits:.4g} bits" if schedules[0].budget_bits else "")
    ax_r.plot(t, schedules[0].range_rms(), color="k", label="range R_t (p²-weighted RMS)")
    loss = schedules[0].problem.loss
    if np.all(np.isfinite(loss)):
        ax_l = ax_r.twinx()
        ax_l.plot(t, loss, color="tab:red", ls="--", label="loss F_t")
        ax_l.set_ylabel("loss", color="tab:red")
    ax_r.set_ylabel("range")
    ax_r.set_xlabel("round t")
    ax_r.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.08, 1.0))
    out = Path(path)
    fig.savefig(out, dpi=110)
    return out
