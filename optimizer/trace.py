"""Traces: a pilot run's per-round loss and update range, as CSV, read into a schedule problem.

Format (validation/ writes the same): columns ``round,loss,range``, optionally ``client`` (one row per round
and client) and ``scheme``/``seed`` (a validation ``rounds.csv`` holds several runs; one is picked, the
unquantized ``none`` run and the smallest seed by default). ``range`` per round is the p²-weighted RMS range
of the clients, so Σ_i p_i² R_{t,i}² = ‖p‖² range_t² — the quantity the objective uses.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.run_folder import config_file, plan_file

REQUIRED = ("round", "loss", "range")


@dataclass(frozen=True)
class Trace:
    rounds: np.ndarray  # (T,) round numbers as in the file
    loss: np.ndarray  # (T,)
    range_: np.ndarray  # (T,) or (T, N) when the trace has a client column
    source: str


def read_trace(path: str | Path, scheme: str | None = None, seed: int | None = None) -> Trace:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise InvalidArgument("trace", "a CSV file, not a folder", str(path)) from None
    except OSError as err:
        raise InvalidArgument("trace", f"a readable CSV file ({err.strerror})", str(path)) from None
    except UnicodeDecodeError:
        raise InvalidArgument("trace", "a text CSV file (this one is not UTF-8 text)", str(path)) from None
    try:
        rows = list(csv.DictReader(text.splitlines()))
    except csv.Error as err:
        raise InvalidArgument("trace", f"a well-formed CSV file ({err})", str(path)) from None
    if not rows:
        raise InvalidArgument("trace", f"a CSV with a header and rows (columns {', '.join(REQUIRED)})", str(path))
    columns = set(rows[0].keys())
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise InvalidArgument("trace", f"a CSV with columns {', '.join(REQUIRED)} (missing {', '.join(missing)})",
                              str(path))
    if "scheme" in columns:
        names = sorted({r["scheme"] for r in rows})
        pick = scheme if scheme is not None else ("none" if "none" in names else names[0])
        if pick not in names:
            raise InvalidArgument("trace_scheme", f"one of the trace's schemes: {', '.join(names)}", pick)
        rows = [r for r in rows if r["scheme"] == pick]
    elif scheme is not None:
        raise InvalidArgument("trace_scheme", "only for a trace with a scheme column", scheme)
    if "seed" in columns:
        if not all((r["seed"] or "").isdigit() for r in rows):
            raise InvalidArgument("trace", "non-negative whole numbers in column seed", str(path))
        seeds = sorted({int(r["seed"]) for r in rows})
        pick_seed = seed if seed is not None else seeds[0]
        if pick_seed not in seeds:
            raise InvalidArgument("trace_seed", f"one of the trace's seeds: {', '.join(map(str, seeds))}", pick_seed)
        rows = [r for r in rows if int(r["seed"]) == pick_seed]

    def number(row: dict[str, str], col: str) -> float:
        try:
            v = float(row[col])
        except (TypeError, ValueError):
            raise InvalidArgument("trace", f"numbers in column {col}", row[col]) from None
        if not np.isfinite(v) or v < 0:
            raise InvalidArgument("trace", f"finite non-negative values in column {col}", row[col])
        if col in ("round", "client") and v != int(v):
            raise InvalidArgument("trace", f"whole numbers in column {col}", row[col])
        return v

    def consecutive(ts: list[int]) -> None:
        """Rounds in the file's order must count up by one: a shuffled or gapped trace is not a trajectory."""
        firsts = list(dict.fromkeys(ts))
        if firsts != list(range(firsts[0], firsts[0] + len(firsts))):
            raise InvalidArgument("trace", "rounds in increasing order without gaps (round 0, 1, 2, ...)", str(path))

    if "client" in columns:
        table: dict[int, dict[int, float]] = {}
        losses: dict[int, float] = {}
        consecutive([int(number(r, "round")) for r in rows])
        for r in rows:
            t, c = int(number(r, "round")), int(number(r, "client"))
            table.setdefault(t, {})[c] = number(r, "range")
            losses[t] = number(r, "loss")
        ts = sorted(table)
        clients = sorted({c for t in ts for c in table[t]})
        if any(set(table[t]) != set(clients) for t in ts):
            raise InvalidArgument("trace", "the same clients in every round (per-client rows)", str(path))
        rng = np.array([[table[t][c] for c in clients] for t in ts])
        loss = np.array([losses[t] for t in ts])
        return Trace(np.array(ts), loss, rng, str(path))
    ts = [int(number(r, "round")) for r in rows]
    if len(set(ts)) != len(ts):
        raise InvalidArgument("trace", "one row per round (or a client column)", str(path))
    consecutive(ts)
    order = np.argsort(ts)
    loss = np.array([number(r, "loss") for r in rows])[order]
    rng = np.array([number(r, "range") for r in rows])[order]
    return Trace(np.array(ts)[order], loss, rng, str(path))


@dataclass(frozen=True)
class RunSizes:
    """What a validation run recorded beside its trace: block sizes and the clients sending each round."""

    block_sizes: list[int]
    clients: int
    source: str


def sizes_beside(path: str | Path, seed: int | None = None) -> RunSizes | None:
    """The block sizes d and the participants per round of the run a ``rounds.csv`` came from.

    ``fedquant validate`` writes ``config.json`` and ``runs/seed<k>/plan.json`` beside ``rounds.csv``; the plan
    records ``block_sizes`` and ``participants_per_round``. Returns None when the trace is not such a run's
    (or its files cannot be read), so the caller asks for --d and --clients instead.
    """
    folder = Path(path).parent
    try:
        config = json.loads(config_file(folder).read_text())
        seeds = [int(x) for x in config["config"]["seeds"]]
        pick = seed if seed is not None else min(seeds)
        plan_path = plan_file(folder, pick)
        plan = json.loads(plan_path.read_text())
        sizes = [int(x) for x in plan["block_sizes"]]
        clients = int(plan["participants_per_round"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not sizes or min(sizes) < 1 or clients < 1:
        return None
    return RunSizes(sizes, clients, str(plan_path))


def write_trace(path: str | Path, loss: np.ndarray, range_: np.ndarray) -> None:
    """A minimal trace (round,loss,range); validation writes richer ones in the same columns."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(REQUIRED)
        for t, (f, r) in enumerate(zip(loss, range_, strict=True)):
            w.writerow([t, repr(float(f)), repr(float(r))])
