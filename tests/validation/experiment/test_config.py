"""Budget specs, presets and the configuration's own checks."""

from __future__ import annotations

import pytest

from fedquant.cli import main
from fedquant.errors import InvalidArgument
from fedquant.optimizer.bit_cost import bits_function
from fedquant.validation.experiment.config import ExperimentConfig, budget_bits_per_coordinate
from fedquant.validation.experiment.plan import fixed_budget
from fedquant.validation.experiment.presets import PRESETS, preset
from fedquant.validation.experiment.seed_setup import set_up_seed


@pytest.mark.parametrize(("spec", "width"), [("auto", 4.0), ("fixed:1.5", 1.5), ("fixed:8", 8.0), ("1e6", None)])
def test_budget_specs(spec, width):
    assert budget_bits_per_coordinate(spec) == width


@pytest.mark.parametrize("spec", ["fixed:0.5", "fixed:17", "fixed:x", "-3", "lots", "nan"])
def test_bad_budget_specs(spec):
    with pytest.raises(InvalidArgument, match="budget"):
        budget_bits_per_coordinate(spec)


def test_fixed_budget_is_the_bit_formula_and_interpolates():
    cfg = ExperimentConfig(model="logreg", clients=4, rounds=5, seeds=(0,), blocks="tensor")
    setup = set_up_seed(cfg, 0)
    per_client = {b: float(sum(bits_function("fixed")(d, 2.0**b - 1) for d in setup.block_sizes)) for b in (1, 2, 4)}
    assert fixed_budget(setup, 4.0) == 5 * 4 * per_client[4]
    assert fixed_budget(setup, 1.5) == pytest.approx(5 * 4 * (per_client[1] + per_client[2]) / 2, rel=1e-15)


def test_presets_are_valid_configs_and_flags_override(capsys, tmp_path):
    for name in PRESETS:
        ExperimentConfig(**preset(name)).checked()
    with pytest.raises(InvalidArgument, match="preset"):
        preset("fast")
    code = main(["validate", "--preset", "nope", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and "--preset" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_the_reference_run_is_added_when_the_default_target_needs_it() -> None:
    cfg = ExperimentConfig(schemes=("feddq", "optimal")).checked()
    assert cfg.schemes == ("none", "feddq", "optimal")  # the default target is 95 % of none's final accuracy
    assert ExperimentConfig.from_json(cfg.to_json()) == cfg  # a resumed run sees the same configuration
    given = ExperimentConfig(schemes=("feddq",), target_accuracy=0.8).checked()
    assert given.schemes == ("feddq",)  # with a target of its own, no reference run is needed


def test_error_feedback_is_saved_only_when_on_and_reaches_the_rounds() -> None:
    """Off, the saved configuration has no error_feedback key (its bytes, and the resume of a folder written
    before the option existed, are unchanged); on, it is saved, read back, and carried to the RoundSpec."""
    off = ExperimentConfig(model="logreg", clients=4, rounds=3, seeds=(0,), schemes=("none", "fixed:4")).checked()
    assert "error_feedback" not in off.to_json()
    assert ExperimentConfig.from_json(off.to_json()) == off
    on = off.with_(error_feedback=True).checked()
    saved = on.to_json()
    assert saved["error_feedback"] is True
    assert [k for k in saved if k != "error_feedback"] == list(off.to_json())  # nothing else moves
    assert ExperimentConfig.from_json(saved) == on
    assert set_up_seed(on, 0).spec.error_feedback is True
    assert set_up_seed(off, 0).spec.error_feedback is False
    for quantizer in ("stochastic", "deterministic", "qsgd"):
        on.with_(quantizer=quantizer).checked()
    with pytest.raises(InvalidArgument, match="error_feedback"):
        off.with_(error_feedback="yes").checked()
