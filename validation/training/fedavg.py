"""One FedAvg run (one scheme, one seed) with a quantized uplink and exact bit accounting.

Round t: the server samples the participants S_t (``rng`` stream "sample"), evaluates the global model w_t
(loss F_t = f(w_t), ‖∇f(w_t)‖², test accuracy), the engine computes the updates Δ_{t,i}, the level rule sees
F_t and the ranges R_{t,i,k} of this round's updates (never later rounds) and returns levels, every client
quantizes each block with its levels (stream "quantize", keyed by round and client), encodes it with the
fixed-length codec, and the server decodes the bytes and sets w_{t+1} = w_t + Σ_i p_i Q(Δ_{t,i}) with
p_i = n_i/Σ_{j∈S_t} n_j. Beside it the unquantized aggregate w̄_{t+1} = w_t + Σ_i p_i Δ_{t,i} is evaluated,
for the one-step check of the quantization lemma.

With ``error_feedback`` (EF-SGD: Karimireddy et al. 2019; Stich & Karimireddy 2019) every client i keeps a
residual e_{t,i} (float32, zero at the start, one row per client of the federation). A participant quantizes
x_{t,i} = Δ_{t,i} + e_{t,i} instead of Δ_{t,i}, sends Q(x_{t,i}) and keeps e_{t+1,i} = x_{t,i} − Q(x_{t,i});
a client that is not sampled keeps its residual. Everything measured of the quantization is then of x: the
ranges the level rule sees (and the rows' ``range``), ``quant_error`` ‖Q(x) − x‖² and its bound, the Hoeffding
scale. ``excess_loss`` keeps its definition, f(w_{t+1}) − f(w̄_{t+1}) with w̄ the aggregate of the Δ's. Such
rows carry ``residual_norm2`` ‖Σ_{i∈S_t} p_i e_{t,i}‖² (the residual this round's participants bring in),
``residual_max_norm2`` max_i ‖e_{t,i}‖² over all clients, and ``agg_error_norm2`` ‖Σ_i p_i (Q(x_i) − x_i)‖², the
aggregate rounding error (also written for the biased ``deterministic`` quantizer without EF). Without EF and
with another quantizer the rows have none of these keys. The unquantized reference ignores the flag.

Bits per block are the theory's formula (``QuantizedBlock.bits_formula``: bits_fixed or bits_qsgd) and bytes
are the encoded message lengths; a block of zero range (a constant) sends its side information only, at the
planner's cost for levels 0 (64 bits for the range quantizers).
The unquantized reference ``none`` sends float32: 32·d bits. The optional downlink quantizes the broadcast
aggregate at a fixed width (FedAQ-style), applied by server and clients alike.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from fedquant.errors import InvalidArgument
from fedquant.optimizer.bit_cost import bits_function, cost_model
from fedquant.optimizer.schemes.level_rule import Context, LevelRule, Observation
from fedquant.theory import numeric
from fedquant.theory.ranges import block_range_rms, range_rms
from fedquant.theory.wire import FLOAT_BITS, levels_for_width, width_for_levels
from fedquant.validation.compression.quantizers import get_quantizer
from fedquant.validation.rng import numpy_rng, torch_generator
from fedquant.validation.training.curvature import predicted_excess
from fedquant.validation.training.engines import Engine
from fedquant.validation.training.global_loss import GlobalLoss
from fedquant.validation.training.uplink import Uplink, send


@dataclass(frozen=True)
class RoundSpec:
    """How rounds are run, shared by every scheme of an experiment."""

    rounds: int
    clients: int
    participation: float
    quantizer: str = "stochastic"
    entropy: bool = False  # also measure the Elias-coded size
    downlink_bits: int | None = None
    error_feedback: bool = False  # clients add their last rounding residual to the next update (EF-SGD)

    @property
    def per_round(self) -> int:
        return max(1, round(self.participation * self.clients))


@dataclass
class RunOutput:
    rows: list[dict[str, Any]]
    client_rows: list[dict[str, Any]]
    block_ranges: list[np.ndarray] = field(default_factory=list)  # per round: p²-weighted RMS range per block
    iterates: dict[int, torch.Tensor] = field(default_factory=dict)
    final_w: torch.Tensor | None = None
    guard_clipped: int = 0
    residual: torch.Tensor | None = None  # error feedback: every client's residual e_{T,i} after the last round


def participants(seed: int, round_: int, clients: int, m: int) -> np.ndarray:
    if m >= clients:
        return np.arange(clients)
    return np.sort(numpy_rng(seed, round_, -1, "sample").choice(clients, size=m, replace=False))


def block_slices(sizes: Sequence[int], blocks: str) -> list[slice]:
    """One slice for the whole update ("model") or one per parameter tensor ("tensor")."""
    if blocks == "model":
        return [slice(0, int(sum(sizes)))]
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


@dataclass(frozen=True)
class Federation:
    """What every scheme of one seed shares: the clients' data and engine, the global loss, the initial model,
    the clients' sample counts and the update's blocks."""

    seed: int
    spec: RoundSpec
    engine: Engine
    objective: GlobalLoss
    w0: torch.Tensor
    sizes: np.ndarray  # samples per client (the aggregation weights p_i ∝ n_i)
    slices: list[slice]  # the update's blocks

    @property
    def block_sizes(self) -> np.ndarray:
        return np.array([s.stop - s.start for s in self.slices], dtype=np.int64)


def run_fedavg(fed: Federation, *, scheme: str, rule: LevelRule | None, context: Context | None,
               keep_iterates: Sequence[int] = (), rounds: int | None = None,
               inject: Mapping[int, torch.Tensor] | None = None, measure: bool = True) -> RunOutput:
    """Run ``rounds`` (default spec.rounds) rounds of FedAvg; ``rule`` None is the unquantized reference.

    ``inject`` maps a round t to a vector added to w_{t+1} of the unquantized reference (the persistence
    probes, persistence.py). ``measure=False`` runs the same training (same updates, levels, bits and losses)
    but skips what only the report reads: the sharp estimate, the excess loss, ∇f, the test set and the
    per-client rows (the calibration trials, trial_calibration.py, need only the bits)."""
    spec, objective, seed = fed.spec, fed.objective, fed.seed
    T = spec.rounds if rounds is None else rounds
    block_sizes = fed.block_sizes
    state = None if rule is None else rule.init(context)
    w = fed.w0.clone()
    # error feedback: e_{t,i} of every client (not only this round's), float32, zero before the first round
    residual = (torch.zeros(spec.clients, int(block_sizes.sum()), dtype=torch.float32)
                if spec.error_feedback and rule is not None else None)
    agg_error = rule is not None and (spec.error_feedback or spec.quantizer == "deterministic")
    sharp = measure and rule is not None and not spec.error_feedback and get_quantizer(spec.quantizer).unbiased
    out = RunOutput(rows=[], client_rows=[])

    def evaluate(v: torch.Tensor) -> tuple[float, torch.Tensor | None]:  # f(v), and ∇f(v) when measuring
        return objective.loss_and_grad(v) if measure else (objective.loss(v), None)

    def test(v: torch.Tensor) -> tuple[float | None, float | None]:
        return objective.test(v) if measure else (None, None)

    loss_now, grad = evaluate(w)
    acc, test_loss = test(w)  # of w_t; each round's end evaluates the next w once
    for t in range(T):
        if t in keep_iterates:
            out.iterates[t] = w.clone()
        chosen = participants(seed, t, spec.clients, spec.per_round)
        p = fed.sizes[chosen] / fed.sizes[chosen].sum()
        updates = fed.engine.local_updates(w, list(chosen), t)
        if not (np.isfinite(loss_now) and bool(torch.isfinite(updates).all())):
            raise InvalidArgument("lr", f"a step size at which training stays finite (the {scheme} run of seed "
                                  f"{seed} diverged by round {t}: non-finite loss or client updates)")
        # what the clients quantize: Δ, or x = Δ + e with error feedback (then the ranges are of x too)
        ef_cols: dict[str, float] = {}
        if residual is None:
            sent = updates
        else:
            carried = residual[torch.from_numpy(chosen)]  # e_{t,i}, carried into this round
            brought = (torch.from_numpy(p)[:, None] * carried.double()).sum(dim=0)
            ef_cols["residual_norm2"] = float(torch.dot(brought, brought))
            ef_cols["residual_max_norm2"] = float(residual.double().square().sum(dim=1).max())
            sent = updates + carried
        ranges = np.array([[float(u[s].max() - u[s].min()) for s in fed.slices] for u in sent])
        out.block_ranges.append(block_range_rms(p, ranges))
        row: dict[str, Any] = {
            "scheme": scheme, "seed": seed, "round": t, "loss": loss_now, "accuracy": acc, "test_loss": test_loss,
            "grad_norm2": None if grad is None else float(torch.dot(grad, grad)), "participants": len(chosen),
            "range": float(range_rms(p, ranges, block_sizes)), "p2": float(np.sum(p**2)),
        }
        p_t = torch.from_numpy(p.astype(np.float32))
        exact = w + (p_t[:, None] * updates).sum(dim=0)
        if rule is None:
            w_next = exact if inject is None or t not in inject else exact + inject[t]
            row.update(_unquantized_round(fed, len(chosen)))
            uplinks = None
        else:
            levels, state = rule.update(Observation(t, loss_now, ranges, p), state)
            levels = np.broadcast_to(np.asarray(levels, dtype=np.float64), ranges.shape)
            uplinks = _send_all(fed, t, chosen, sent, ranges, levels)
            received = torch.stack([u.received for u in uplinks])
            w_next = w + (p_t[:, None] * received).sum(dim=0)
            row.update(_quantized_round(fed, p, levels, uplinks))
            row.update(ef_cols)
            if agg_error:  # ‖Σ_i p_i (Q(x_i) − x_i)‖², in float64
                err = (torch.from_numpy(p)[:, None] * (received.double() - sent.double())).sum(dim=0)
                row["agg_error_norm2"] = float(torch.dot(err, err))
            if residual is not None:  # e_{t+1,i} = x_{t,i} − Q(x_{t,i}); the others keep theirs
                residual[torch.from_numpy(chosen)] = sent - received
            elif sharp:  # ½ E[eᵀ∇²f(w̄)e], the curvature along this round's noise (curvature.py)
                bar_loss, grad_bar = objective.loss_and_grad(exact)  # f(w̄) and ∇f(w̄), once per round
                row["excess_loss_predicted"] = predicted_excess(objective, exact, bar_loss, sent, p, chosen, fed.slices,
                                                                ranges, levels, get_quantizer(spec.quantizer),
                                                                seed, t)
        if measure:
            out.client_rows.extend(_client_rows(fed, scheme, t, chosen, p, ranges,
                                                None if rule is None else levels, uplinks))
        if spec.downlink_bits is not None:
            if rule is not None and measure:
                row["excess_loss"] = objective.loss(w_next) - objective.loss(exact)
            w_next, dl_bits = _downlink(w, w_next, spec.downlink_bits, seed, t, len(chosen))
            row["downlink_bits"] = dl_bits
            w = w_next
            loss_now, grad = evaluate(w)
        else:
            w = w_next
            loss_now, grad = evaluate(w)
            if rule is not None and measure:  # f(w_{t+1}) − f(w̄_{t+1}): the excess loss quantization caused
                row["excess_loss"] = loss_now - (bar_loss if sharp else objective.loss(exact))
                if sharp:  # this round; minus its zero-mean first-order part ∇f(w̄)ᵀe: same mean, less noise
                    e = (w - exact).double()
                    row["excess_loss_second_order"] = row["excess_loss"] - float(torch.dot(grad_bar.double(), e))
        row["loss_after"] = loss_now
        acc, test_loss = test(w)
        row["accuracy_after"] = acc
        out.rows.append(row)
    if not np.isfinite(loss_now):
        raise InvalidArgument("lr", f"a step size at which training stays finite (the {scheme} run of seed {seed} "
                              f"diverged in its last round: non-finite loss)")
    out.final_w = w
    out.residual = residual
    if rule is not None and isinstance(state, dict):
        out.guard_clipped = int(state.get("clipped", 0))
    return out


def _send_all(fed: Federation, t: int, chosen: np.ndarray, updates: torch.Tensor, ranges: np.ndarray,
              levels: np.ndarray) -> list[Uplink]:
    """Every participant's uplink of ``updates`` (Δ, or Δ + e with error feedback), each with the dither
    generator of (seed, round, client)."""
    quantizer = get_quantizer(fed.spec.quantizer)
    bits_of = bits_function(cost_model(fed.spec.quantizer))

    def zero_bits(d_k: int) -> int:  # the planner's cost of a constant block (levels 0): plan, guard, run agree
        return int(float(bits_of(d_k, 0)))

    return [send(updates[j], fed.slices, ranges[j], levels[j], quantizer,
                 torch_generator(fed.seed, t, int(c), "quantize"), zero_bits, fed.spec.entropy)
            for j, c in enumerate(chosen)]


def _unquantized_round(fed: Federation, participants_: int) -> dict[str, Any]:
    """The reference ``none`` sends float32: 32·d bits per participant."""
    d = int(fed.block_sizes.sum())
    cols: dict[str, Any] = {"levels": 0, "bit_width": float(FLOAT_BITS), "bits": float(FLOAT_BITS * d * participants_),
                            "bytes": 4 * d * participants_, "quant_error": 0.0, "quant_error_bound": 0.0,
                            "excess_loss": 0.0}
    if fed.spec.entropy:
        cols["bytes_entropy"] = cols["bytes"]
    return cols


def _quantized_round(fed: Federation, p: np.ndarray, levels: np.ndarray, uplinks: list[Uplink]) -> dict[str, Any]:
    """The round's totals: bits and bytes, the code width, and V_t = Σ_i p_i² ‖Q(x_i) − x_i‖² with its bound
    (x_i = Δ_i, or Δ_i + e_i with error feedback)."""
    block_sizes = fed.block_sizes
    d = int(block_sizes.sum())
    v_meas = v_bound = 0.0
    for j, u in enumerate(uplinks):
        v_meas += float(p[j] ** 2) * u.quant_error
        v_bound += float(p[j] ** 2) * u.quant_error_bound
    width = np.where(levels > 0, width_for_levels(levels), 0.0)
    cols: dict[str, Any] = {
        "levels": _level_summary(levels, block_sizes),
        "bit_width": float(np.sum(width * block_sizes[None, :]) / (d * len(uplinks))),
        "bits": float(sum(u.bits for u in uplinks)), "bytes": int(sum(u.nbytes for u in uplinks)),
        "quant_error": v_meas, "quant_error_bound": v_bound,
    }
    if fed.spec.entropy:
        cols["bytes_entropy"] = int(sum(u.nbytes_entropy for u in uplinks))
    return cols


def _client_rows(fed: Federation, scheme: str, t: int, chosen: np.ndarray, p: np.ndarray, ranges: np.ndarray,
                 levels: np.ndarray | None, uplinks: list[Uplink] | None) -> list[dict[str, Any]]:
    """One row per participant: its weight and range, and what it sent (float32 for the reference)."""
    block_sizes = fed.block_sizes
    d = int(block_sizes.sum())
    rows = []
    for j, c in enumerate(chosen):
        row: dict[str, Any] = {"scheme": scheme, "seed": fed.seed, "round": t, "client": int(c), "weight": float(p[j]),
                               "range": float(range_rms(np.ones(1), ranges[j][None], block_sizes))}
        if uplinks is None or levels is None:
            row.update(levels=0, bits=FLOAT_BITS * d, bytes=4 * d, quant_error=0.0, quant_error_bound=0.0,
                       hoeffding_scale=0.0)
        else:
            u = uplinks[j]
            row.update(levels=_level_summary(levels[j], block_sizes), bits=u.bits, bytes=u.nbytes,
                       quant_error=u.quant_error, quant_error_bound=u.quant_error_bound,
                       hoeffding_scale=u.hoeffding_scale)
        rows.append(row)
    return rows


def _level_summary(levels: np.ndarray, block_sizes: np.ndarray) -> float:
    """The levels if they are the same everywhere, else their coordinate-weighted mean."""
    lv = np.asarray(levels, dtype=np.float64)
    flat = lv.ravel()
    if np.all(flat == flat[0]):
        return float(flat[0])
    weights = np.broadcast_to(block_sizes, lv.shape).astype(np.float64)
    return float(np.sum(lv * weights) / np.sum(weights))


def _downlink(w: torch.Tensor, w_next: torch.Tensor, bits: int, seed: int, t: int, receivers: int) -> tuple[
        torch.Tensor, float]:
    """The server broadcasts the aggregate update quantized at ``bits`` (stochastic, whole model)."""
    delta = w_next - w
    levels = int(levels_for_width(bits))
    q = get_quantizer("stochastic")(delta, levels, torch_generator(seed, t, -1, "downlink"))
    return w + q.dequantize(), float(receivers * numeric.bits_fixed(delta.numel(), levels))
