"""Every example of fedquant.examples holds at the tolerance it states, and the check can fail.

- each example's agreement holds, with the tolerance of its module (``TOLERANCE``), never one of the test's;
- each example documents its source and its tolerance, and is deterministic (same seed, same numbers);
- negative controls: a perturbed prediction beyond the tolerance fails, for both kinds, on every example;
- the template imports, is not an example, and refuses to run.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import sys
from collections.abc import Callable
from functools import cache
from types import ModuleType

import pytest

from fedquant.examples import EXAMPLES, Agreement

IDS = [run.__module__.rsplit(".", 1)[-1] for run in EXAMPLES]


def module_of(run: Callable[[], Agreement]) -> ModuleType:
    return sys.modules[run.__module__]


@cache
def agreement_of(run: Callable[[], Agreement]) -> Agreement:
    """One run per example with its defaults, shared by the tests below."""
    return run()


@pytest.mark.parametrize("run", EXAMPLES, ids=IDS)
def test_example_holds_at_its_stated_tolerance(run: Callable[[], Agreement]) -> None:
    agreement = agreement_of(run)
    assert isinstance(agreement, Agreement)
    assert agreement.tolerance == module_of(run).TOLERANCE, "the example must report the tolerance it states"
    assert agreement.kind in ("equal", "bound")
    assert agreement.holds, agreement.line() + "\n" + agreement.note


@pytest.mark.parametrize("run", EXAMPLES, ids=IDS)
def test_example_documents_claim_source_and_tolerance(run: Callable[[], Agreement]) -> None:
    doc = inspect.getdoc(run) or ""
    assert "Source:" in doc
    assert "Tolerance:" in doc
    assert "Claim:" in doc
    assert (module_of(run).__doc__ or "").strip(), "the module docstring states the claim and its formula"
    params = inspect.signature(run).parameters.values()
    assert all(p.default is not inspect.Parameter.empty for p in params), "every argument has a default"


@pytest.mark.parametrize("run", EXAMPLES, ids=IDS)
def test_example_is_deterministic(run: Callable[[], Agreement]) -> None:
    first, again = agreement_of(run), run()
    assert (first.measured, first.predicted, first.tolerance) == (again.measured, again.predicted, again.tolerance)


@pytest.mark.parametrize("run", EXAMPLES, ids=IDS)
def test_perturbed_prediction_fails(run: Callable[[], Agreement]) -> None:
    """The check is not vacuous: moving the prediction past the tolerance flips ``holds``."""
    agreement = agreement_of(run)
    tol = agreement.tolerance
    if agreement.kind == "bound":
        # a bound cut to half, or just below the measured value less the allowance, no longer holds
        assert agreement.measured > 0, "a bound example needs a positive measured value to be falsifiable"
        for predicted in (agreement.predicted * 0.5, agreement.measured / (1 + tol) * (1 - 1e-9)):
            assert not dataclasses.replace(agreement, predicted=predicted).holds
    else:
        # an equality whose prediction moves by 1 % more than its tolerance allows no longer holds
        for sign in (1.0, -1.0):
            predicted = agreement.measured / (1 + sign * (tol + 0.01))
            assert not dataclasses.replace(agreement, predicted=predicted).holds


@pytest.mark.parametrize(
    ("kind", "measured", "predicted", "tolerance", "holds"),
    [
        ("equal", 1.0, 1.0, 0.0, True),
        ("equal", 1.005, 1.0, 0.01, True),
        ("equal", 1.0, 1.01, 0.0, False),
        ("equal", 0.98, 1.0, 0.01, False),
        ("equal", 1.02, 1.0, 0.01, False),
        ("bound", 0.5, 1.0, 0.0, True),
        ("bound", 1.0, 1.0, 0.0, True),
        ("bound", 1.0, 0.5, 0.0, False),
        ("bound", 1.009, 1.0, 0.01, True),
        ("bound", 1.011, 1.0, 0.01, False),
    ],
)
def test_agreement_semantics(kind: str, measured: float, predicted: float, tolerance: float, holds: bool) -> None:
    a = Agreement("a claim", measured, predicted, tolerance, kind)
    assert a.holds is holds
    assert a.ratio == pytest.approx(measured / predicted, rel=1e-15)


def test_agreement_refuses_bad_fields() -> None:
    with pytest.raises(ValueError, match="kind"):
        Agreement("c", 1.0, 1.0, 0.0, "approx")
    with pytest.raises(ValueError, match="tolerance"):
        Agreement("c", 1.0, 1.0, -0.1, "equal")
    with pytest.raises(ValueError, match="measured"):
        Agreement("c", math.nan, 1.0, 0.0, "equal")
    with pytest.raises(dataclasses.FrozenInstanceError):
        Agreement("c", 1.0, 1.0, 0.0, "equal").measured = 2.0  # type: ignore[misc]
    assert math.isnan(Agreement("c", 1.0, 0.0, 0.0, "equal").ratio)


def test_template_imports_and_is_not_an_example() -> None:
    template = importlib.import_module("fedquant.examples.template")
    assert template.run not in EXAMPLES
    doc = inspect.getdoc(template.run) or ""
    assert "Source:" in doc and "Tolerance:" in doc
    with pytest.raises(NotImplementedError):
        template.run()


def test_every_example_module_is_registered() -> None:
    import pkgutil

    import fedquant.examples as package

    names = {m.name for m in pkgutil.iter_modules(package.__path__)} - {"agreement", "template", "__main__"}
    assert names == set(IDS)
    for name in names:
        assert f"{name}.py" in (package.__doc__ or ""), f"{name} is missing from the catalogue"
