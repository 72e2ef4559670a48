"""A schedule is data: levels per round (and client and block), what they cost, and how they were made.

docs/design.md §6: per round (optionally per client/block) levels and bits, with the budget it was solved for, the
predicted objective, and how it was made. ``Schedule.from_levels`` scores any level array on a problem with
the same formulas every scheme is judged by (objective.py), so schedules are comparable at equal bits.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedquant.optimizer.bit_cost import bits_per_coordinate, block_bits
from fedquant.optimizer.objective import objective
from fedquant.optimizer.problem import ScheduleProblem
from fedquant.optimizer.round_weights import bound_factor
from fedquant.theory.ranges import range_rms


@dataclass(frozen=True)
class Schedule:
    scheme: str
    problem: ScheduleProblem
    levels: np.ndarray  # (T, N, K); 0 where a block has zero range
    total_bits: float
    round_bits: np.ndarray  # (T,)
    objective: float
    bound: float | None  # objective in bound units (needs the constants)
    made_by: str
    params: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def from_levels(scheme: str, problem: ScheduleProblem, levels: np.ndarray, made_by: str,
                    params: dict[str, Any] | None = None) -> Schedule:
        s = np.broadcast_to(np.asarray(levels, dtype=np.float64), problem.range_.shape)
        s = np.where(problem.range_ > 0, s, 0.0)
        per_block = block_bits(problem, s)
        obj = objective(problem, s)
        factor = bound_factor(problem)
        return Schedule(
            scheme=scheme,
            problem=problem,
            levels=s,
            total_bits=float(per_block.sum()),
            round_bits=per_block.sum(axis=(1, 2)),
            objective=obj,
            bound=None if factor is None else factor * obj,
            made_by=made_by,
            params=dict(params or {}),
        )

    @property
    def budget_bits(self) -> float | None:
        return self.problem.budget_bits

    @property
    def rounds(self) -> int:
        return self.problem.rounds

    def bits(self) -> np.ndarray:
        """Per-coordinate code width b of every (t, i, k) (0 where nothing is coded)."""
        return np.where(self.levels > 0, bits_per_coordinate(self.problem.cost, self.levels), 0.0)

    def mean_bits(self) -> np.ndarray:
        """Coordinate-weighted mean code width per round (shape (T,))."""
        d = self.problem.block_sizes[None, None, :].astype(np.float64)
        active = self.problem.range_ > 0
        num = (self.bits() * d * active).sum(axis=(1, 2))
        den = (d * active).sum(axis=(1, 2))
        return np.divide(num, den, out=np.zeros_like(num), where=den > 0)

    def range_rms(self) -> np.ndarray:
        """The p²-weighted RMS range per round, sqrt(Σ_i p_i² R_i² / Σ_i p_i²), averaged over blocks by size."""
        return range_rms(self.problem.weights, self.problem.range_, self.problem.block_sizes)

    def trend(self) -> str:
        """descending / ascending / flat, from the mean code width of the first and last third of the rounds."""
        b = self.mean_bits()
        if b.size < 3:
            return "flat"
        third = max(1, b.size // 3)
        first, last = float(b[:third].mean()), float(b[-third:].mean())
        if abs(first - last) <= 0.05 * max(first, last, 1e-12):
            return "flat"
        return "descending" if last < first else "ascending"

    def _round_levels(self, t: int) -> float | list:
        s = self.levels[t]
        active = self.problem.range_[t] > 0
        vals = s[active]
        if vals.size and np.all(vals == vals[0]):
            return _num(vals[0])
        if not vals.size:
            return 0
        return [[_num(v) for v in row] for row in s] if s.shape[1] > 1 else [_num(v) for v in s[:, 0]]

    def to_json(self) -> dict[str, Any]:
        mean_b = self.mean_bits()
        rms = self.range_rms()
        rounds = []
        for t in range(self.rounds):
            rounds.append({
                "round": t,
                "levels": self._round_levels(t),
                "bits": _num(mean_b[t]),
                "round_bits": _num(self.round_bits[t]),
                "range": float(rms[t]),
                "loss": None if not np.isfinite(self.problem.loss[t]) else float(self.problem.loss[t]),
            })
        return {
            "scheme": self.scheme,
            "criterion": self.problem.criterion,
            "cost": self.problem.cost,
            "budget_bits": self.budget_bits,
            "total_bits": self.total_bits,
            "objective": self.objective,
            "bound": self.bound,
            "trend": self.trend(),
            "made_by": self.made_by,
            "params": {k: _num(v) if isinstance(v, float | int | np.floating | np.integer) else v
                       for k, v in self.params.items()},
            "rounds": rounds,
        }

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["round", "levels", "bits", "round_bits", "range", "loss"])
        for row in self.to_json()["rounds"]:
            lv = row["levels"]
            writer.writerow([row["round"], lv if not isinstance(lv, list) else ";".join(map(str, np.ravel(lv))),
                             row["bits"], row["round_bits"], repr(row["range"]),
                             "" if row["loss"] is None else repr(row["loss"])])
        return buf.getvalue()


def _num(v: Any) -> float | int:
    f = float(v)
    return int(f) if f.is_integer() and abs(f) < 2**53 else f
