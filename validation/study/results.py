"""The study's page: ``results.md`` and its two figures, from the result record of run.py.

Every number on the page is read from the record (scores, claims, verdicts, wall times); the prose around the
numbers only names them. Figures: ``regime-map.png`` (each cell coloured by the direction of its measured
best scheme, the best named, a cross where the predicted winner missed) and ``savings.png`` (each descending
scheme's saving of bits to the target accuracy against adaquantfl, with its 95 % interval, beside the paper's
65.2 %).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fedquant.files import atomic_path, dumps, write_atomic
from fedquant.optimizer.style import style
from fedquant.validation.study.claim import COMPARED, PAPER_BITS_SAVING, PAPER_ROUNDS_SAVING
from fedquant.validation.study.direction import FLAT_BITS

COLOURS = {"descending": "#4c72b0", "flat": "#bbbbbb", "ascending": "#dd8452"}


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:+.1f}%"


def _interval(d: dict[str, Any] | None, pct: bool = False) -> str:
    if d is None or (d.get("mean") is None and d.get("mean_difference") is None):
        return "–"
    mean = d["mean"] if "mean" in d else d["mean_difference"]
    lo, hi = d.get("ci_low"), d.get("ci_high")
    if pct:
        body = f"{100 * mean:+.1f}%"
        return body if lo is None else f"{body} [{100 * lo:+.1f}, {100 * hi:+.1f}]"
    body = f"{mean:+.4f}"
    return body if lo is None else f"{body} [{lo:+.4f}, {hi:+.4f}]"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _change(row: dict[str, Any]) -> str:
    return "base" if row["axis"] == "base" else row["cell"].split("/", 1)[1]


def _versus(row: dict[str, Any]) -> str:
    v = row["measured"]["descending_vs_ascending"]
    if v is None:
        return "–"
    word = {"better": "descending wins", "worse": "ascending wins", "tied": "tied"}.get(v["verdict"], v["verdict"])
    return f"{word}: {_interval(v)}"


def headline_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for r in result["cells"]:
        m, p, s = r["measured"], r["prediction"], r["score"]
        saving = r["claim"]["savings_vs_adaquantfl"].get("feddq", {}).get("bits")
        rows.append([r["family"], _change(r), f"{m['best']} ({m['best_direction']})", _versus(r),
                     _interval(saving, pct=True) if saving and saving["seeds"] else "not reached",
                     f"{p['winner']} ({p['optimal_direction']})", "hit" if s["winner_hit"] else "**miss**"])
    return rows


HEADLINE = ["family", "cell", "measured best (its direction)", "feddq − adaquantfl, final loss [95% CI]",
            "bits to target saved by feddq vs adaquantfl", "predicted winner (optimal's direction)", "prediction"]


def regime_map(result: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    families = list(dict.fromkeys(r["family"] for r in result["cells"]))
    width = max(sum(r["family"] == f for r in result["cells"]) for f in families)
    fig, ax = plt.subplots(figsize=(max(7.0, 2.1 * width + 2), 0.9 * len(families) + 1.6))
    for y, fam in enumerate(families):
        mine = [r for r in result["cells"] if r["family"] == fam]
        for x, r in enumerate(mine):
            m = r["measured"]
            ax.add_patch(plt.Rectangle((x, y), 0.96, 0.9, color=COLOURS[m["best_direction"]]))
            ax.text(x + 0.48, y + 0.58, _change(r), ha="center", va="center", fontsize=7)
            ax.text(x + 0.48, y + 0.3, m["best"], ha="center", va="center", fontsize=8, weight="bold")
            if not r["score"]["winner_hit"]:
                ax.plot([x + 0.05, x + 0.91], [y + 0.05, y + 0.85], color="black", lw=1.2)
                ax.plot([x + 0.05, x + 0.91], [y + 0.85, y + 0.05], color="black", lw=1.2)
    ax.set_xlim(0, width)
    ax.set_ylim(0, len(families))
    ax.set_yticks([y + 0.45 for y in range(len(families))], families)
    ax.set_xticks([])
    ax.invert_yaxis()
    handles = [Patch(color=c, label=f"best scheme {d}") for d, c in COLOURS.items()]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=3, fontsize=8, frameon=False)
    ax.set_title("measured best scheme per cell, coloured by its direction\n(crossed: the predicted winner missed)",
                 fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def savings_plot(result: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = result["cells"]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(cells) + 2), 3.6))
    offsets = {s: (k - (len(COMPARED) - 1) / 2) * 0.18 for k, s in enumerate(COMPARED)}
    for s in COMPARED:
        xs, ys, lo, hi = [], [], [], []
        for i, r in enumerate(cells):
            v = r["claim"]["savings_vs_adaquantfl"].get(s, {}).get("bits")
            if v and v["seeds"] and v["mean"] is not None:
                xs.append(i + offsets[s])
                ys.append(100 * v["mean"])
                lo.append(100 * (v["mean"] - (v["ci_low"] if v["ci_low"] is not None else v["mean"])))
                hi.append(100 * ((v["ci_high"] if v["ci_high"] is not None else v["mean"]) - v["mean"]))
        st = style(s)
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt=st["marker"], color=st["color"], label=s, capsize=2, ms=4)
    ax.axhline(100 * PAPER_BITS_SAVING, color="black", ls=":", lw=1, label="paper: 65.2% fewer bits")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(range(len(cells)), [r["cell"] for r in cells], rotation=60, ha="right", fontsize=6)
    ax.set_ylabel("bits to target saved vs adaquantfl (%)")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png", metadata={"Software": None})
    plt.close(fig)
    return path


def _rate(k: int, n: int) -> str:
    return f"{k}/{n}" + (f" ({100 * k / n:.0f}%)" if n else "")


def headline(result: dict[str, Any]) -> list[str]:
    """The headline table in Markdown and one line of hit rates: the top of results.md, and the block
    docs/tour.py copies into the README from docs/results/study.json."""
    sc = result["score"]
    return [*_table(HEADLINE, headline_rows(result)), "",
            f"Predicted winner measured best or tied-best in **{_rate(sc['winner_hits'], sc['cells'])}** of "
            f"cells; predicted ties measured tied: **{_rate(sc['ties_hit'], sc['ties_predicted'])}**; direction "
            f"of the optimal schedule = the measured best's: **{_rate(sc['direction_hits'], sc['cells'])}** "
            f"({len(result['cells'])} cells × {result['seeds']} seeds)."]


def markdown(result: dict[str, Any], figures: dict[str, Path], page: Path, command: str) -> str:
    sc = result["score"]
    cells = result["cells"]
    rel = {k: os.path.relpath(v, page.parent) for k, v in figures.items()}
    desc = [r for r in cells if (r["measured"]["descending_vs_ascending"] or {}).get("verdict") == "better"]
    asc = [r for r in cells if (r["measured"]["descending_vs_ascending"] or {}).get("verdict") == "worse"]
    tied = [r for r in cells if (r["measured"]["descending_vs_ascending"] or {}).get("verdict") == "tied"]
    lines = ["# The study: where descending quantization wins", "",
             f"Regenerated by `{command}`: {len(cells)} cells × {len(result['cells'][0]['measured']['final_loss'])} "
             f"schemes × {result['seeds']} seeds, every cell's learning rate tuned on its unquantized run first, "
             "every prediction written from the pilots before the cell trained. Descending / ascending: the "
             f"measured code widths of the last third of the rounds against the first third (±{FLAT_BITS:g} bit "
             "is flat).", "",
             "## Headline", ""]
    lines += headline(result)
    lines += ["", f"![regime map]({rel['regime_map']})", "",
              "## Where the FedDQ claim holds", ""]

    def names(rs: list[dict[str, Any]]) -> str:
        return ", ".join(f"`{r['cell']}` ({_interval(r['measured']['descending_vs_ascending'])})" for r in rs) or "none"

    lines += [f"- **Descending (feddq) beats ascending (adaquantfl)** at equal bits, final training loss, in "
              f"{len(desc)} of {len(cells)} cells: {names(desc)}.",
              f"- **Ascending beats descending** in {len(asc)}: {names(asc)}.",
              f"- **Tied** (the 95% interval holds 0) in {len(tied)}: "
              + (", ".join(f"`{r['cell']}`" for r in tied) or "none") + ".", ""]
    helps = [r for r in cells if r["measured"]["noise_helps"]]
    lines += [f"- **Quantization still lowers the loss** below the tuned unquantized run in {len(helps)} cells: "
              + (", ".join(f"`{r['cell']}` ({', '.join(r['measured']['noise_helps'])})" for r in helps) or "none")
              + ".", ""]
    lines += ["## Predicted, then measured", "",
              f"- predicted winner measured best or tied-best: **{_rate(sc['winner_hits'], sc['cells'])}** of cells",
              f"- predicted ties measured tied: **{_rate(sc['ties_hit'], sc['ties_predicted'])}**",
              f"- direction of the optimal schedule = direction of the measured best: "
              f"**{_rate(sc['direction_hits'], sc['cells'])}** (= of some best-or-tied scheme: "
              f"{_rate(sc['direction_hits_tie_aware'], sc['cells'])})",
              "- predicted / measured cost against none, where the measured cost is resolved: median "
              + ("–" if sc["cost_ratio_median"] is None else
                 f"**{sc['cost_ratio_median']:.2f}**, range [{sc['cost_ratio_range'][0]:.2f}, "
                 f"{sc['cost_ratio_range'][1]:.2f}] over {sc['cost_ratios']} (cell, scheme) pairs"), ""]
    misses = [r for r in cells if r["score"]["misses"]]
    lines += [f"### Every miss ({len(misses)})", ""]
    if misses:
        lines += _table(["cell", "missed", "what the theory would need"],
                        [[f"`{r['cell']}`", "; ".join(r["score"]["misses"]), r["score"]["diagnosis"]] for r in misses])
    else:
        lines.append("No cell missed.")
    lines += ["", "## The paper's view: bits and rounds to the target accuracy", "",
              "Target: 95% of the tuned unquantized run's final test accuracy, per seed. Saving against "
              f"adaquantfl, mean over the seeds where both reach the target [paired 95% interval] (seeds); the "
              f"paper reports up to {100 * PAPER_BITS_SAVING:.1f}% fewer bits and {100 * PAPER_ROUNDS_SAVING:.0f}% "
              "fewer rounds.", ""]
    rows = []
    for r in cells:
        for s, v in r["claim"]["savings_vs_adaquantfl"].items():
            bits, rounds_ = v["bits"], v["rounds"]
            rows.append([f"`{r['cell']}`", s, r["measured"]["directions"].get(s, "–"),
                         f"{_interval(bits, pct=True)} ({bits['seeds']})" if bits["seeds"] else "not reached",
                         f"{_interval(rounds_, pct=True)} ({rounds_['seeds']})" if rounds_["seeds"] else "not reached"])
    lines += _table(["cell", "scheme", "its direction", "bits saved", "rounds saved"], rows)
    lines += ["", f"![savings]({rel['savings']})", "",
              "## At equal budget: final training loss and test accuracy", "",
              "Mean over seeds; the verdict is against the cell's best calibrated scheme (paired 95% interval).", ""]
    schemes = list(cells[0]["measured"]["final_loss"])
    rows = []
    for r in cells:
        m = r["measured"]
        rows.append([f"`{r['cell']}`"] + [
            f"{m['final_loss'][s]:.4f} / {m['final_accuracy'][s]:.3f}" + (f" ({m['verdicts'][s]})"
                                                                         if s in m["verdicts"] else "")
            for s in schemes])
    lines += _table(["cell", *schemes], rows)
    lines += ["", "## Tuned learning rates", ""]
    rows = []
    for r in cells:
        trials = ", ".join(f"{t['lr']:g}: " + ("diverged" if t["diverged"] else f"{t['mean_final_loss']:.4f}")
                           for t in r["lr"]["trials"])
        steps = r["lr"].get("lowered", [])
        chosen = f"{steps[0]['from'] if steps else r['lr']['lr']:g}" + (" (edge of the grid)" if r["lr"]["at_edge"]
                                                                       else "")
        chosen += "".join(f"; lowered to {st['to']:g}: {st['why']}" for st in steps)
        rows.append([f"`{r['cell']}`", trials, chosen])
    lines += _table(["cell", "unquantized final loss per lr (2 seeds)", "chosen (and lowered where a scheme "
                     "diverged at it)"], rows)
    wall = result["wall_seconds"]
    lines += ["", "## How it ran", "",
              f"`{command}` with backend {result['backend']}, {result['workers']} workers (one torch thread each): "
              + ", ".join(f"{k} {v:.0f} s" for k, v in wall.items()) + f"; **{sum(wall.values()) / 60:.1f} min** in "
              "all (this invocation; a resumed study counts only what it ran). Each cell's validate folder, with "
              "its report.md, rounds.csv and plots, is in the study's `sweep/cells/`.", ""]
    return "\n".join(lines)


def write_results(result: dict[str, Any], page: Path, command: str) -> dict[str, Path]:
    """results.md at ``page``; its figures and the result record (``study.json``, what the study notebook
    loads) in ``<page stem>/`` beside it; returns the paths."""
    figdir = page.parent / page.stem
    figures = {"regime_map": regime_map(result, figdir / "regime-map.png"),
               "savings": savings_plot(result, figdir / "savings.png")}
    record = figdir / "study.json"
    write_atomic(record, dumps(result))
    write_atomic(page, markdown(result, figures, page, command))
    return {"page": page, "record": record, **figures}
