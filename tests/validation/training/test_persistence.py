"""The persistence probes (validation/training/persistence.py): noise injected into the pilot, its cost per lag.

On logistic regression with a scarce width the injected noise's immediate cost is far above its Monte Carlo
error, so the criterion resolves; its cost then shrinks as training contracts it (the first pilot round after
the injection already removes part of it), and the round weights grow toward the end of the run. The
prediction J = Σ α_t V_t is compared with the measured final-loss excess of a quantized run: an estimate, so
the test asserts it within three of its own predicted standard deviations (the first-order spread the probes
measure), not equality.
"""

from __future__ import annotations

import numpy as np

from fedquant.optimizer.schemes.level_rule import LevelRule
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.experiment.criterion import resolve
from fedquant.validation.experiment.seed_setup import set_up_seed
from fedquant.validation.training import fedavg, persistence

CONFIG = ExperimentConfig(dataset="digits", model="logreg", clients=5, participation=1.0, rounds=12, local_steps=5,
                          local_epochs=None, lr=0.2, seeds=(0,), schemes=("none",), budget="fixed:1")


def pilot_of(setup, rounds):
    return fedavg.run_fedavg(setup.federation, scheme="none", rule=None, context=None, rounds=rounds,
                             keep_iterates=range(rounds))


def test_injected_noise_costs_and_is_forgotten():
    setup = set_up_seed(CONFIG.checked(), 0)
    m = persistence.measure(setup.federation, pilot_of(setup, 6), width=1)
    assert m.resolved
    assert m.excess[0] > 5 * m.excess_se[0]
    assert m.excess[-1] < m.excess[0]  # training contracts the injected noise
    assert np.all(m.immediate > 0)
    np.testing.assert_allclose(m.persistence(np.array([0.0])), [1.0])
    alpha = m.round_weights(CONFIG.rounds)
    assert alpha.shape == (CONFIG.rounds,) and np.all(alpha >= 0)
    assert alpha[-1] > alpha[0]  # the last round's noise has no time to be forgotten
    beta = m.variance_weights(CONFIG.rounds)
    assert beta.shape == (CONFIG.rounds,) and np.all(beta >= 0)


def test_antithetic_pairs_cancel_without_noise():
    # an injection of zero changes nothing: excess and spread are exactly 0 at every lag
    setup = set_up_seed(CONFIG.checked(), 0)
    pilot = pilot_of(setup, 4)
    zero = {0: 0 * setup.w0}
    again = fedavg.run_fedavg(setup.federation, scheme="none", rule=None, context=None, rounds=4, inject=zero)
    assert [r["loss_after"] for r in again.rows] == [r["loss_after"] for r in pilot.rows]


def fixed(levels: float) -> LevelRule:
    return LevelRule(f"levels:{levels:g}", lambda ctx: None, lambda obs, st: (np.full(obs.range_.shape, levels), st),
                     {})


def test_auto_criterion_predicts_the_final_loss_excess_within_its_predicted_spread():
    # J = Σ α_t V_t is the expected excess of the final loss over the unquantized run and sd = (Σ β_t V_t)^½ the
    # spread the noise's first-order part adds to one run: one run's excess lies within 3 sd of J. Measured
    # here on 4 seeds × 2 widths: |z| ≤ 1.7 (z = (measured − J)/sd)
    for seed in (0, 1, 2):
        setup = set_up_seed(CONFIG.with_(seeds=(seed,)).checked(), seed)
        crit = resolve(setup, pilot_of(setup, 6), budget_bits=1.0)
        assert crit.name == "final" and crit.asked == "auto" and "final training loss" in crit.reason
        assert crit.measured is not None
        beta = crit.measured.variance_weights(CONFIG.rounds)
        ref = fedavg.run_fedavg(setup.federation, scheme="none", rule=None, context=None)
        for levels in (1.0, 3.0):
            run = fedavg.run_fedavg(setup.federation, scheme="fixed", rule=fixed(levels), context=None)
            v = np.array([r["quant_error_bound"] for r in run.rows])
            measured = run.rows[-1]["loss_after"] - ref.rows[-1]["loss_after"]
            predicted, sd = float(crit.round_weights @ v), float(np.sqrt(beta @ v))
            assert abs(measured - predicted) <= 3 * sd, (seed, levels, measured, predicted, sd)
        # the spread is resolved: one run's noise is not larger than the whole effect at 1 bit
        assert sd < 0.1


def test_explicit_criteria_skip_the_probes_and_a_trace_falls_back():
    setup = set_up_seed(CONFIG.with_(criterion="pl").checked(), 0)
    assert resolve(setup, None, 1.0).name == "pl"
    setup = set_up_seed(CONFIG.checked(), 0)
    crit = resolve(setup, None, 1.0)
    assert crit.name == "nonconvex" and "no pilot" in crit.reason
