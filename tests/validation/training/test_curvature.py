"""The sharp per-round cost (validation/training/curvature.py) against the measured excess loss.

The estimate is a prediction from fresh error draws, independent of the realised error; the measured side is
f(w_{t+1}) − f(w̄_{t+1}) minus its zero-mean first-order part ∇f(w̄)ᵀe. Both estimate E f(w̄ + e) − f(w̄), so their
means over rounds must agree to within Monte Carlo error; on a smooth model (logistic regression) the remaining
difference is the odd third-order term. The tolerance [0.67, 1.5] is the issue's goal; the test requires the
measured mean to be resolved (≥ 5 standard errors from 0), so the ratio is not noise.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fedquant.optimizer.schemes.level_rule import LevelRule
from fedquant.validation.compression.quantizers import get_quantizer
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.experiment.seed_setup import set_up_seed
from fedquant.validation.training import curvature, fedavg


def fixed(levels: float) -> LevelRule:
    return LevelRule(f"levels:{levels:g}", lambda ctx: None, lambda obs, st: (np.full(obs.range_.shape, levels), st),
                     {})


def run(**changes):
    base = ExperimentConfig(dataset="digits", model="logreg", clients=5, participation=1.0, rounds=20, local_steps=5,
                            local_epochs=None, lr=0.2, seeds=(0,), schemes=("none",))
    setup = set_up_seed(base.with_(**changes).checked(), 0)
    return fedavg.run_fedavg(setup.federation, scheme="levels", rule=fixed(3.0), context=None)


def test_sharp_estimate_matches_the_measured_excess_on_average():
    out = run()
    meas = np.array([r["excess_loss_second_order"] for r in out.rows])
    pred = np.array([r["excess_loss_predicted"] for r in out.rows])
    se = meas.std(ddof=1) / math.sqrt(meas.size)
    assert meas.mean() > 5 * se
    assert 0.67 <= pred.mean() / meas.mean() <= 1.5
    assert all(p > 0 for p in pred)  # the symmetric difference of a convex loss is positive


def test_the_first_order_part_removed_has_mean_zero_and_is_most_of_the_noise():
    """excess = second order + ∇f(w̄)ᵀe: the difference has mean ≈ 0 (within 5 s.e.) and its variance is most of
    the raw excess's (why the raw ratio of means is unusable at 4 bits)."""
    out = run(rounds=30)
    raw = np.array([r["excess_loss"] for r in out.rows])
    second = np.array([r["excess_loss_second_order"] for r in out.rows])
    first = raw - second
    assert abs(first.mean()) <= 5 * first.std(ddof=1) / math.sqrt(first.size)
    assert first.var() > second.var()


@pytest.mark.parametrize("changes", [{"quantizer": "deterministic"}, {"error_feedback": True}])
def test_no_sharp_estimate_where_the_expansion_does_not_apply(changes):
    """Deterministic rounding is biased (its first-order term does not vanish) and error feedback's excess carries
    the residual: neither row gets the estimate."""
    out = run(rounds=2, **changes)
    assert not {"excess_loss_predicted", "excess_loss_second_order"} & set(out.rows[0])


def test_error_draws_are_unbiased_and_independent_of_the_sent_dither():
    """Fresh draws of Q(x) − x: mean ≈ 0 per coordinate (within 5 s.e. over 400 draws), and the probe stream gives
    draws different from the 'quantize' stream's."""
    from fedquant.validation.rng import torch_generator

    x = torch.linspace(-1.0, 1.0, 257)
    q = get_quantizer("stochastic")
    gen = torch_generator(0, 0, 0, "probe")
    draws = torch.stack([curvature.error_draw(x, [slice(0, 257)], np.array([2.0]), np.array([3.0]), q, gen)
                         for _ in range(400)]).double()
    se = draws.std(dim=0) / math.sqrt(400)
    assert bool((draws.mean(dim=0).abs() <= 5 * se + 1e-9).all())
    sent = q(x, 3, torch_generator(0, 0, 0, "quantize")).dequantize() - x
    first = curvature.error_draw(x, [slice(0, 257)], np.array([2.0]), np.array([3.0]), q,
                                 torch_generator(0, 0, 0, "probe"))
    assert not torch.equal(sent, first)
