"""Every scheme's record is complete and means what it says, and the template works as a scheme would."""

from __future__ import annotations

import numpy as np
import pytest

from fedquant.errors import InvalidArgument
from fedquant.optimizer import ScheduleProblem, trajectory
from fedquant.optimizer.calibrate import calibrate
from fedquant.optimizer.scheme_spec import parse_scheme, pinned
from fedquant.optimizer.schemes import SCHEMES, replay
from fedquant.optimizer.schemes import template as tpl

D = 1000
T, N = 20, 3


def problem(bits: float = 3.0) -> ScheduleProblem:
    return ScheduleProblem.create(range_=trajectory("exp:0.2,0.9", T), loss=trajectory("exp_floor:2,0.9,0.3", T),
                                  clients=N, block_sizes=D, budget_bits=T * N * (D * bits + 64))


@pytest.mark.parametrize("name", list(SCHEMES))
def test_record_is_complete(name: str) -> None:
    record = SCHEMES[name]
    assert record.name == name and record.summary
    assert record.rule is not None or record.plan is not None
    if record.knob is not None:
        assert record.knob in record.params and record.probe is not None
        assert record.knob_of is not None or record.plan is not None
    assert str(parse_scheme(name)) == name and not pinned(name)


@pytest.mark.parametrize("name", [n for n, r in SCHEMES.items() if r.knob is not None])
def test_a_spec_that_sets_the_knob_is_pinned(name: str) -> None:
    record = SCHEMES[name]
    assert pinned(f"{name}:{record.knob}=2")


@pytest.mark.parametrize("name", list(SCHEMES))
def test_every_scheme_meets_the_budget_its_record_promises(name: str) -> None:
    from fedquant.optimizer import schedule

    pr = problem()
    sched = schedule(name, pr)
    assert sched.total_bits <= pr.budget_bits
    # at least what every block at one bit costs: the budget was spent, not ignored
    assert sched.total_bits >= T * N * (D + 64)


def test_a_parameter_the_record_does_not_declare_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="feddq takes delta, floor"):
        parse_scheme("feddq:gamma=2")


def test_template_rule_is_its_formula() -> None:
    pr = problem()
    s = replay(tpl.geometric(40.0, 0.8), pr)
    expected = np.clip(np.ceil(40.0 * 0.8 ** np.arange(T) - 1e-9), 1, 2**16 - 1)
    assert np.array_equal(s.levels[:, 0, 0], expected)
    assert s.trend() == "descending"


def test_template_record_calibrates_like_a_catalogued_scheme() -> None:
    pr = problem(bits=2.5)
    knob = tpl.SCHEME.knob_of({"gamma": 0.9}, pr)
    _, sched = calibrate(knob.make, pr, knob.lo, knob.hi, increasing=knob.increasing, knob=knob.name)
    assert sched.total_bits <= pr.budget_bits
    # one notch more of the knob (the next code width at round 0) would overspend: the calibration is tight
    richer = replay(tpl.geometric(2.0 * sched.params["s0"], 0.9), pr)
    assert richer.total_bits > pr.budget_bits
    assert tpl.SCHEME.rule({"s0": 3.0}).params == {"s0": 3.0, "gamma": tpl.DEFAULT_GAMMA}
    with pytest.raises(InvalidArgument):
        tpl.geometric(1.0, 1.5)
