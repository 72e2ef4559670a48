"""Error feedback (EF-SGD): each client quantizes x = Δ + e, sends Q(x) and keeps e' = x − Q(x).

The run is observed from outside at its two boundaries: a recording engine gives the true updates Δ_{t,i},
and a spy on ``send`` (the uplink) gives the vector each client quantized, x_{t,i}, and what the server
received, Q(x_{t,i}). The residual a client carries into round t is then x_{t,i} − Δ_{t,i}; its final
residual is ``RunOutput.residual``. A level rule of fixed levels records the ranges it is shown.

Float tolerances: x = fl(Δ + e) and e' = fl(x − Q(x)) are float32 operations, each off by at most the unit
roundoff u = 2^-24 times its result, so an identity that holds exactly in real arithmetic holds per
coordinate up to u·(|x| + |e'|) per round; a test recomputing e from float32 values in float64 adds at most
one more such term. A real mistake (a residual dropped, its sign flipped, one reset while the client is away)
moves a coordinate by a sizeable part of a grid step, ~R/(2s) ≈ 1e-3 here, which every test requires to be
at least a thousand times its tolerance.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch

from fedquant.optimizer.schemes.level_rule import LevelRule
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.experiment.seed_setup import SeedSetup, set_up_seed
from fedquant.validation.training import fedavg, uplink

EPS32 = float(np.finfo(np.float32).eps) / 2  # float32 unit roundoff u
LEVELS = 3  # s = 3 (2-bit codes): coarse, so the residuals are large against float32 rounding
EF_KEYS = {"residual_norm2", "residual_max_norm2", "agg_error_norm2"}
#: the keys of a quantized round's row as they were before error feedback existed (no downlink, no entropy)
ROW_KEYS = ["scheme", "seed", "round", "loss", "accuracy", "test_loss", "grad_norm2", "participants", "range", "p2",
            "levels", "bit_width", "bits", "bytes", "quant_error", "quant_error_bound", "excess_loss", "loss_after",
            "accuracy_after"]
# the sharp cost estimate (curvature.py): rows of unbiased quantizers without error feedback only
SHARP_KEYS = {"excess_loss_predicted", "excess_loss_second_order"}
SHARP_ROW_KEYS = [*ROW_KEYS[:ROW_KEYS.index("excess_loss")], "excess_loss_predicted", "excess_loss",
                  "excess_loss_second_order", *ROW_KEYS[ROW_KEYS.index("excess_loss") + 1:]]
CLIENT_KEYS = ["scheme", "seed", "round", "client", "weight", "range", "levels", "bits", "bytes", "quant_error",
               "quant_error_bound", "hoeffding_scale"]


def setup_of(**changes: Any) -> SeedSetup:
    base = ExperimentConfig(dataset="digits", model="logreg", clients=5, participation=1.0, rounds=5,
                            local_steps=2, local_epochs=None, blocks="tensor", seeds=(0,), schemes=("none",))
    return set_up_seed(base.with_(**changes).checked(), 0)


def fixed_levels(seen: list[np.ndarray]) -> LevelRule:
    """s = LEVELS everywhere; records the ranges the rule is shown each round."""

    def update(obs, state):
        seen.append(np.array(obs.range_, dtype=np.float64))
        return np.full(obs.range_.shape, float(LEVELS)), state

    return LevelRule("levels:3", lambda ctx: None, update, {})


class Recorder:
    """The setup's engine, keeping each round's participants and true updates Δ."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.calls = inner, inner.name, []

    def local_updates(self, w: torch.Tensor, clients: list[int], round_: int) -> torch.Tensor:
        out = self.inner.local_updates(w, clients, round_)
        self.calls.append((round_, list(clients), out.clone()))
        return out


