"""Forecast families, held-out selection, traces."""

from __future__ import annotations

import numpy as np
import pytest

from fedquant.errors import InvalidArgument
from fedquant.optimizer import fit, read_trace, trajectory
from fedquant.optimizer.forecast import fit_contraction
from fedquant.optimizer.trace import write_trace


@pytest.mark.parametrize(
    ("spec", "family"),
    [("exp:0.3,0.9", "exp"), ("power:0.3,0.8", "power"), ("exp_floor:0.3,0.8,0.05", "exp_floor")],
)
def test_fit_recovers_the_generating_family(spec, family):
    y = trajectory(spec, 60)
    rng = np.random.default_rng(0)
    noisy = y * (1 + 0.01 * rng.standard_normal(60))
    f = fit(noisy)
    assert f.family == family
    # 1 % multiplicative noise: the fit predicts the noiseless curve to a few percent
    assert np.allclose(f.predict(np.arange(60)), y, rtol=0.05)


def test_fit_contraction_and_models():
    loss = trajectory("exp:2.0,0.95", 40)
    assert fit_contraction(loss) == pytest.approx(0.95, rel=1e-10)
    with pytest.raises(InvalidArgument):
        trajectory("exp:0.2,1.5", 5)
    with pytest.raises(InvalidArgument):
        trajectory("cubic:1", 5)


def test_trace_roundtrip_and_errors(tmp_path):
    p = tmp_path / "t.csv"
    write_trace(p, np.array([2.0, 1.5, 1.2]), np.array([0.3, 0.2, 0.1]))
    tr = read_trace(p)
    assert np.array_equal(tr.loss, [2.0, 1.5, 1.2]) and np.array_equal(tr.range_, [0.3, 0.2, 0.1])
    bad = tmp_path / "bad.csv"
    bad.write_text("round,loss\n0,1.0\n")
    with pytest.raises(InvalidArgument, match="missing range"):
        read_trace(bad)
    neg = tmp_path / "neg.csv"
    neg.write_text("round,loss,range\n0,1.0,-0.5\n")
    with pytest.raises(InvalidArgument, match="non-negative"):
        read_trace(neg)


def test_trace_picks_scheme_and_seed_and_clients(tmp_path):
    p = tmp_path / "rounds.csv"
    rows = ["scheme,seed,round,loss,range,client"]
    for scheme in ("none", "fixed:4"):
        for seed in (1, 0):
            for t in range(3):
                for c in range(2):
                    rows.append(f"{scheme},{seed},{t},{2.0 - t * 0.1 + seed},{0.1 * (c + 1) + (scheme == 'none')},{c}")
    p.write_text("\n".join(rows) + "\n")
    tr = read_trace(p)
    assert tr.range_.shape == (3, 2)
    assert np.allclose(tr.range_[:, 0], 1.1) and np.allclose(tr.loss, [2.0, 1.9, 1.8])
    tr2 = read_trace(p, scheme="fixed:4", seed=1)
    assert np.allclose(tr2.range_[:, 1], 0.2) and np.allclose(tr2.loss, [3.0, 2.9, 2.8])
    with pytest.raises(InvalidArgument, match="one of the trace's schemes"):
        read_trace(p, scheme="feddq")
