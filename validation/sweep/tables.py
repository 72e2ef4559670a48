"""A sweep's tidy tables and its figure, built from the cells' own reports.

* ``cells.csv`` — one row per cell, scheme, seed and round: the cell, its axis values, then the columns of
  the cell's ``rounds.csv``;
* ``summary.csv`` — one row per cell and scheme: the axis values, bits and final loss and accuracy (means over
  seeds), the paired verdict against the cell's best (Δ loss, 95 % interval, wins, verdict) and against
  ``none``, the criterion the cell planned on and whether its prediction check held;
* ``winners.png`` — a heat map of each scheme's Δ loss against its cell's best, the winner marked, and the bits
  each scheme spent relative to a reference scheme.

Rows come in cell, scheme and seed order from files that are themselves byte-stable, so the same grid and seeds
give the same bytes whatever the backend and the number of workers.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from fedquant.files import write_atomic
from fedquant.validation.sweep.grid import Sweep, _show

SUMMARY_COLUMNS = ("scheme", "total_bits", "final_loss", "final_loss_std", "final_accuracy", "loss_cost_vs_none",
                   "verdict", "delta_loss_vs_best", "ci_low", "ci_high", "wins", "seeds", "equal_bits",
                   "verdict_vs_none", "criterion", "prediction")


def cell_folder(out: Path, name: str) -> Path:
    return out / "cells" / name


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _fmt(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return v


def cells_table(sweep: Sweep, out: Path) -> str:
    header: list[str] | None = None
    rows: list[list[Any]] = []
    for cell in sweep.cells:
        with (cell_folder(out, cell.name) / "rounds.csv").open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            cols = next(reader)
            if header is None:
                header = ["cell", *sweep.axes, *cols]
            for r in reader:
                by = dict(zip(cols, r, strict=True))
                rows.append([cell.name, *(_show(cell.values[a]) for a in sweep.axes),
                             *(by.get(c, "") for c in header[1 + len(sweep.axes):])])
    return _csv(header or ["cell", *sweep.axes], rows)


def summary_rows(sweep: Sweep, out: Path) -> list[dict[str, Any]]:
    rows = []
    for cell in sweep.cells:
        summary = json.loads((cell_folder(out, cell.name) / "summary.json").read_text(encoding="utf-8"))
        verdicts = {v["scheme"]: v for v in summary["verdicts"]["against_best"]}
        quant = summary["verdicts"].get("quantization") or {}
        vs_none = {v["scheme"]: v for v in quant.get("against_none", [])}
        criteria = sorted({c["name"] for c in summary.get("criterion", {}).values()})
        pred = summary["checks"].get("prediction", {}).get("holds")
        for scheme, s in summary["schemes"].items():
            v = verdicts.get(scheme, {})
            rows.append({"cell": cell.name, **{a: _show(cell.values[a]) for a in sweep.axes}, "scheme": scheme,
                         "total_bits": s["total_bits"], "final_loss": s["final_loss"],
                         "final_loss_std": s["final_loss_std"], "final_accuracy": s["final_accuracy"],
                         "loss_cost_vs_none": s.get("loss_cost_vs_none"), "verdict": v.get("verdict", ""),
                         "delta_loss_vs_best": v.get("mean_difference"), "ci_low": v.get("ci_low"),
                         "ci_high": v.get("ci_high"), "wins": v.get("wins"), "seeds": v.get("seeds"),
                         "equal_bits": v.get("equal_bits"),
                         "verdict_vs_none": vs_none.get(scheme, {}).get("verdict", ""),
                         "criterion": "+".join(criteria),
                         "prediction": {True: "holds", False: "FAILS"}.get(pred, "n/a")})
    return rows


def summary_table(sweep: Sweep, out: Path) -> str:
    header = ["cell", *sweep.axes, *SUMMARY_COLUMNS]
    return _csv(header, [[_fmt(r.get(c)) for c in header] for r in summary_rows(sweep, out)])


def winners_plot(sweep: Sweep, out: Path, reference: str | None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = summary_rows(sweep, out)
    schemes = list(dict.fromkeys(r["scheme"] for r in rows if r["scheme"] != "none"))
    labels = [f"{c.name}: {c.label}" for c in sweep.cells]
    delta = np.full((len(sweep.cells), len(schemes)), np.nan)
    share = np.full_like(delta, np.nan)
    for r in rows:
        if r["scheme"] == "none":
            continue
        i, j = int(r["cell"][1:]), schemes.index(r["scheme"])
        delta[i, j] = np.nan if r["delta_loss_vs_best"] is None else r["delta_loss_vs_best"]
        ref = next((q for q in rows if q["cell"] == r["cell"] and q["scheme"] == reference), None)
        if ref is not None and ref["total_bits"]:
            share[i, j] = r["total_bits"] / ref["total_bits"]
    height = 1.2 + 0.45 * len(sweep.cells)
    fig, (ax_d, ax_b) = plt.subplots(1, 2, figsize=(6 + 1.3 * len(schemes), height), constrained_layout=True)
    im = ax_d.imshow(delta, cmap="viridis_r", aspect="auto")
    for (i, j), v in np.ndenumerate(delta):
        verdict = next((r["verdict"] for r in rows if r["cell"] == sweep.cells[i].name and r["scheme"] == schemes[j]),
                       "")
        mark = {"best": "★", "tied": "=", "worse": "✕", "better": "+"}.get(verdict, "")
        ax_d.text(j, i, f"{mark}\n{v:+.3f}" if np.isfinite(v) else "", ha="center", va="center", fontsize=7,
                  color="white")
    fig.colorbar(im, ax=ax_d, label="Δ final loss vs the cell's best")
    ax_d.set(xticks=range(len(schemes)), yticks=range(len(labels)), title="★ best, = tied, ✕ worse (95%, paired)")
    ax_d.set_xticklabels(schemes, rotation=45, ha="right")
    ax_d.set_yticklabels(labels, fontsize=7)
    im2 = ax_b.imshow(share, cmap="magma", aspect="auto")
    for (i, j), v in np.ndenumerate(share):
        if np.isfinite(v):
            ax_b.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=7, color="grey")
    fig.colorbar(im2, ax=ax_b, label=f"bits / {reference}'s bits" if reference else "bits")
    ax_b.set(xticks=range(len(schemes)), yticks=range(len(labels)),
             title=f"bits spent relative to {reference}" if reference else "no reference scheme")
    ax_b.set_xticklabels(schemes, rotation=45, ha="right")
    ax_b.set_yticklabels([])
    path = out / "winners.png"
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def write_tables(sweep: Sweep, out: Path, reference: str | None) -> None:
    write_atomic(out / "cells.csv", cells_table(sweep, out))
    write_atomic(out / "summary.csv", summary_table(sweep, out))
    winners_plot(sweep, out, reference)