def traced(setup: SeedSetup, monkeypatch: pytest.MonkeyPatch, *, quantized: bool = True,
           **spec_changes: Any) -> tuple[fedavg.RunOutput, list[dict[str, Any]]]:
    """One run, and per round: participants, Δ, x (what was quantized), Q(x) (what arrived), the rule's ranges."""
    sends: list[tuple[torch.Tensor, torch.Tensor]] = []

    def spy(update: torch.Tensor, *args: Any, **kwargs: Any) -> uplink.Uplink:
        up = uplink.send(update, *args, **kwargs)
        sends.append((update.clone(), up.received.clone()))
        return up

    monkeypatch.setattr(fedavg, "send", spy)
    engine = Recorder(setup.engine)
    spec = dataclasses.replace(setup.spec, **spec_changes)
    fed = dataclasses.replace(setup.federation, engine=engine, spec=spec)
    seen: list[np.ndarray] = []
    out = fedavg.run_fedavg(fed, scheme="levels:3", rule=fixed_levels(seen) if quantized else None, context=None)
    rounds, k = [], 0
    for t, chosen, delta in engine.calls:
        m = len(chosen)
        if quantized:
            x = torch.stack([s[0] for s in sends[k:k + m]]).double()
            q = torch.stack([s[1] for s in sends[k:k + m]]).double()
        else:
            x = q = None
        rounds.append({"t": t, "chosen": chosen, "delta": delta.double(), "x": x, "q": q,
                       "ranges": seen[t] if quantized else None})
        k += m if quantized else 0
    assert k == len(sends)
    return out, rounds


def block_ranges(v: torch.Tensor, slices: list[slice]) -> np.ndarray:
    return np.array([float(v[s].max() - v[s].min()) for s in slices])


# ------------------------------------------------------------------------------------------ the identities


