"""One FedAvg run: the bits and bytes it charges, the model it aggregates, its keyed randomness, its budget.

Bit and byte counts are integers fixed by formulas (theory's bits_fixed, the codec's header), so they are
compared exactly. Float comparisons say why their tolerance is what it is.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from fedquant.errors import InvalidArgument
from fedquant.optimizer.schemes.fixed import fixed as fixed_rule
from fedquant.optimizer.schemes.level_rule import budget_guard
from fedquant.theory import numeric
from fedquant.validation.compression import fixed_codec
from fedquant.validation.compression.quantizers import get_quantizer
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.experiment.plan import fixed_budget, make_plan
from fedquant.validation.experiment.seed_setup import SeedSetup, set_up_seed
from fedquant.validation.rng import torch_generator
from fedquant.validation.training import fedavg

EPS32 = float(np.finfo(np.float32).eps) / 2  # float32 unit roundoff
SEED = 0
CALIBRATED = ("fixed", "feddq", "feddq-loss", "adaquantfl", "dadaquant", "optimal", "optimal-online")


def config(**changes: object) -> ExperimentConfig:
    base = ExperimentConfig(dataset="digits", model="logreg", clients=6, participation=0.5, rounds=5,
                            partition="dirichlet:0.5", seeds=(SEED,), schemes=("none", "fixed:4", *CALIBRATED))
    return base.with_(**changes).checked()


def pilot_of(setup: SeedSetup) -> fedavg.RunOutput:
    return run(setup, None, None, rounds=setup.config.pilot)


def run(setup: SeedSetup, rule, context, **kw) -> fedavg.RunOutput:
    spec = kw.pop("spec", setup.spec)
    fed = dataclasses.replace(setup.federation, spec=spec)
    return fedavg.run_fedavg(fed, scheme="x" if rule is None else rule.name, rule=rule, context=context, **kw)


@pytest.fixture(scope="module")
def setup() -> SeedSetup:
    return set_up_seed(config(), SEED)


@pytest.fixture(scope="module")
def plan(setup: SeedSetup):
    return make_plan(setup, pilot_of(setup))


@pytest.fixture(scope="module")
def fixed4(setup: SeedSetup, plan) -> fedavg.RunOutput:
    """fixed:4 with every iterate kept (for the independent reconstruction of the aggregate)."""
    return run(setup, fixed_rule(4), plan.context, keep_iterates=range(setup.config.rounds))


def by_round(rows: list[dict], t: int) -> list[dict]:
    return [r for r in rows if r["round"] == t]


# ------------------------------------------------------------------------------------------ accounting


def test_fixed4_bits_and_bytes_per_client_are_exact(setup: SeedSetup, fixed4: fedavg.RunOutput) -> None:
    d = setup.d
    bits = numeric.bits_fixed(d, 15)
    assert bits == d * 4 + 64  # one block: 4-bit codes plus the two float32 endpoints
    assert len(fixed4.client_rows) == setup.config.rounds * setup.spec.per_round
    for r in fixed4.client_rows:
        assert r["levels"] == 15
        assert r["bits"] == bits
        assert r["bytes"] == math.ceil(bits / 8) + fixed_codec.HEADER_BYTES


def test_round_bits_and_bytes_are_the_sums_of_client_rows(fixed4: fedavg.RunOutput) -> None:
    for row in fixed4.rows:
        clients = by_round(fixed4.client_rows, row["round"])
        assert len(clients) == row["participants"]
        assert row["bits"] == sum(c["bits"] for c in clients)
        assert row["bytes"] == sum(c["bytes"] for c in clients)
        assert row["levels"] == 15
        assert row["bit_width"] == 4.0


def test_per_tensor_blocks_add_one_header_and_side_information_per_tensor(plan) -> None:
    s_model = set_up_seed(config(model="mlp", rounds=2), SEED)
    s_tensor = set_up_seed(config(model="mlp", rounds=2, blocks="tensor"), SEED)
    sizes = [p.numel() for p in s_tensor.model.parameters()]
    assert len(s_tensor.slices) == len(sizes) == 6 and len(s_model.slices) == 1
    ctx_model = make_plan(s_model, pilot_of(s_model)).context
    ctx_tensor = make_plan(s_tensor, pilot_of(s_tensor)).context
    a = run(s_model, fixed_rule(4), ctx_model)
    b = run(s_tensor, fixed_rule(4), ctx_tensor)
    K, d = len(sizes), sum(sizes)
    for ra, rb in zip(a.client_rows, b.client_rows, strict=True):
        assert (ra["round"], ra["client"]) == (rb["round"], rb["client"])
        assert ra["bits"] == numeric.bits_fixed(d, 15)
        assert rb["bits"] - ra["bits"] == 64 * (K - 1)
        assert rb["bits"] == sum(numeric.bits_fixed(n, 15) for n in sizes)
        assert rb["bytes"] == sum(math.ceil(numeric.bits_fixed(n, 15) / 8) + fixed_codec.HEADER_BYTES
                                  for n in sizes)
        assert rb["bytes"] - ra["bytes"] >= fixed_codec.HEADER_BYTES * (K - 1)


def test_none_sends_float32(setup: SeedSetup) -> None:
    out = run(setup, None, None, rounds=2)
    for r in out.client_rows:
        assert r["bits"] == 32 * setup.d and r["bytes"] == 4 * setup.d
        assert r["levels"] == 0 and r["quant_error"] == 0.0
    for row in out.rows:
        assert row["bits"] == 32 * setup.d * row["participants"]
        assert row["bytes"] == 4 * setup.d * row["participants"]
        assert row["bit_width"] == 32.0


# ------------------------------------------------------------------------------------------ aggregation


def test_aggregate_is_w_plus_weighted_decoded_messages(setup: SeedSetup, fixed4: fedavg.RunOutput) -> None:
    """Rebuild w_{t+1} = w_t + Σ p_i decode(encode(Q(Δ_i))) outside run_fedavg, from the keyed generators.

    The reconstruction sums in float64; the run sums m + 1 float32 terms, each rounding at most one ulp of
    the running value, so they agree to (m + 2)·eps·max|w|. A wrong weight, a missing client or a different
    dither moves some coordinate by a whole quantization step (~R/15 ≈ 1e-3 here), far beyond that.
    """
    T = setup.config.rounds
    quantizer = get_quantizer("stochastic")
    for t in range(T):
        w_t = fixed4.iterates[t]
        w_next = fixed4.iterates[t + 1] if t + 1 < T else fixed4.final_w
        crow = by_round(fixed4.client_rows, t)
        chosen = [r["client"] for r in crow]
        n = setup.sizes[chosen]
        p = n / n.sum()
        assert [r["weight"] for r in crow] == pytest.approx(p, rel=1e-12)
        updates = setup.engine.local_updates(w_t, chosen, t)
        agg = w_t.double().clone()
        exact = w_t.double().clone()
        for j, c in enumerate(chosen):
            q = quantizer(updates[j], 15, torch_generator(SEED, t, c, "quantize"))
            message = fixed_codec.encode(q)
            assert len(message) == crow[j]["bytes"]
            agg += p[j] * fixed_codec.decode(message).dequantize().double()
            exact += p[j] * updates[j].double()
        scale = float(w_next.abs().max())
        assert float((agg - w_next.double()).abs().max()) <= (len(chosen) + 2) * EPS32 * scale
        # quantization really changed the step, and loss_after is f(w_{t+1})
        assert float((exact - w_next.double()).abs().max()) > 1e3 * EPS32 * scale
        row = fixed4.rows[t]
        assert row["loss_after"] == setup.objective.loss(w_next)
        assert row["excess_loss"] == pytest.approx(row["loss_after"] - setup.objective.loss(exact.float()),
                                                   abs=1e-6)  # float32 losses of ~2 agree to a few ulp
        if t + 1 < T:
            assert fixed4.rows[t + 1]["loss"] == row["loss_after"]
    assert not torch.equal(fixed4.final_w, setup.w0)


def test_quant_error_rows(setup: SeedSetup, fixed4: fedavg.RunOutput) -> None:
    for row in fixed4.rows:
        crow = by_round(fixed4.client_rows, row["round"])
        assert row["quant_error"] == pytest.approx(sum(c["weight"] ** 2 * c["quant_error"] for c in crow), rel=1e-12)
        assert row["quant_error_bound"] == pytest.approx(
            sum(c["weight"] ** 2 * c["quant_error_bound"] for c in crow), rel=1e-12)
        assert row["p2"] == pytest.approx(sum(c["weight"] ** 2 for c in crow), rel=1e-12)
        for c in crow:
            # d R²/(4s²) of the client's one block, R its range
            assert c["quant_error_bound"] == pytest.approx(setup.d * c["range"] ** 2 / (4 * 15**2), rel=1e-6)
            assert c["quant_error"] > 0


def test_deterministic_quantizer_error_within_bound_every_row(setup: SeedSetup, plan) -> None:
    """Nearest rounding errs by at most δ/2 per coordinate, so ‖Q(Δ) − Δ‖² ≤ d δ²/4 = d R²/(4s²) on every
    draw, not only in expectation; float32 dequantization may add a few ulp, hence a 1e-6 relative slack."""
    spec = dataclasses.replace(setup.spec, quantizer="deterministic")
    for bits in (1, 3):
        out = run(setup, fixed_rule(bits), plan.context, spec=spec)
        assert out.client_rows
        for r in out.client_rows:
            assert r["quant_error"] <= r["quant_error_bound"] * (1 + 1e-6), r
        for r in out.rows:
            assert r["quant_error"] <= r["quant_error_bound"] * (1 + 1e-6), r


# ------------------------------------------------------------------------------------------ participants, seeds


def test_participants_per_round_and_sampling(setup: SeedSetup, fixed4: fedavg.RunOutput) -> None:
    m = round(setup.config.participation * setup.config.clients)
    assert setup.spec.per_round == m == 3
    sets = []
    for row in fixed4.rows:
        chosen = [r["client"] for r in by_round(fixed4.client_rows, row["round"])]
        assert row["participants"] == m == len(set(chosen))
        assert chosen == sorted(chosen)
        sets.append(tuple(chosen))
    assert len(set(sets)) > 1, "the same participants every round"
    # the draw is keyed by (seed, round) only: the same call gives the same clients
    for t, chosen in enumerate(sets):
        assert tuple(fedavg.participants(SEED, t, setup.config.clients, m)) == chosen
    assert fedavg.participants(SEED, 0, 6, 6).tolist() == list(range(6))


def test_same_seed_same_rows(setup: SeedSetup, plan, fixed4: fedavg.RunOutput) -> None:
    again = run(setup, fixed_rule(4), plan.context)
    assert again.rows == fixed4.rows
    assert again.client_rows == fixed4.client_rows
    assert torch.equal(again.final_w, fixed4.final_w)
    # and the dither is keyed: a different seed's generators give different quantization errors
    other = fedavg.run_fedavg(dataclasses.replace(setup.federation, seed=SEED + 7), scheme="x", rule=fixed_rule(4),
                              context=plan.context)
    assert [r["quant_error"] for r in other.client_rows] != [r["quant_error"] for r in fixed4.client_rows]


# ------------------------------------------------------------------------------------------ budget


@pytest.mark.parametrize("fraction", [1.0, 0.45])
def test_calibrated_schemes_never_exceed_the_budget(fraction: float) -> None:
    """Every calibrated scheme runs under the plan's budget guard: Σ bits ≤ budget, exactly (integers)."""
    cfg = config()
    s = set_up_seed(cfg, SEED)
    budget = fixed_budget(s, 4.0) * fraction
    if fraction != 1.0:
        cfg = cfg.with_(budget=repr(budget))
        s = set_up_seed(cfg, SEED)
    p = make_plan(s, pilot_of(s))
    assert p.budget_bits == budget
    assert budget == cfg.rounds * s.spec.per_round * numeric.bits_fixed(s.d, 15) * fraction
    spent = {}
    for scheme in CALIBRATED:
        out = run(s, p.rules[scheme], p.context)
        spent[scheme] = sum(r["bits"] for r in out.rows)
        assert spent[scheme] <= budget, (scheme, spent[scheme], budget)
        assert spent[scheme] == sum(r["bits"] for r in out.client_rows)
    # the budget binds: the calibrated schemes spend most of it (none is trivially far below)
    assert max(spent.values()) > 0.8 * budget
    if fraction == 1.0:  # what fixed:4 spends is the auto budget itself
        assert sum(r["bits"] for r in run(s, p.rules["fixed:4"], p.context).rows) == budget


