"""The study's parts on constructed inputs: direction, the tuned rate, targets and savings, scoring."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import t as student_t

from fedquant.errors import InvalidArgument
from fedquant.validation.study import cells as grid
from fedquant.validation.study import tuning
from fedquant.validation.study.claim import _saving, to_target
from fedquant.validation.study.direction import FLAT_BITS, change, direction
from fedquant.validation.study.scoring import diagnose, score_cell, study_score


def test_direction_reads_the_last_third_against_the_first() -> None:
    assert direction([4, 4, 4, 3, 3, 3, 2, 2, 2]) == "descending"
    assert direction([2, 2, 2, 3, 3, 3, 4, 4, 4]) == "ascending"
    assert direction([3, 3, 3, 9, 0, 9, 3, 3, 3]) == "flat"  # the middle third does not count
    assert change([1, 1, 1, 1, 1, 1.5]) == pytest.approx(0.25)  # 6 rounds: thirds of 2
    assert direction([2, 2, 2 + FLAT_BITS]) == "ascending" and direction([2, 2, 2 + 0.99 * FLAT_BITS]) == "flat"
    with pytest.raises(ValueError):
        change([1, 2])


def test_every_cell_changes_one_axis_of_its_family_base() -> None:
    cells = grid.study_cells()
    names = [c.name for c in cells]
    assert len(set(names)) == len(names)
    for c in cells:
        base = grid.FAMILIES[c.family]
        changed = {k for k in set(base) | set(c.options) if base.get(k) != c.options.get(k)}
        if c.axis == "base":
            assert not changed
        else:
            assert changed and all(k in c.name for k in changed - {"local_steps", "local_epochs"})
    quick = grid.study_cells(quick=True)
    assert [c.name for c in quick] == list(grid.QUICK)


def _trials(tmp_path: Path, losses: dict[float, list[float | None]]) -> dict[float, Path]:
    folders = {}
    for k, (lr, values) in enumerate(sorted(losses.items())):
        f = tmp_path / f"lr{k}"
        f.mkdir()
        for seed, v in zip(tuning.TUNING_SEEDS, values, strict=True):
            rec = {"lr": lr, "seed": seed, "diverged": v is None, "final_loss": v,
                   "final_accuracy": None if v is None else 0.5}
            tuning.trial_file(f, seed).write_text(json.dumps(rec))
        folders[lr] = f
    return folders


def test_the_tuned_rate_is_the_least_mean_final_loss_and_skips_divergence(tmp_path: Path) -> None:
    cell = grid.study_cells()[0]
    folders = _trials(tmp_path, {0.1: [0.5, 0.7], 0.2: [0.4, 0.6], 0.4: [None, 0.1]})
    picked = tuning.pick(cell, folders)
    assert picked["lr"] == 0.2 and not picked["at_edge"]
    assert picked["trials"][2]["diverged"] and picked["trials"][1]["mean_final_loss"] == pytest.approx(0.5)
    assert tuning.extension(picked) is None


def test_a_rate_at_the_edge_is_extended_and_ties_go_to_the_smaller_step(tmp_path: Path) -> None:
    cell = grid.study_cells()[0]
    (tmp_path / "a").mkdir()
    up = tuning.pick(cell, _trials(tmp_path / "a", {0.1: [0.5, 0.5], 0.2: [0.4, 0.4]}))
    assert up["lr"] == 0.2 and up["at_edge"] and tuning.extension(up) == 0.4
    (tmp_path / "b").mkdir()
    tie = tuning.pick(cell, _trials(tmp_path / "b", {0.1: [0.3, 0.5], 0.2: [0.5, 0.3], 0.4: [0.6, 0.6]}))
    assert tie["lr"] == 0.1 and tuning.extension(tie) == 0.05


def test_all_rates_diverging_is_refused_naming_the_cell(tmp_path: Path) -> None:
    cell = grid.study_cells()[0]
    with pytest.raises(InvalidArgument, match=cell.name.replace("/", ".")):
        tuning.pick(cell, _trials(tmp_path, {0.1: [None, 0.2], 0.2: [None, None]}))


def test_cells_that_differ_only_in_budget_or_rounding_share_their_tuning() -> None:
    by_name = {c.name: c for c in grid.study_cells()}
    base = by_name["digits-logreg"]
    assert tuning.trial_key(base) == tuning.trial_key(by_name["digits-logreg/budget=fixed:4"])
    assert tuning.trial_key(base) == tuning.trial_key(by_name["digits-logreg/quantizer=deterministic"])
    assert tuning.trial_key(base) != tuning.trial_key(by_name["digits-logreg/partition=iid"])


def test_rounds_and_bits_to_target() -> None:
    rows = [{"bits": 10.0, "accuracy_after": a} for a in (0.2, 0.5, 0.8, 0.9)]
    assert to_target(rows, 0.8) == (3, 30.0)
    assert to_target(rows, 0.95) == (None, None)
    assert to_target(rows, 0.1) == (1, 10.0)


def test_saving_is_paired_over_the_seeds_both_reach() -> None:
    mine, theirs = [50.0, 30.0, None, 80.0], [100.0, 100.0, 100.0, None]
    s = _saving("feddq", mine, theirs)
    per_seed = np.array([0.5, 0.7])
    half = float(student_t.ppf(0.975, 1)) * float(np.std(per_seed, ddof=1)) / math.sqrt(2)
    assert s["seeds"] == 2 and s["mean"] == pytest.approx(0.6)
    assert s["ci_low"] == pytest.approx(0.6 - half) and s["ci_high"] == pytest.approx(0.6 + half)
    assert _saving("feddq", [None], [1.0])["seeds"] == 0


def _measured(**over: object) -> dict:
    m = {"best": "feddq", "good": ["feddq", "optimal"], "verdicts": {"feddq": "best", "optimal": "tied",
                                                                      "adaquantfl": "worse"},
         "best_direction": "descending",
         "directions": {"feddq": "descending", "optimal": "flat", "adaquantfl": "ascending"},
         "cost_vs_none": {"feddq": {"mean_difference": 0.1, "verdict": "worse"},
                          "optimal": {"mean_difference": 0.05, "verdict": "tied"},
                          "adaquantfl": {"mean_difference": 0.2, "verdict": "worse"}},
         "noise_helps": []}
    m.update(over)
    return m


def _prediction(**over: object) -> dict:
    p = {"winner": "optimal", "ties": ["feddq", "adaquantfl"], "optimal_direction": "flat", "criterion": "final",
         "predicted_objective": {"feddq": 0.11, "optimal": 0.1, "adaquantfl": 0.9},
         "cost_vs_none": {"feddq": 0.11, "optimal": 0.1, "adaquantfl": 0.9}}
    p.update(over)
    return p


def test_score_of_a_cell() -> None:
    s = score_cell(_prediction(), _measured())
    assert s["winner_hit"] and s["ties_predicted"] == 2 and s["ties_hit"] == 1
    assert not s["direction_hit"] and s["direction_hit_tie_aware"]  # flat: the tied optimal, not the best
    assert s["cost_ratios"] == {"feddq": pytest.approx(1.1), "adaquantfl": pytest.approx(4.5)}  # optimal unresolved
    assert s["misses"] == ["predicted tie adaquantfl measured worse"]
    assert "mis-scaled" in s["diagnosis"] and "adaquantfl" in s["diagnosis"]
    total = study_score([s, score_cell(_prediction(winner="adaquantfl", ties=None), _measured())])
    assert total["winner_hits"] == 1 and total["ties_hit"] == 1 and total["ties_predicted"] == 2
    assert total["cost_ratio_median"] == pytest.approx(np.median([1.1, 4.5, 1.1, 4.5]))


def test_diagnosis_names_the_first_reason_that_applies() -> None:
    assert "regulariser" in diagnose(_prediction(), _measured(noise_helps=["fixed:4"]), {})
    assert "nonconvex" in diagnose(_prediction(criterion="final, nonconvex"), _measured(), {})
    assert "gap" in diagnose(_prediction(), _measured(), {"feddq": 1.1})