def test_telescoping_full_participation_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every client takes part in every round, so e_{t+1} = x_t − Q(x_t) = Δ_t + e_t − Q(x_t) telescopes from
    e_0 = 0 to Σ_t Q(x_{t,i}) = Σ_t Δ_{t,i} − e_{T,i} for each client, and (p fixed) the server's total step
    w_T − w_0 = Σ_t Σ_i p_i Q(x_{t,i}) = Σ_t Σ_i p_i Δ_{t,i} − Σ_i p_i e_{T,i}.

    Per client, the float32 error is bounded coordinate-wise by u·Σ_t (|x_t| + |e_{t+1}|) (module docstring),
    doubled for the test's own recomputation. On the server side w is summed in float32: each round adds
    m + 1 terms to w, each rounding at most an ulp of the running value, so (m + 2)·u·max|w| per round.
    """
    setup = setup_of(quantizer="deterministic")
    out, rounds = traced(setup, monkeypatch, error_feedback=True)
    T, N = setup.config.rounds, setup.config.clients
    assert all(r["chosen"] == list(range(N)) for r in rounds)
    assert out.residual is not None and out.residual.shape == (N, setup.d) and out.residual.dtype == torch.float32
    e_T = out.residual.double()
    sum_q = sum(r["q"] for r in rounds)
    sum_delta = sum(r["delta"] for r in rounds)
    slack = sum(r["x"].abs() + (r["x"] - r["q"]).abs() for r in rounds)
    gap = (sum_q - (sum_delta - e_T)).abs()
    assert bool((gap <= 2 * EPS32 * slack + 1e-30).all()), float((gap - 2 * EPS32 * slack).max())
    # the residual is real: dropping it (the identity without e_T) breaks the identity a thousandfold
    assert float((sum_q - sum_delta).abs().max()) > 1e3 * float((2 * EPS32 * slack).max())

    p = torch.from_numpy(setup.sizes / setup.sizes.sum())
    server = out.final_w.double() - setup.w0.double()
    expected = (p[:, None] * (sum_delta - e_T)).sum(dim=0)
    w_scale = max(float(setup.w0.abs().max()), float(out.final_w.abs().max()))
    tol = T * (N + 2) * EPS32 * w_scale
    assert float((server - expected).abs().max()) <= tol
    assert float((p[:, None] * e_T).sum(dim=0).abs().max()) > 1e3 * tol

    # full participation: what the participants bring into round t + 1 is exactly round t's aggregate error
    for a, b in zip(out.rows, out.rows[1:], strict=False):
        assert b["residual_norm2"] == pytest.approx(a["agg_error_norm2"], rel=1e-5)
    assert out.rows[0]["residual_norm2"] == 0.0 and out.rows[0]["residual_max_norm2"] == 0.0


def test_residual_within_the_deterministic_block_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nearest rounding moves each coordinate at most δ_k/2 = R_k/(2s), so ‖e_{t+1,i}‖² = ‖x − Q(x)‖²
    ≤ Σ_k d_k R_k²/(4s²) on every draw, with R_k the block ranges of x (not of Δ). The deterministic
    quantizer's own slack is a few ulp of max|x| per coordinate, and recovering e as x − Δ one more: so
    ‖e‖ ≤ √bound + √d · 8u · max|x|. The rows must record that error and bound: those of x."""
    setup = setup_of(quantizer="deterministic")
    out, rounds = traced(setup, monkeypatch, error_feedback=True)
    sizes = setup.block_sizes.astype(np.float64)
    assert len(setup.slices) == 2  # logreg per tensor: weight and bias, two ranges per client
    residual_after = [r["x"] - r["delta"] for r in rounds[1:]] + [out.residual.double()]
    ratios, moved = [], 0
    for r, e_next in zip(rounds, residual_after, strict=True):
        crows = [c for c in out.client_rows if c["round"] == r["t"]]
        for j, c in enumerate(r["chosen"]):
            x = r["x"][j]
            ranges = block_ranges(x, setup.slices)
            np.testing.assert_allclose(r["ranges"][j], ranges, rtol=1e-6)  # the rule was shown x's ranges
            bound = float(np.sum(sizes * ranges**2 / (4 * LEVELS**2)))
            norm2 = float(torch.dot(e_next[c], e_next[c]))
            slack = np.sqrt(setup.d) * 8 * EPS32 * float(x.abs().max())
            assert np.sqrt(norm2) <= np.sqrt(bound) + slack, (r["t"], c)
            ratios.append(norm2 / bound)
            row = crows[j]
            assert row["client"] == c
            assert row["quant_error_bound"] == pytest.approx(bound, rel=1e-5)
            err = r["q"][j] - x
            assert row["quant_error"] == pytest.approx(float(torch.dot(err, err)), rel=1e-9)
            vs_delta = r["q"][j] - r["delta"][j]
            moved += abs(float(torch.dot(vs_delta, vs_delta)) - row["quant_error"]) > 0.01 * row["quant_error"]
    assert max(ratios) > 0.1  # the bound is approached, so the check bites
    assert moved > 0  # from round 1 on, ‖Q(x) − x‖² is not ‖Q(x) − Δ‖²: the rows measure x