@pytest.mark.parametrize("blocks", ["model", "tensor"])
def test_budget_guard_accounting_matches_the_run(blocks: str) -> None:
    """A greedy rule (fixed:8) under the guard at what fixed:4 spends: the guard's cost model must be the
    run's, or the guard would let the run overspend. The guard has to cap rounds here (clipped > 0)."""
    s = set_up_seed(config(model="mlp", blocks=blocks, rounds=4), SEED)
    p = make_plan(s, pilot_of(s))
    budget = fixed_budget(s, 4.0)
    out = run(s, budget_guard(fixed_rule(8), budget), p.context)
    spent = sum(r["bits"] for r in out.rows)
    assert out.guard_clipped > 0
    assert spent <= budget
    assert spent > 0.9 * budget  # capped to what is left, not to the floor


def test_diverging_run_names_the_step_size() -> None:
    """A step size so large that training blows up (lr 500 on the MLP: ranges ~1e32 after one round, NaN soon
    after under 4-bit noise) must stop with an error naming lr, not a quantizer error about its input x or
    NaN values that summary.json cannot hold."""
    s = set_up_seed(config(model="mlp", lr=500.0, participation=1.0, clients=4, rounds=6), SEED)
    p = make_plan(s, pilot_of(s))
    with pytest.raises(InvalidArgument) as err:
        run(s, fixed_rule(4), p.context)
    assert err.value.argument == "lr"
    assert "diverged" in err.value.allowed
