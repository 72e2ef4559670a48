"""The loop engine (the reference) and the vectorised engine train the same clients the same way.

Both engines follow the same batch plan (local.py) and compute the same arithmetic; they differ only in the
order of floating-point summations (a per-client matmul vs a batched ``baddbmm``, a plain vs a grouped
convolution), and the kernels that do those sums are chosen by BLAS/oneDNN per CPU. Such a difference starts
at the unit roundoff u and is then carried by the trajectory, and there the conditioning decides:

* **float64 for the equivalence test.** Momentum 0.9 and ReLU kinks make the step map far from 1-Lipschitz:
  in float32 on an Intel Sapphire Rapids CPU, 6 momentum steps of the MNIST-1D CNN turned u = 6e-8 into a
  relative difference of 3.3e-4 (a gain of ~5e3), and a pre-activation within ~u of 0 can flip its ReLU under
  another summation order, which changes that sample's gradient by O(1). So the engines are compared in
  float64 (u = 1.1e-16), where the same code runs on other kernels but the same plan, masking and weighting —
  what this test is about. A gain of even 1e6 leaves a difference below ``TOL64`` = 1e-9, and a flip needs a
  pre-activation within ~1e-16 (relative) of 0. A real discrepancy — one minibatch missing, repeated, or a
  short batch weighted as a full one — changes Δ by about one step in S, a relative ≥ 1e-2 here; the
  negative controls below measure each of these and require it to exceed ``TOL64`` a million-fold.
* **float32 only where the map is non-expansive.** The FedAvg trajectory test runs the production float32
  engines on logistic regression without momentum: softmax cross entropy is convex with a per-sample
  Hessian ≤ ‖x̃‖²/2·I (x̃ = [x, 1]; ‖x̃‖² ≤ 24.1 on digits), so L ≤ 12.1 for every minibatch and at
  lr = 0.1 ≤ 2/L the SGD step map is 1-Lipschitz: rounding differences add up over the S steps but never
  grow, and S · 100 · u bounds them with a wide margin whatever the CPU.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
import torch

from fedquant.errors import InvalidArgument
from fedquant.validation.data.datasets import load_dataset
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.experiment.seed_setup import set_up_seed
from fedquant.validation.training import fedavg
from fedquant.validation.training.engines import LoopEngine, VectorizedEngine, make_engine
from fedquant.validation.training.local_sgd import LocalConfig, batch_plan
from fedquant.validation.training.models import build_model

EPS32 = float(np.finfo(np.float32).eps) / 2  # unit roundoff 2^-24
TOL64 = 1e-9  # relative tolerance of the float64 equivalence test (module docstring)


def tolerance(steps: int) -> float:
    """Relative tolerance for S float32 steps of a non-expansive step map in another summation order."""
    return steps * 100 * EPS32


@pytest.fixture(scope="module")
def data() -> dict[str, object]:
    return {name: load_dataset(name, seed=0) for name in ("digits", "mnist1d")}


def client_split(n_train: int) -> list[np.ndarray]:
    """Five clients of deliberately awkward sizes (B = 32): smaller than a batch (7), a short last batch of
    one sample (33) or of 13 (45), exact batches (64) and 4 batches with a short one (100)."""
    perm = np.random.default_rng(1234).permutation(n_train)
    sizes = [7, 45, 100, 33, 64]
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return [np.sort(perm[a:b]) for a, b in itertools.pairwise(bounds)]


CONFIGS = {
    "epochs-plain": LocalConfig(lr=0.05, batch_size=32, local_epochs=1),
    "epochs2-momentum": LocalConfig(lr=0.05, batch_size=32, local_epochs=2, momentum=0.9),
    "steps-plain": LocalConfig(lr=0.05, batch_size=32, local_epochs=None, local_steps=6),
    "steps-momentum": LocalConfig(lr=0.05, batch_size=32, local_epochs=None, local_steps=6, momentum=0.9),
}
MODELS = [("digits", "logreg"), ("digits", "mlp"), ("digits", "cnn"), ("mnist1d", "cnn")]


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / a.abs().max())


class MutatedLoop(LoopEngine):
    """The reference engine with one planted bug in its batch plan (the negative controls)."""

    def __init__(self, *args: object, mutation: str) -> None:
        super().__init__(*args)
        self.mutation = mutation

    def plan(self, client: int, round_: int) -> list[np.ndarray]:
        batches = super().plan(client, round_)
        if len(batches) < 2:
            return batches
        if self.mutation == "missing":  # the last minibatch is skipped
            return batches[:-1]
        if self.mutation == "repeated":  # the first minibatch is taken twice
            return [batches[0], *batches]
        # "misweighted": the short last batch padded with copies of the round's first sample, as if padding counted
        pad = np.repeat(batches[0][:1], self.cfg.batch_size - batches[-1].size)
        return [*batches[:-1], np.concatenate([batches[-1], pad])]


def float64_setup(data: dict, dataset: str, model: str) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor,
                                                                 list[np.ndarray], torch.Tensor]:
    ds = data[dataset]
    net = build_model(model, ds, seed=0).double()
    x, y = torch.from_numpy(ds.x_train).double(), torch.from_numpy(ds.y_train)
    w = torch.nn.utils.parameters_to_vector(net.parameters()).detach().clone()
    return net, x, y, client_split(ds.num_train), w


@pytest.mark.parametrize(("dataset", "model"), MODELS, ids=[f"{d}-{m}" for d, m in MODELS])
@pytest.mark.parametrize("mode", list(CONFIGS))
def test_loop_and_vectorized_agree(data: dict, dataset: str, model: str, mode: str) -> None:
    cfg = CONFIGS[mode]
    net, x, y, clients, w = float64_setup(data, dataset, model)
    loop = LoopEngine(net, x, y, clients, cfg, seed=3)
    vec = VectorizedEngine(net, x, y, clients, cfg, seed=3)
    w_before = w.clone()
    chosen = [4, 0, 2, 3]  # a subset, not sorted: rows must follow this order
    steps = [cfg.steps_for(clients[c].size) for c in chosen]
    if cfg.local_epochs is not None:
        assert len(set(steps)) > 1, "the clients must differ in their number of local steps"
    a = loop.local_updates(w, chosen, round_=2)
    b = vec.local_updates(w, chosen, round_=2)
    assert a.shape == b.shape == (len(chosen), loop.d)
    assert a.dtype == b.dtype == torch.float64
    assert torch.equal(w, w_before), "an engine changed the global model it was given"
    for row in range(len(chosen)):
        assert float(a[row].abs().max()) > 0
        assert rel_diff(a[row], b[row]) <= TOL64, (chosen[row], rel_diff(a[row], b[row]))
    # negative control: the next round's batches (a different plan) are far outside the tolerance, for every
    # client with more than one batch (client 0's 7 samples are one full batch whatever their order)
    c = vec.local_updates(w, chosen, round_=3)
    assert min(rel_diff(a[r], c[r]) for r in range(len(chosen)) if clients[chosen[r]].size > 32) > 1e6 * TOL64


@pytest.mark.parametrize("mutation", ["missing", "repeated", "misweighted"])
@pytest.mark.parametrize(("dataset", "model"), [("digits", "mlp"), ("mnist1d", "cnn")], ids=["digits-mlp",
                                                                                            "mnist1d-cnn"])
def test_equivalence_catches_a_planted_minibatch_bug(data: dict, dataset: str, model: str, mutation: str) -> None:
    """Each kind of bug the equivalence test is there to catch lies ≥ 10^6 × TOL64 away from the reference."""
    cfg = CONFIGS["epochs-plain"]
    net, x, y, clients, w = float64_setup(data, dataset, model)
    chosen = [1, 2, 3]  # 45, 100 and 33 samples: several batches each, every one with a short last batch
    a = LoopEngine(net, x, y, clients, cfg, seed=3).local_updates(w, chosen, round_=2)
    bad = MutatedLoop(net, x, y, clients, cfg, 3, mutation=mutation).local_updates(w, chosen, round_=2)
    assert min(rel_diff(a[r], bad[r]) for r in range(len(chosen))) > 1e6 * TOL64


def test_engine_rows_follow_client_order(data: dict) -> None:
    ds = data["digits"]
    cfg = CONFIGS["epochs-plain"]
    net = build_model("logreg", ds, seed=0)
    x, y = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    clients = client_split(ds.num_train)
    vec = VectorizedEngine(net, x, y, clients, cfg, seed=0)
    w = torch.nn.utils.parameters_to_vector(net.parameters()).detach().clone()
    both = vec.local_updates(w, [1, 2], 0)
    # a client's update depends only on its own data and key, not on who else trains with it
    alone = torch.cat([vec.local_updates(w, [2], 0), vec.local_updates(w, [1], 0)])
    assert rel_diff(both[0], alone[1]) <= tolerance(4)
    assert rel_diff(both[1], alone[0]) <= tolerance(4)
    assert rel_diff(both[0], both[1]) > 0.1


def test_make_engine_names(data: dict) -> None:
    ds = data["digits"]
    net = build_model("logreg", ds, seed=0)
    x, y = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    args = (net, x, y, client_split(ds.num_train), CONFIGS["epochs-plain"], 0)
    assert isinstance(make_engine("loop", *args), LoopEngine)
    assert isinstance(make_engine("vectorized", *args), VectorizedEngine)
    with pytest.raises(InvalidArgument) as err:
        make_engine("gpu", *args)
    assert err.value.argument == "engine"


def test_unquantized_fedavg_trajectory_same_with_both_engines() -> None:
    """Five rounds of float32 FedAvg (rule None): every round's measurements and the final model agree.

    Logistic regression at lr = 0.1 without momentum: a non-expansive step map (module docstring), so the
    engines' float32 differences add up over the 5 rounds of up to S local steps and the relative tolerance is
    5·S·100·u (S = 8 here: ≈ 2.4e-4), used for the final model, the loss, the squared gradient norm and the
    range.
    """
    base = ExperimentConfig(dataset="digits", model="logreg", clients=6, participation=0.5, rounds=5, lr=0.1,
                            seeds=(0,), schemes=("none",))
    outs, w0 = {}, {}
    for engine in ("loop", "vectorized"):
        s = set_up_seed(base.with_(engine=engine), 0)
        w0[engine], steps = s.w0, s.max_local_steps
        outs[engine] = fedavg.run_fedavg(replace(s.federation, seed=0), scheme="none", rule=None, context=None)
    assert torch.equal(w0["loop"], w0["vectorized"])
    tol = tolerance(5 * steps)
    a, b = outs["loop"], outs["vectorized"]
    assert len(a.rows) == len(b.rows) == 5
    for ra, rb in zip(a.rows, b.rows, strict=True):
        assert ra["round"] == rb["round"]
        assert ra["participants"] == rb["participants"] == 3
        assert ra["bits"] == rb["bits"]
        for key in ("loss", "loss_after", "grad_norm2", "range"):
            assert ra[key] == pytest.approx(rb[key], rel=tol, abs=0), key
        # accuracy counts correct predictions of 360 test images: allow one flipped prediction
        assert abs(ra["accuracy_after"] - rb["accuracy_after"]) <= 1 / 360 + 1e-9
    assert a.rows[-1]["loss_after"] < a.rows[0]["loss"] - 0.1, "the run did not train"
    assert rel_diff(a.final_w - w0["loop"], b.final_w - w0["loop"]) <= tol


# ------------------------------------------------------------------------------------------ batch plan


def test_batch_plan_same_key_same_batches() -> None:
    cfg = LocalConfig(batch_size=8, local_epochs=2)
    a = batch_plan(cfg, 50, seed=1, round_=3, client=4)
    b = batch_plan(cfg, 50, seed=1, round_=3, client=4)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    for other in ({"seed": 2, "round_": 3, "client": 4}, {"seed": 1, "round_": 4, "client": 4},
                  {"seed": 1, "round_": 3, "client": 5}):
        c = batch_plan(cfg, 50, **other)
        assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True)), other


@pytest.mark.parametrize(("n", "batch", "epochs"), [(50, 8, 2), (7, 32, 1), (64, 32, 3), (33, 32, 1)])
def test_batch_plan_epochs_cover_every_sample_once(n: int, batch: int, epochs: int) -> None:
    cfg = LocalConfig(batch_size=batch, local_epochs=epochs)
    plan = batch_plan(cfg, n, seed=0, round_=0, client=0)
    per_epoch = -(-n // batch)
    assert len(plan) == epochs * per_epoch == cfg.steps_for(n)
    for e in range(epochs):
        chunk = plan[e * per_epoch:(e + 1) * per_epoch]
        assert [len(b) for b in chunk[:-1]] == [batch] * (per_epoch - 1)
        assert np.array_equal(np.sort(np.concatenate(chunk)), np.arange(n))
    if epochs > 1 and n > 1:  # a fresh permutation per epoch
        assert not np.array_equal(np.concatenate(plan[:per_epoch]), np.concatenate(plan[per_epoch:2 * per_epoch]))


@pytest.mark.parametrize(("n", "batch", "steps"), [(10, 4, 9), (64, 16, 12), (5, 8, 4)])
def test_batch_plan_steps_cycle_through_permutations(n: int, batch: int, steps: int) -> None:
    cfg = LocalConfig(batch_size=batch, local_epochs=None, local_steps=steps)
    plan = batch_plan(cfg, n, seed=0, round_=1, client=2)
    assert len(plan) == steps == cfg.steps_for(n)
    assert all(len(b) == min(batch, n) for b in plan)
    per_cycle = max(1, n // batch)  # full batches only; a tail shorter than B waits for the next permutation
    cycles = [plan[i:i + per_cycle] for i in range(0, steps, per_cycle)]
    for cyc in cycles:
        seen = np.concatenate(cyc)
        assert np.unique(seen).size == seen.size, "a sample repeated within one pass"
        assert seen.min() >= 0 and seen.max() < n
    full = [np.concatenate(c) for c in cycles if len(c) == per_cycle]
    assert len(full) >= 2
    assert any(not np.array_equal(full[0], f) for f in full[1:]), "every pass used the same order"


def test_batch_plan_refuses_empty_client() -> None:
    with pytest.raises(InvalidArgument) as err:
        batch_plan(LocalConfig(), 0, seed=0, round_=0, client=3)
    assert err.value.argument == "client"


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"lr": 0.0}, "lr"), ({"lr": float("nan")}, "lr"), ({"batch_size": 0}, "batch_size"),
    ({"local_epochs": None}, "local_steps"), ({"local_steps": 3}, "local_steps"),
    ({"local_epochs": 0}, "local_epochs"), ({"local_epochs": None, "local_steps": 0}, "local_steps"),
    ({"momentum": 1.0}, "momentum"), ({"momentum": -0.1}, "momentum"),
])
def test_local_config_refuses_bad_values(kwargs: dict, name: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        LocalConfig(**kwargs)
    assert err.value.argument == name
