"""Traces: a pilot run's per-round loss and update range, as CSV, read into a schedule problem.

Format (validation/ writes the same): columns ``round,loss,range``, optionally ``client`` (one row per round
and client) and ``scheme``/``seed`` (a validation ``rounds.csv`` holds several runs; one is picked, the
unquantized ``none`` run and the smallest seed by default). ``range`` per round is the p²-weighted RMS range
of the clients, so Σ_i p_i² R_{t,i}² = ‖p‖² range_t² — the quantity the objective uses.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fedquant.theory.errors import InvalidArgument

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
        text = p.read_text()
    except OSError as err:
        raise InvalidArgument("trace", "a readable CSV file", str(path)) from err
    rows = list(csv.DictReader(text.splitlines()))
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
        return v

    if "client" in columns:
        table: dict[int, dict[int, float]] = {}
        losses: dict[int, float] = {}
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
    order = np.argsort(ts)
    loss = np.array([number(r, "loss") for r in rows])[order]
    rng = np.array([number(r, "range") for r in rows])[order]
    return Trace(np.array(ts)[order], loss, rng, str(path))


def write_trace(path: str | Path, loss: np.ndarray, range_: np.ndarray) -> None:
    """A minimal trace (round,loss,range); validation writes richer ones in the same columns."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(REQUIRED)
        for t, (f, r) in enumerate(zip(loss, range_, strict=True)):
            w.writerow([t, repr(float(f)), repr(float(r))])
