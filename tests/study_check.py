"""The structure of a finished ``fedquant study`` folder (CI runs it on ``fedquant study --quick``).

Checks: study.json holds the result with one row per cell and a score; every cell's folder has its
predictions.json, written before any of its runs (file times), and validate's report; the page and its figures
exist and the page names every cell. Exits 1 with the first problem found.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HEADINGS = ("## Headline", "## Where the FedDQ claim holds", "## Predicted, then measured", "### Every miss",
            "## The paper's view", "## At equal budget", "## Tuned learning rates", "## How it ran")


def check(folder: Path) -> list[str]:
    problems = []
    record = json.loads((folder / "study.json").read_text())
    result = record.get("result")
    if not result or len(result["cells"]) != len(record["cells"]):
        return ["study.json has no result for every cell"]
    for key in ("winner_hits", "ties_hit", "direction_hits", "cells"):
        if key not in result["score"]:
            problems.append(f"score lacks {key}")
    for row in result["cells"]:
        cell = folder / "sweep" / "cells" / row["folder"]
        pred = json.loads((cell / "predictions.json").read_text())
        runs = [p for p in cell.glob("runs/seed*/*.json") if p.name != "plan.json"]
        if len(runs) != len(record["seeds"]) * len(record["schemes"]):
            problems.append(f"{row['cell']}: {len(runs)} run files")
        if any(p.stat().st_mtime < pred["written_at"] for p in runs):
            problems.append(f"{row['cell']}: a run finished before its prediction was written")
        for name in ("summary.json", "report.md", "rounds.csv"):
            if not (cell / name).exists():
                problems.append(f"{row['cell']}: no {name}")
    page = folder / "results.md"
    text = page.read_text()
    problems += [f"results.md lacks {h}" for h in HEADINGS if h not in text]
    problems += [f"results.md does not name {r['cell']}" for r in result["cells"] if f"`{r['cell']}`" not in text]
    for fig in ("regime-map.png", "savings.png", "study.json"):
        if not (folder / "results" / fig).exists():
            problems.append(f"no results/{fig}")
    return problems


if __name__ == "__main__":
    found = check(Path(sys.argv[1]))
    for p in found:
        print(f"study check: {p}", file=sys.stderr)
    if found:
        sys.exit(1)
    print(f"study check: {sys.argv[1]} is a complete study folder")
