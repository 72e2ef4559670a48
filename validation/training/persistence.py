"""How much of a round's quantization noise still costs at the end of training, measured in the pilot.

The final training loss forgets early noise: an error e added to the model at round t is contracted (or not)
by the rounds that follow. Two things are measured in the pilot, the unquantized run of the same seed, with
draws e of a round's aggregate quantization error Σ_i p_i (Q(Δ_i) − Δ_i) (the run's quantizer at the budget's
width, fresh dither on stream "persistence"):

* the immediate cost per unit of the objective's V = Σ_i p_i² Σ_k d_k R²/(4s²) at every pilot round t,
  a(t) = mean_e ½[f(w̄_t + e) + f(w̄_t − e)] − f(w̄_t), over V (the sharp estimate of curvature.py), fitted
  with the forecast families and extrapolated to the run;
* the persistence c(k): PROBES antithetic pairs ±e_j of round INJECT_ROUND's error are added to w_1 and the
  pilot re-run with the same batches and clients;
  excess(k) = mean_j ½[F_{k+1}(+e_j) + F_{k+1}(−e_j)] − F_{k+1} (the first-order part cancels in each pair),
  c(k) = excess(k)/excess(0), fitted (held-out family choice) and extrapolated to every lag of the run.

The round weights of the ``final`` criterion are then, in loss units per unit of V,

    α_t = a(t) · c(T − 1 − t),

so J(s) = Σ_t α_t V_t(s) predicts how much a schedule raises the final training loss over the unquantized run,
to first order in the noise with rounds adding up. The odd part of each pair, ½[F(+e) − F(−e)], is the
noise's first-order effect on the loss: its mean square per unit V at lag T − 1 − t, β_t, predicts the
seed-to-seed spread a schedule's noise adds to the final loss, sd(s) = (Σ_t β_t V_t(s))^½ — what decides
whether two schedules can be told apart at all; the persistence of a round's noise is taken to be that of
round INJECT_ROUND's (measured once). The probes cost 2·PROBES pilot runs and one extra local round per pilot
round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.special import stdtrit  # the Student-t quantile, without importing scipy.stats

from fedquant.optimizer import fit
from fedquant.optimizer.forecast import Fit
from fedquant.theory import numeric
from fedquant.theory.wire import levels_for_width
from fedquant.validation.compression.quantizers import get_quantizer
from fedquant.validation.rng import torch_generator
from fedquant.validation.training import fedavg
from fedquant.validation.training.curvature import error_draw

#: antithetic pairs of injected noise (each pair costs two pilot runs)
PROBES = 3
#: the smallest round weight relative to the largest (far below what PROBES pairs resolve)
FLOOR = 1e-6
#: the round the noise is injected at (the first: every later pilot round measures one more lag)
INJECT_ROUND = 0


@dataclass(frozen=True)
class Persistence:
    """The measured cost of injected noise per lag and per round, their fits and the round weights they give."""

    excess: np.ndarray  # (K,) excess(k) of the injected pairs, mean over the probes
    excess_se: np.ndarray  # (K,) its standard error over the probes
    spread: np.ndarray  # (K,) mean_j (½[F(+e_j) − F(−e_j)])²: the variance the noise's first-order part adds
    noise_v: float  # V(e) of the injected draws
    immediate: np.ndarray  # (K,) a(t): immediate cost per unit V at pilot round t
    width: int  # code width the noise was drawn at
    fitted: Fit | None  # c(k) (None when excess(0) was not resolved above 0)
    cost_fit: Fit | None  # a(t)
    reason: str  # why the weights are what they are

    @property
    def resolved(self) -> bool:
        return self.fitted is not None and self.cost_fit is not None

    def persistence(self, lags: np.ndarray) -> np.ndarray:
        """c(k), 1 at k = 0 (the fit scaled so), for lags k ≥ 0."""
        assert self.fitted is not None
        c = self.fitted.predict(lags)
        c0 = float(self.fitted.predict(0.0))
        return c / c0 if c0 > 0 else c

    def round_weights(self, rounds: int) -> np.ndarray:
        """α_t = a(t)·c(T − 1 − t) for t = 0..T−1, at least FLOOR·max α (no round's noise is free: the probes
        resolve nothing that small, and a zero weight would leave a rule's α_t/α_0 undefined)."""
        assert self.cost_fit is not None
        t = np.arange(rounds, dtype=np.float64)
        alpha = self.cost_fit.predict(t) * self.persistence(rounds - 1.0 - t)
        return np.maximum(alpha, FLOOR * float(alpha.max()))

    def variance_weights(self, rounds: int) -> np.ndarray:
        """β_t: the variance round t's noise adds to the final loss per unit of V, from the first-order part
        of the injected pairs at lag T − 1 − t (measured lags; the last one held beyond the pilot)."""
        lags = np.minimum(rounds - 1 - np.arange(rounds), self.spread.size - 1)
        return self.spread[lags] / self.noise_v

    def to_json(self, rounds: int) -> dict[str, Any]:
        out: dict[str, Any] = {"inject_round": INJECT_ROUND, "probes": PROBES, "width": self.width,
                               "excess": self.excess.tolist(), "excess_se": self.excess_se.tolist(),
                               "spread": self.spread.tolist(), "noise_v": self.noise_v,
                               "immediate_per_v": self.immediate.tolist(), "reason": self.reason}
        if self.fitted is not None and self.cost_fit is not None:
            out["fit"] = self.fitted.describe()
            out["spec"] = self.fitted.spec()  # fedquant schedule --persistence takes it as it is
            out["immediate_fit"] = self.cost_fit.describe()
            out["persistence_at_end"] = float(self.persistence(np.array([rounds - 1.0]))[0])
        return out


def round_noise(fed: fedavg.Federation, w: torch.Tensor, t: int, levels: float,
                probes: int) -> tuple[torch.Tensor, list[torch.Tensor], float]:
    """w̄_t = w_t + Σ_i p_i Δ_i, ``probes`` independent draws of round t's aggregate error Σ_i p_i (Q(Δ_i) − Δ_i),
    and their V = Σ_i p_i² Σ_k d_k R_{i,k}²/(4s²)."""
    chosen = fedavg.participants(fed.seed, t, fed.spec.clients, fed.spec.per_round)
    p = fed.sizes[chosen] / fed.sizes[chosen].sum()
    updates = fed.engine.local_updates(w, list(chosen), t)
    quantizer = get_quantizer(fed.spec.quantizer)
    ranges = np.array([[float(u[s].max() - u[s].min()) for s in fed.slices] for u in updates])
    v = float(sum(float(p[j]) ** 2 * np.sum(numeric.quantization_error_bound(fed.block_sizes, ranges[j], levels))
                  for j in range(len(chosen))))
    w_bar = w + (torch.from_numpy(p.astype(np.float32))[:, None] * updates).sum(dim=0).to(w.dtype)
    # one generator per client: each quantizer call draws one seed from it, so the draws are independent
    generators = [torch_generator(fed.seed, t, int(client), "persistence") for client in chosen]
    draws = []
    for _ in range(probes):
        e = torch.zeros_like(w)
        for j, gen in enumerate(generators):
            e += float(p[j]) * error_draw(updates[j], fed.slices, ranges[j], np.full(ranges.shape[1], levels),
                                          quantizer, gen).to(w.dtype)
        draws.append(e)
    return w_bar, draws, v


def immediate_cost(fed: fedavg.Federation, w: torch.Tensor, t: int, levels: float) -> float:
    """a(t): mean over PROBES draws of ½[f(w̄ + e) + f(w̄ − e)] − f(w̄), over V."""
    w_bar, draws, v = round_noise(fed, w, t, levels, PROBES)
    f_bar = fed.objective.loss(w_bar)
    cost = float(np.mean([0.5 * (fed.objective.loss(w_bar + e) + fed.objective.loss(w_bar - e)) - f_bar
                          for e in draws]))
    return cost / v if v > 0 else 0.0


def measure(fed: fedavg.Federation, pilot: fedavg.RunOutput, width: int) -> Persistence:
    """Both measurements on a pilot that kept every iterate (``keep_iterates=range(K)``)."""
    K = len(pilot.rows)
    losses = np.array([r["loss_after"] for r in pilot.rows])
    levels = float(levels_for_width(width))
    immediate = np.array([immediate_cost(fed, pilot.iterates[t], t, levels) for t in range(K)])
    _, noise, noise_v = round_noise(fed, fed.w0, INJECT_ROUND, levels, PROBES)
    draws, odd = [], []
    for e in noise:
        plus = fedavg.run_fedavg(fed, scheme="none", rule=None, context=None, rounds=K, inject={INJECT_ROUND: e})
        minus = fedavg.run_fedavg(fed, scheme="none", rule=None, context=None, rounds=K, inject={INJECT_ROUND: -e})
        f_plus = np.array([r["loss_after"] for r in plus.rows])
        f_minus = np.array([r["loss_after"] for r in minus.rows])
        draws.append(0.5 * (f_plus + f_minus) - losses)
        odd.append(0.5 * (f_plus - f_minus))
    arr = np.array(draws)[:, INJECT_ROUND:]
    spread = np.mean(np.square(odd), axis=0)[INJECT_ROUND:]
    excess = arr.mean(axis=0)
    se = arr.std(axis=0, ddof=1) / np.sqrt(PROBES)
    # resolved: above 0 by the one-sided 97.5 % Student t test on the PROBES draws (t = 4.30 for 3 draws)
    t_crit = float(stdtrit(PROBES - 1, 0.975))
    if not (np.isfinite(excess[0]) and excess[0] > t_crit * se[0]) or not np.all(immediate > 0):
        return Persistence(excess, se, spread, noise_v, immediate, width, None, None,
                           f"the injected noise's immediate cost {excess[0]:.3g} ± {se[0]:.2g} (and per round "
                           f"{immediate.min():.3g}..{immediate.max():.3g} per unit V) is not resolved above 0: "
                           "quantization noise does not measurably raise the loss here")
    c = np.maximum(excess / excess[0], 0.0)
    fitted = fit(c, families=("exp", "power", "exp_floor", "const"), name="persistence of injected noise")
    cost_fit = fit(immediate, families=("power", "exp_floor", "const"), name="immediate cost of noise")
    return Persistence(excess, se, spread, noise_v, immediate, width, fitted, cost_fit,
                       f"noise injected in the pilot ({PROBES} antithetic pairs at {width} bits): persistence "
                       f"{fitted.spec()}, immediate cost per unit V {cost_fit.spec()}")
