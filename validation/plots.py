"""The experiment's plots: accuracy vs bits, levels and range per round, predictions vs measurements.

Drawn on ``matplotlib.figure.Figure`` objects (no pyplot, no backend switch), so calling this from a notebook
leaves its inline figures alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .config import ExperimentConfig


def write_plots(config: ExperimentConfig, plans: dict[int, Any], runs: dict[tuple[str, int], Any],
                summary: dict[str, Any], out: Path) -> list[Path]:
    from matplotlib.figure import Figure

    paths = []
    seed = config.seeds[0]

    def series(scheme: str, key: str) -> np.ndarray:
        return np.array([r[key] for r in runs[(scheme, seed)]["rows"]], dtype=float)

    fig = Figure(figsize=(8, 4.5), constrained_layout=True)
    ax = fig.subplots()
    for scheme in config.schemes:
        ax.plot(np.cumsum(series(scheme, "bits")) / 1e6, series(scheme, "accuracy_after"), label=scheme)
    ax.set_xscale("log")
    ax.set_xlabel("cumulative uplink bits (Mbit, log scale)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"accuracy vs bits (seed {seed})")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    paths.append(_save(fig, out / "accuracy_vs_bits.png"))

    fig = Figure(figsize=(8, 4.5), constrained_layout=True)
    ax = fig.subplots()
    for scheme in config.schemes:
        if scheme != "none":
            ax.step(np.arange(config.rounds), series(scheme, "bit_width"), where="mid", label=scheme)
    ax.set_xlabel("round")
    ax.set_ylabel("bits per coordinate")
    ax.set_title(f"code width per round (seed {seed}, criterion {config.criterion})")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    paths.append(_save(fig, out / "levels.png"))

    fig = Figure(figsize=(8, 4.5), constrained_layout=True)
    ax = fig.subplots()
    for scheme in config.schemes:
        ax.plot(series(scheme, "range"), label=scheme)
    ax.set_yscale("log")
    ax.set_xlabel("round")
    ax.set_ylabel("update range R_t (p²-weighted RMS)")
    ax.set_title(f"range of the client updates (seed {seed})")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    paths.append(_save(fig, out / "range.png"))

    fig = Figure(figsize=(10, 4.2), constrained_layout=True)
    a1, a2 = fig.subplots(1, 2)
    rank = summary["checks"]["ranking"]
    if rank.get("predicted_objective"):
        for name, pred in rank["predicted_objective"].items():
            a1.scatter(pred, rank["final_loss"][name])
            a1.annotate(name, (pred, rank["final_loss"][name]), fontsize=7)
        a1.set_xscale("log")
        a1.set_title(f"ranking: Kendall τ = {rank['kendall_tau']:+.2f}")
    a1.set_xlabel("predicted objective (planning problem)")
    a1.set_ylabel("measured final training loss")
    qe = [r for sch in config.schemes if sch != "none" for r in runs[(sch, seed)]["client_rows"]]
    if qe:
        bound = np.array([r["quant_error_bound"] for r in qe])
        meas = np.array([r["quant_error"] for r in qe])
        a2.loglog(bound, meas, ".", ms=2, alpha=0.5)
        lim = [bound.min(), bound.max()]
        a2.loglog(lim, lim, "k--", lw=1, label="measured = bound")
        a2.legend(fontsize=8)
    a2.set_xlabel("bound d R²/(4s²) per client and round")
    a2.set_ylabel("measured ‖Q(Δ) − Δ‖²")
    a2.set_title("quantization error vs its bound")
    paths.append(_save(fig, out / "predicted_vs_measured.png"))
    return paths


def _save(fig: Any, path: Path) -> Path:
    import os
    import tempfile

    from .experiment import file_mode

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.fchmod(fd, file_mode())
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=100, metadata={"Software": None})
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path
