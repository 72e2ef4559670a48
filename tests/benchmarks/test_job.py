"""The whole-job benchmark's clock: exclusive time per (phase, activity), nothing counted twice."""

from __future__ import annotations

import pytest

from fedquant.benchmarks import job


def test_time_goes_to_the_innermost_activity_and_the_enclosing_phase(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(job.time, "perf_counter", lambda: now[0])
    clock = job._Clock()
    now[0] = 1.0  # 1 s of setup
    with clock.within(clock.phase, "measured runs"):
        now[0] = 3.0  # 2 s of other work in the measured runs
        with clock.within(clock.activity, "training"):
            now[0] = 7.0  # 4 s training
            with clock.within(clock.activity, "loss evaluations"):
                now[0] = 8.0  # 1 s evaluating, inside training: counted once, as evaluation
            now[0] = 10.0  # 2 s more training
    now[0] = 10.5
    clock._tick()
    assert clock.totals == {("setup + planning", "other"): 1.5, ("measured runs", "other"): 2.0,
                            ("measured runs", "training"): 6.0, ("measured runs", "loss evaluations"): 1.0}
    assert sum(clock.totals.values()) == 10.5


def test_a_wrapper_labels_by_its_arguments_and_is_undone() -> None:
    class Owner:
        @staticmethod
        def work(x: int) -> int:
            return 2 * x

    clock = job._Clock()
    undo = job._wrap(Owner, "work", clock, clock.phase, lambda x: None if x < 0 else "report")
    assert Owner.work(3) == 6 and Owner.work(-1) == -2
    assert any(p == "report" for p, _ in clock.totals)
    undo()
    assert Owner.work.__name__ == "work"