def test_absent_clients_keep_their_residual(monkeypatch: pytest.MonkeyPatch) -> None:
    """Participation 0.2 (2 of 10 clients a round): the residual a client brings is the one it left at its
    last participation, however many rounds it sat out; zero before its first. ``residual_max_norm2`` is
    the maximum over every client (absent ones too), ``residual_norm2`` the p-weighted one of the
    participants. Tolerance 4u·max|x| per coordinate (module docstring)."""
    setup = setup_of(clients=10, participation=0.2, rounds=10)
    out, rounds = traced(setup, monkeypatch, error_feedback=True)
    state = {c: torch.zeros(setup.d, dtype=torch.float64) for c in range(10)}
    gaps, from_absent = 0, 0
    last_seen: dict[int, int] = {}
    for r in rounds:
        row = out.rows[r["t"]]
        tol = 4 * EPS32 * float(r["x"].abs().max())
        norms = {c: float(torch.dot(v, v)) for c, v in state.items()}
        assert row["residual_max_norm2"] == pytest.approx(max(norms.values()), rel=1e-5)
        holder = max(norms, key=norms.get)
        from_absent += norms[holder] > 0 and holder not in r["chosen"]
        p = setup.sizes[r["chosen"]] / setup.sizes[r["chosen"]].sum()
        brought = sum(float(p[j]) * state[c] for j, c in enumerate(r["chosen"]))
        assert row["residual_norm2"] == pytest.approx(float(torch.dot(brought, brought)), rel=1e-5)
        for j, c in enumerate(r["chosen"]):
            carried = r["x"][j] - r["delta"][j]
            assert float((carried - state[c]).abs().max()) <= tol, (r["t"], c)
            if c not in last_seen:
                assert torch.equal(r["x"][j], r["delta"][j])  # Δ + 0, bit for bit
            elif r["t"] - last_seen[c] > 1:
                gaps += 1
                assert float(state[c].abs().max()) > 1e3 * tol  # a residual that was really kept
            state[c] = r["x"][j] - r["q"][j]
            last_seen[c] = r["t"]
    assert gaps > 0 and from_absent > 0  # the run has clients that sat out, and a maximum held by one of them
    for c in range(10):
        final = out.residual[c].double()
        tol = 4 * EPS32 * max(float(r["x"].abs().max()) for r in rounds)
        assert float((final - state[c]).abs().max()) <= tol
        if c not in last_seen:
            assert not bool(final.any())


# ------------------------------------------------------------------------------------------ off by default


def test_flag_off_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without error feedback the rows carry exactly the keys they always had (agg_error_norm2 is added for
    the deterministic quantizer only), an explicit error_feedback=False is the default, and the flag is what
    changes the run. The unquantized reference ignores it."""
    setup = setup_of(clients=4, rounds=3)
    assert setup.spec.error_feedback is False
    default, _ = traced(setup, monkeypatch)
    explicit, _ = traced(set_up_seed(setup.config.with_(error_feedback=False), 0), monkeypatch)
    assert default.rows == explicit.rows and default.client_rows == explicit.client_rows
    assert all(list(r) == SHARP_ROW_KEYS for r in default.rows)
    assert all(list(c) == CLIENT_KEYS for c in default.client_rows)
    assert default.residual is None
    plain = [{k: v for k, v in r.items() if k not in SHARP_KEYS} for r in default.rows]

    ef, _ = traced(setup, monkeypatch, error_feedback=True)
    assert all(set(r) == set(ROW_KEYS) | EF_KEYS for r in ef.rows)
    assert all(list(c) == CLIENT_KEYS for c in ef.client_rows)
    assert ef.rows[0] == {**plain[0], **{k: ef.rows[0][k] for k in EF_KEYS}}  # nothing to feed back yet
    assert ef.rows[1]["range"] != default.rows[1]["range"]

    det, _ = traced(setup, monkeypatch, quantizer="deterministic")
    assert all(set(r) == set(ROW_KEYS) | {"agg_error_norm2"} for r in det.rows)

    ref_on, _ = traced(setup, monkeypatch, quantized=False, error_feedback=True)
    ref_off, _ = traced(setup, monkeypatch, quantized=False)
    assert ref_on.rows == ref_off.rows and ref_on.client_rows == ref_off.client_rows
    assert ref_on.residual is None and not EF_KEYS & set(ref_on.rows[0])


@pytest.mark.parametrize("quantizer", ["stochastic", "qsgd"])
def test_same_seed_same_rows_and_residuals(quantizer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    setup = setup_of(clients=4, participation=0.5, rounds=3, quantizer=quantizer)
    a, _ = traced(setup, monkeypatch, error_feedback=True)
    b, _ = traced(setup, monkeypatch, error_feedback=True)
    assert a.rows == b.rows and a.client_rows == b.client_rows
    assert torch.equal(a.residual, b.residual) and torch.equal(a.final_w, b.final_w)
    assert bool(a.residual.any())
