"""A schedule problem as data: trajectories, clients, blocks, criterion, bit-cost model and budget.

Shapes: T rounds, N clients (the ones sending each round), K blocks (the whole model, K = 1, or one block per
tensor). ``range_`` is (T, N, K), the range R_{t,i,k} of client i's update in block k at round t; ``loss`` is
(T,), the training loss F_t of the global model at the start of round t; ``weights`` (N,) are the
aggregation weights p_i (sum 1); ``block_sizes`` (K,) are the d_k.

The objective every solver and schedule is scored on is the bound's quantization term (theory/bound.py):

    J(s) = Σ_t α_t Σ_i p_i² Σ_k d_k R_{t,i,k}² / (4 s_{t,i,k}²)

with round weights α_t from the criterion (nonconvex: 1; pl: ρ^{T−1−t}; final: the measured persistence of a
round's noise at the last round, given as ``round_weights`` — round_weights.py; or user-given), evaluated with
the theory's ``quantization_error_bound``. In bound units it is multiplied by the criterion's factor (final
has none: its weights are in loss units already).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from fedquant.errors import InvalidArgument
from fedquant.theory import CRITERIA
from fedquant.theory.evaluate import validate_constants

#: the theory's criteria, and ``final``: round weights measured for the final training loss (persistence)
PLAN_CRITERIA = (*CRITERIA, "final")

COST_MODELS = ("fixed", "relaxed", "qsgd")
MAX_BITS = 32


def _as_float_array(name: str, value: object, ndim_max: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim > ndim_max:
        raise InvalidArgument(name, f"an array with at most {ndim_max} dimensions", f"shape {arr.shape}")
    if arr.size == 0:
        raise InvalidArgument(name, "a non-empty array", "an empty array")
    if not np.all(np.isfinite(arr)):
        raise InvalidArgument(name, "finite values (no NaN or infinity)", "a non-finite value")
    if np.any(arr < 0):
        raise InvalidArgument(name, "non-negative values", float(arr.min()))
    return arr


@dataclass(frozen=True)
class BoundConstants:
    """Bound constants that turn the objective into bound units (all optional)."""

    L: float | None = None
    lr: float | None = None
    local_steps: int | None = None
    mu: float | None = None

    def complete_for(self, criterion: str) -> bool:
        if criterion == "pl":
            return self.L is not None
        return None not in (self.L, self.lr, self.local_steps)


@dataclass(frozen=True)
class ScheduleProblem:
    """Everything a schedule is planned or scored on. Build it with ``ScheduleProblem.create``."""

    range_: np.ndarray  # (T, N, K)
    loss: np.ndarray  # (T,)
    weights: np.ndarray  # (N,)
    block_sizes: np.ndarray  # (K,) int64
    budget_bits: float | None
    criterion: str = "nonconvex"
    cost: str = "fixed"
    bits_min: int = 1
    bits_max: int = 16
    round_weights: np.ndarray | None = None  # user-given α_t; else from the criterion
    rho: float | None = None  # PL contraction; else from constants or fitted from the loss
    constants: BoundConstants = field(default_factory=BoundConstants)
    f_star: float = 0.0

    @property
    def rounds(self) -> int:
        return int(self.range_.shape[0])

    @property
    def clients(self) -> int:
        return int(self.range_.shape[1])

    @property
    def blocks(self) -> int:
        return int(self.range_.shape[2])

    @property
    def d(self) -> int:
        return int(self.block_sizes.sum())

    def with_budget(self, budget_bits: float | None) -> ScheduleProblem:
        return replace(self, budget_bits=None if budget_bits is None else _check_budget(budget_bits))

    @staticmethod
    def create(
        *,
        range_: object,
        loss: object | None = None,
        clients: int | None = None,
        weights: object | None = None,
        block_sizes: object = 1,
        budget_bits: float | None = None,
        criterion: str = "nonconvex",
        cost: str = "fixed",
        bits_min: int = 1,
        bits_max: int = 16,
        round_weights: object | None = None,
        rho: float | None = None,
        constants: BoundConstants | None = None,
        f_star: float = 0.0,
    ) -> ScheduleProblem:
        """Validate and normalise the inputs (shapes, signs, names); the budget's floor is checked where a
        schedule is made for it (``bit_cost.check_budget_floor``).

        ``range_`` may be (T,) — one range per round, shared by every client and block —, (T, N) or
        (T, N, K). ``clients`` broadcasts a per-round range to N equal clients. ``weights`` default to 1/N.
        ``block_sizes`` is d (an int) or one size per block. ``loss`` defaults to no loss information (an
        all-NaN trajectory is not allowed; rules that need the loss then refuse).
        """
        r = _as_float_array("range_", range_, 3)
        if r.ndim == 1:
            r = r[:, None, None]
        elif r.ndim == 2:
            r = r[:, :, None]
        if r.shape[0] < 1:
            raise InvalidArgument("rounds", "at least 1 round", r.shape[0])
        if clients is not None:
            if int(clients) != clients or clients < 1:
                raise InvalidArgument("clients", "an integer ≥ 1", clients)
            if r.shape[1] == 1 and clients > 1:
                r = np.broadcast_to(r, (r.shape[0], int(clients), r.shape[2])).copy()
            elif r.shape[1] != clients:
                raise InvalidArgument("clients", f"{r.shape[1]} (the ranges given have that many clients)", clients)
        n = r.shape[1]
        sizes = np.atleast_1d(np.asarray(block_sizes))
        if sizes.ndim != 1 or np.any(sizes < 1) or np.any(sizes != np.round(sizes)):
            raise InvalidArgument("d", "a positive integer block size (or one per block)", block_sizes)
        sizes = sizes.astype(np.int64)
        if r.shape[2] == 1 and sizes.size > 1:
            r = np.broadcast_to(r, (r.shape[0], n, sizes.size)).copy()
        if r.shape[2] != sizes.size:
            raise InvalidArgument("d", f"{r.shape[2]} block sizes (one per range block)", sizes.size)
        if weights is None:
            p = np.full(n, 1.0 / n)
        else:
            p = _as_float_array("weights", weights, 1)
            if p.shape != (n,):
                raise InvalidArgument("weights", f"{n} weights, one per client", p.shape[0])
            if not np.isclose(p.sum(), 1.0, rtol=1e-9, atol=0):
                raise InvalidArgument("weights", "weights summing to 1", float(p.sum()))
        if loss is None:
            f = np.full(r.shape[0], np.nan)
        else:
            f = _as_float_array("loss", loss, 1)
            if f.shape != (r.shape[0],):
                raise InvalidArgument("loss", f"{r.shape[0]} values, one per round", f.shape[0])
        if criterion not in PLAN_CRITERIA:
            raise InvalidArgument("criterion", f"one of {', '.join(PLAN_CRITERIA)}", criterion)
        if cost not in COST_MODELS:
            raise InvalidArgument("cost", f"one of {', '.join(COST_MODELS)}", cost)
        if int(bits_min) != bits_min or not 1 <= bits_min <= MAX_BITS:
            raise InvalidArgument("bits_min", f"an integer from 1 to {MAX_BITS}", bits_min)
        if int(bits_max) != bits_max or not bits_min <= bits_max <= MAX_BITS:
            raise InvalidArgument("bits_max", f"an integer from bits_min = {bits_min} to {MAX_BITS}", bits_max)
        alpha = None
        if round_weights is not None:
            alpha = _as_float_array("round_weights", round_weights, 1)
            if alpha.shape != (r.shape[0],):
                raise InvalidArgument("round_weights", f"{r.shape[0]} weights, one per round", alpha.shape[0])
        if rho is not None and not 0 < rho <= 1:
            raise InvalidArgument("rho", "a contraction factor 0 < ρ ≤ 1", rho)
        if not np.isfinite(f_star) or f_star < 0:
            raise InvalidArgument("f_star", "a finite lower bound f* ≥ 0", f_star)
        if criterion == "final" and alpha is None:
            raise InvalidArgument("round_weights", "the final criterion's α_t (a persistence model: "
                                  "round_weights.final_weights)", None)
        # the bound's own rule (fedquant bound refuses the same values)
        if constants is not None and criterion in CRITERIA:
            validate_constants(criterion, {"L": constants.L, "lr": constants.lr, "local_steps": constants.local_steps,
                                           "mu": constants.mu})
        return ScheduleProblem(
            range_=r,
            loss=f,
            weights=p,
            block_sizes=sizes,
            budget_bits=None if budget_bits is None else _check_budget(budget_bits),
            criterion=criterion,
            cost=cost,
            bits_min=int(bits_min),
            bits_max=int(bits_max),
            round_weights=alpha,
            rho=rho,
            constants=constants or BoundConstants(),
            f_star=float(f_star),
        )


def _check_budget(budget_bits: float) -> float:
    try:
        b = float(budget_bits)
    except (TypeError, ValueError):
        raise InvalidArgument("budget_bits", "a positive number of bits", budget_bits) from None
    if not np.isfinite(b) or b <= 0:
        raise InvalidArgument("budget_bits", "a positive finite number of bits", budget_bits)
    # bits are whole numbers: a budget computed in floating point (6191.999999999997 for 6192) means the
    # integer it rounds to; anything farther from an integer is kept as given
    nearest = round(b)
    return float(nearest) if abs(b - nearest) <= 1e-9 * b else b
