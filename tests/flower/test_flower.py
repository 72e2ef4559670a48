"""fedquant inside Flower: the wire format against fedquant's own uplink, and a 3-round simulation whose
reported bits and bytes are fedquant's accounting of the same updates; unquantized through the wrapper is
plain FedAvg."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("flwr", reason="the flower extra is not installed")

from fedquant.flower.wire import decode_update, encode_update
from fedquant.theory import numeric
from fedquant.theory.wire import levels_for_width
from fedquant.validation.compression import fixed_codec
from fedquant.validation.compression.quantizers import get_quantizer
from fedquant.validation.training.uplink import send


@settings(max_examples=30, deadline=None)
@given(d=st.integers(1, 300), bits=st.integers(1, 8), seed=st.integers(0, 2**16), constant=st.booleans())
def test_wire_is_fedquants_uplink(d: int, bits: int, seed: int, constant: bool) -> None:
    # the same update and dither as fedquant validate's uplink: the same bits, bytes and received values
    rng = np.random.default_rng(seed)
    w0 = rng.normal(size=d).astype(np.float32)
    delta = np.full(d, 0.25, np.float32) if constant else rng.normal(scale=0.1, size=d).astype(np.float32)
    trained = w0 + delta
    levels = int(levels_for_width(bits))
    enc = encode_update({"w": w0}, {"w": trained}, levels, "stochastic", torch.Generator().manual_seed(seed))
    x = torch.from_numpy(trained - w0)
    r = np.array([float(x.max() - x.min())])
    up = send(x, [slice(0, d)], r, np.array([levels]), get_quantizer("stochastic"),
              torch.Generator().manual_seed(seed), lambda n: int(numeric.bits_fixed(n, 0)))
    assert enc.bits == up.bits
    if r[0] > 0:
        assert enc.nbytes == up.nbytes == fixed_codec.message_nbytes("stochastic", d, levels)
    decoded = decode_update({"w": w0}, enc.messages)["w"]
    np.testing.assert_array_equal(decoded - w0, (w0 + up.received.numpy()) - w0)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    import ray

    from fedquant.flower.example import run

    tmp = tmp_path_factory.mktemp("flower")
    # one Ray session for the three simulations: Flower's Ray backend shuts Ray down after each run, and
    # starting it and its actors again cost about 15 s per run on the 2-core machine
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ray, "shutdown", lambda *args, **kwargs: None)
        try:
            return {"quantized": run(4, 3, 2, tmp / "q.json"), "passthrough": run(4, 3, None, tmp / "p.json"),
                    "fedavg": run(4, 3, None, tmp / "f.json", wrap=False)}
        finally:
            patch.undo()
            ray.shutdown()


def test_reported_bits_and_bytes_are_fedquants_accounting(runs: dict[str, dict]) -> None:
    from fedquant.flower.example import experiment
    from fedquant.validation.experiment.seed_setup import set_up_seed

    d = set_up_seed(experiment(4), 0).d
    levels = int(levels_for_width(2))
    hist = runs["quantized"]["history"]
    assert [h["round"] for h in hist] == [1, 2, 3] and all(h["levels"] == levels for h in hist)
    for h in hist:  # every client's update has a positive range here
        assert h["clients"] == 4
        assert h["bits"] == 4 * int(numeric.bits_fixed(d, levels))
        assert h["bytes"] == 4 * fixed_codec.message_nbytes("stochastic", d, levels)


def test_unquantized_through_the_wrapper_is_plain_fedavg(runs: dict[str, dict]) -> None:
    np.testing.assert_allclose(runs["passthrough"]["final_w"], runs["fedavg"]["final_w"], rtol=0, atol=1e-6)
    assert all(h["levels"] is None and h["bits"] == 0 for h in runs["passthrough"]["history"])
    # the quantized run went through the codec: its model differs from the unquantized one
    assert runs["quantized"]["final_w"] != runs["fedavg"]["final_w"]
