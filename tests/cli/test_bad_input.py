"""Every bad input is a clean refusal: exit 2, one line on stderr naming the flag the user typed, nothing written.

The battery runs ``fedquant.cli.main`` in-process in an empty working folder that holds only the input files
a case needs (damaged traces, a plain file, a damaged experiment folder). After each case the folder must be
exactly as it was — same paths, same sizes, same modification times — so the corrected rerun just works.
Cases cover every flag type of ``bound``, ``schedule``, ``validate`` and ``bench``: NaN, inf, negative, zero,
empty, huge, wrong type, unknown names, damaged files and unwritable paths.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from fedquant.cli import main

BOUND = ["bound", "--L", "1", "--lr", "0.05", "--local-steps", "5", "--clients", "10", "--sigma2", "0.1",
         "--zeta2", "0.1", "--gap", "2", "--rounds", "100", "--d", "1000", "--range", "0.1", "--bits", "4"]
SCHEDULE = ["schedule", "--scheme", "optimal", "--budget", "1e6", "--rounds", "5", "--clients", "2", "--d", "10",
            "--range-model", "const:0.1"]
VALIDATE = ["validate", "--rounds", "3", "--seeds", "0", "--schemes", "none,fixed:2", "--out", "out", "--no-progress"]
#: a path no process can create anything in, even as root: a folder inside a regular file
UNWRITABLE = "afile/inside"


def with_flag(base: list[str], flag: str, *values: str) -> list[str]:
    """``base`` with ``flag`` set to ``values`` (replacing its value when base has it, else appended)."""
    out = list(base)
    if flag in out:
        i = out.index(flag)
        del out[i:i + 2]
    return [*out, flag, *values]


def without(base: list[str], flag: str) -> list[str]:
    out = list(base)
    i = out.index(flag)
    del out[i:i + 2]
    return out


def trace_schedule(name: str) -> list[str]:
    return [*without(without(without(SCHEDULE, "--rounds"), "--range-model"), "--clients"), "--clients", "2",
            "--trace", name]


CASES: list[tuple[str, list[str], str]] = [
    # ---- bound: every constant, every kind of bad number
    ("bound L nan", with_flag(BOUND, "--L", "nan"), "--L"),
    ("bound L inf", with_flag(BOUND, "--L", "inf"), "--L"),
    ("bound L negative", with_flag(BOUND, "--L", "-1"), "--L"),
    ("bound L zero", with_flag(BOUND, "--L", "0"), "--L"),
    ("bound L empty", with_flag(BOUND, "--L", ""), "--L"),
    ("bound L word", with_flag(BOUND, "--L", "one"), "--L"),
    ("bound lr zero", with_flag(BOUND, "--lr", "0"), "--lr"),
    ("bound lr past the limit", with_flag(BOUND, "--lr", "0.5"), "--lr"),
    ("bound local steps fractional", with_flag(BOUND, "--local-steps", "1.5"), "--local-steps"),
    ("bound local steps zero", with_flag(BOUND, "--local-steps", "0"), "--local-steps"),
    ("bound clients zero", with_flag(BOUND, "--clients", "0"), "--clients"),
    ("bound sigma2 negative", with_flag(BOUND, "--sigma2", "-1"), "--sigma2"),
    ("bound zeta2 nan", with_flag(BOUND, "--zeta2", "nan"), "--zeta2"),
    ("bound gap negative", with_flag(BOUND, "--gap", "-2"), "--gap"),
    ("bound rounds word", with_flag(BOUND, "--rounds", "abc"), "--rounds"),
    ("bound d zero", with_flag(BOUND, "--d", "0"), "--d"),
    ("bound range negative", with_flag(BOUND, "--range", "-0.1"), "--range"),
    ("bound bits zero", with_flag(BOUND, "--bits", "0"), "--bits"),
    ("bound bits huge", with_flag(BOUND, "--bits", "1e6"), "--bits"),
    ("bound bits fractional", with_flag(BOUND, "--bits", "2.5"), "--bits"),
    ("bound levels and bits", [*BOUND, "--levels", "3"], "--levels"),
    ("bound levels below one", [*without(BOUND, "--bits"), "--levels", "0.5"], "--levels"),
    ("bound mu above L", [*BOUND, "--criterion", "pl", "--mu", "2"], "--mu"),
    ("bound criterion", [*BOUND, "--criterion", "convex"], "--criterion"),
    ("bound format", [*BOUND, "--format", "xml"], "--format"),
    ("bound unknown flag", [*BOUND, "--sigma", "1"], "--sigma"),
    # ---- schedule: budget, problem, schemes, models, traces, plot
    ("schedule budget zero", with_flag(SCHEDULE, "--budget", "0"), "--budget"),
    ("schedule persistence family", with_flag(SCHEDULE, "--persistence", "cubic:1"), "--persistence"),
    ("schedule persistence rho", with_flag(SCHEDULE, "--persistence", "exp:1,2"), "--persistence"),
    ("schedule persistence zero", with_flag(SCHEDULE, "--persistence", "const:0"), "--persistence"),
    ("schedule final without persistence", with_flag(SCHEDULE, "--criterion", "final"), "--persistence"),
    ("schedule persistence not final", [*with_flag(SCHEDULE, "--criterion", "pl"), "--rho", "0.9", "--persistence",
                                        "exp:1,0.5"], "--persistence"),
    ("schedule budget negative", with_flag(SCHEDULE, "--budget", "-5"), "--budget"),
    ("schedule budget nan", with_flag(SCHEDULE, "--budget", "nan"), "--budget"),
    ("schedule budget inf", with_flag(SCHEDULE, "--budget", "inf"), "--budget"),
    ("schedule budget empty", with_flag(SCHEDULE, "--budget", ""), "--budget"),
    ("schedule budget below the minimum", with_flag(SCHEDULE, "--budget", "10"), "--budget"),
    ("schedule budget unit", with_flag(SCHEDULE, "--budget", "12XB"), "--budget"),
    ("schedule budget huge", with_flag(SCHEDULE, "--budget", "1e400"), "--budget"),
    ("schedule rounds zero", with_flag(SCHEDULE, "--rounds", "0"), "--rounds"),
    ("schedule clients negative", with_flag(SCHEDULE, "--clients", "-1"), "--clients"),
    ("schedule d zero", with_flag(SCHEDULE, "--d", "0"), "--d"),
    ("schedule d word", with_flag(SCHEDULE, "--d", "10,x"), "--d"),
    ("schedule d empty", with_flag(SCHEDULE, "--d", ""), "--d"),
    ("schedule range model nan", with_flag(SCHEDULE, "--range-model", "exp:nan,0.9"), "--range-model"),
    ("schedule range model kind", with_flag(SCHEDULE, "--range-model", "bogus:1"), "--range-model"),
    ("schedule range model negative", with_flag(SCHEDULE, "--range-model", "exp:-1,0.9"), "--range-model"),
    ("schedule loss model arity", [*SCHEDULE, "--loss-model", "exp:1"], "--loss-model"),
    ("schedule scheme bits zero", with_flag(SCHEDULE, "--scheme", "fixed:0"), "--scheme"),
    ("schedule scheme bits huge", with_flag(SCHEDULE, "--scheme", "fixed:99"), "--scheme"),
    ("schedule scheme negative delta", with_flag(SCHEDULE, "--scheme", "feddq:delta=-1"), "--scheme"),
    ("schedule scheme granularity", with_flag(SCHEDULE, "--scheme", "optimal:granularity=bogus"), "--scheme"),
    ("schedule scheme name", with_flag(SCHEDULE, "--scheme", "nope"), "--scheme"),
    ("schedule scheme empty", with_flag(SCHEDULE, "--scheme", ""), "--scheme"),
    ("schedule scheme key", with_flag(SCHEDULE, "--scheme", "feddq:gamma=1"), "--scheme"),
    ("schedule bits min zero", [*SCHEDULE, "--bits-min", "0"], "--bits-min"),
    ("schedule bits max huge", [*SCHEDULE, "--bits-max", "99"], "--bits-max"),
    ("schedule rho above one", [*SCHEDULE, "--criterion", "pl", "--rho", "1.5"], "--rho"),
    ("schedule rho nan", [*SCHEDULE, "--criterion", "pl", "--rho", "nan"], "--rho"),
    ("schedule lr past the bound's limit", [*SCHEDULE, "--L", "1", "--lr", "0.5", "--local-steps", "5"], "--lr"),
    ("schedule mu negative", [*SCHEDULE, "--L", "1", "--mu", "-1"], "--mu"),
    ("schedule csv of several", [*with_flag(SCHEDULE, "--scheme", "optimal,feddq"), "--format", "csv"], "--format"),
    ("schedule trace missing", trace_schedule("missing.csv"), "--trace"),
    ("schedule trace binary", trace_schedule("binary.csv"), "--trace"),
    ("schedule trace empty", trace_schedule("empty.csv"), "--trace"),
    ("schedule trace column", trace_schedule("nocolumn.csv"), "--trace"),
    ("schedule trace nan", trace_schedule("nan.csv"), "--trace"),
    ("schedule trace negative", trace_schedule("negative.csv"), "--trace"),
    ("schedule trace shuffled", trace_schedule("shuffled.csv"), "--trace"),
    ("schedule trace folder", trace_schedule("afolder"), "--trace"),
    ("schedule trace seed", [*trace_schedule("seeded.csv"), "--trace-seed", "9"], "--trace-seed"),
    ("schedule plot missing folder", [*SCHEDULE, "--plot", "nodir/x.png"], "--plot"),
    ("schedule plot suffix", [*SCHEDULE, "--plot", "x.txt"], "--plot"),
    ("schedule plot folder", [*SCHEDULE, "--plot", "afolder"], "--plot"),
    ("schedule plot empty", [*SCHEDULE, "--plot", ""], "--plot"),
    ("schedule plot unwritable", [*SCHEDULE, "--plot", UNWRITABLE + "/x.png"], "--plot"),
    ("schedule unknown flag", with_flag(without(SCHEDULE, "--budget"), "--budgte", "1e6"), "--budgte"),
    # ---- validate: schemes, traces, budgets, output folders, every experiment option
    ("validate scheme bits zero", with_flag(VALIDATE, "--schemes", "none,fixed:0"), "--schemes"),
    ("validate scheme bits huge", with_flag(VALIDATE, "--schemes", "none,fixed:40"), "--schemes"),
    ("validate scheme negative delta", with_flag(VALIDATE, "--schemes", "none,feddq:delta=-1"), "--schemes"),
    ("validate scheme granularity", with_flag(VALIDATE, "--schemes", "none,optimal:granularity=bogus"), "--schemes"),
    ("validate schemes empty", with_flag(VALIDATE, "--schemes", ""), "--schemes"),
    ("validate schemes repeated", with_flag(VALIDATE, "--schemes", "none,none"), "--schemes"),
    ("validate trace binary", [*VALIDATE, "--trace", "binary.csv"], "--trace"),
    ("validate trace empty", [*VALIDATE, "--trace", "empty.csv"], "--trace"),
    ("validate trace column", [*VALIDATE, "--trace", "nocolumn.csv"], "--trace"),
    ("validate trace nan", [*VALIDATE, "--trace", "nan.csv"], "--trace"),
    ("validate trace negative", [*VALIDATE, "--trace", "negative.csv"], "--trace"),
    ("validate trace shuffled", [*VALIDATE, "--trace", "shuffled.csv"], "--trace"),
    ("validate trace missing", [*VALIDATE, "--trace", "missing.csv"], "--trace"),
    ("validate budget below the minimum", [*VALIDATE, "--budget", "10"], "--budget"),
    ("validate budget width zero", [*VALIDATE, "--budget", "fixed:0"], "--budget"),
    ("validate budget width huge", [*VALIDATE, "--budget", "fixed:17"], "--budget"),
    ("validate budget width nan", [*VALIDATE, "--budget", "fixed:nan"], "--budget"),
    ("validate budget negative", [*VALIDATE, "--budget", "-1"], "--budget"),
    ("validate budget word", [*VALIDATE, "--budget", "lots"], "--budget"),
    ("validate out empty", with_flag(VALIDATE, "--out", ""), "--out"),
    ("validate out unwritable", with_flag(VALIDATE, "--out", UNWRITABLE), "--out"),
    ("validate out a file", with_flag(VALIDATE, "--out", "afile"), "--out"),
    ("validate out holds an experiment", with_flag(VALIDATE, "--out", "finished"), "--out"),
    ("validate resume damaged config", [*with_flag(VALIDATE, "--out", "damaged_config"), "--resume"], "--resume"),
    ("validate resume damaged run", [*with_flag(VALIDATE, "--out", "damaged_run"), "--resume"], "--resume"),
    ("validate resume foreign folder", [*with_flag(VALIDATE, "--out", "afolder"), "--resume"], "--resume"),
    ("validate resume other config", [*with_flag(VALIDATE, "--out", "finished"), "--resume", "--lr", "0.1"],
     "--resume"),
    ("validate clients zero", [*VALIDATE, "--clients", "0"], "--clients"),
    ("validate clients huge", [*VALIDATE, "--clients", "100000"], "--clients"),
    ("validate participation zero", [*VALIDATE, "--participation", "0"], "--participation"),
    ("validate participation above one", [*VALIDATE, "--participation", "1.5"], "--participation"),
    ("validate participation nan", [*VALIDATE, "--participation", "nan"], "--participation"),
    ("validate lr negative", [*VALIDATE, "--lr", "-0.1"], "--lr"),
    ("validate lr inf", [*VALIDATE, "--lr", "inf"], "--lr"),
    ("validate momentum one", [*VALIDATE, "--momentum", "1"], "--momentum"),
    ("validate partition alpha", [*VALIDATE, "--partition", "dirichlet:-1"], "--partition"),
    ("validate partition shards", [*VALIDATE, "--partition", "shards:99"], "--partition"),
    ("validate partition kind", [*VALIDATE, "--partition", "bogus"], "--partition"),
    ("validate dataset", [*VALIDATE, "--dataset", "cifar"], "--dataset"),
    ("validate model", [*VALIDATE, "--model", "resnet"], "--model"),
    ("validate quantizer", [*VALIDATE, "--quantizer", "topk"], "--quantizer"),
    ("validate seeds words", with_flag(VALIDATE, "--seeds", "a,b"), "--seeds"),
    ("validate seeds negative", with_flag(VALIDATE, "--seeds", "-1"), "--seeds"),
    ("validate seeds repeated", with_flag(VALIDATE, "--seeds", "0,0"), "--seeds"),
    ("validate seeds huge", with_flag(VALIDATE, "--seeds", "99999999999999999999"), "--seeds"),
    ("validate batch size huge", [*VALIDATE, "--batch-size", "100000000000000000000"], "--batch-size"),
    ("validate local steps huge", [*VALIDATE, "--local-steps", "1000000000"], "--local-steps"),
    ("validate rounds zero", with_flag(VALIDATE, "--rounds", "0"), "--rounds"),
    ("validate rounds huge", with_flag(VALIDATE, "--rounds", "10000000"), "--rounds"),
    ("validate pilot beyond the run", [*VALIDATE, "--pilot-rounds", "9"], "--pilot-rounds"),
    ("validate calibration runs negative", [*VALIDATE, "--calibration-runs", "-1"], "--calibration-runs"),
    ("validate calibration runs huge", [*VALIDATE, "--calibration-runs", "1000"], "--calibration-runs"),
    ("validate downlink zero", [*VALIDATE, "--downlink-bits", "0"], "--downlink-bits"),
    ("validate downlink huge", [*VALIDATE, "--downlink-bits", "99"], "--downlink-bits"),
    ("validate target accuracy", [*VALIDATE, "--target-accuracy", "1.5"], "--target-accuracy"),
    ("validate engine", [*VALIDATE, "--engine", "gpu"], "--engine"),
    ("validate blocks", [*VALIDATE, "--blocks", "layer"], "--blocks"),
    ("validate batch size zero", [*VALIDATE, "--batch-size", "0"], "--batch-size"),
    ("validate local steps and epochs", [*VALIDATE, "--local-steps", "2", "--local-epochs", "1"], "--local-epochs"),
    ("validate preset", [*VALIDATE, "--preset", "huge"], "--preset"),
    ("validate unknown flag", [*VALIDATE, "--bogus"], "--bogus"),
    # ---- bench
    ("bench rounds zero", ["bench", "schedule", "--rounds", "0"], "--rounds"),
    ("bench rounds huge", ["bench", "schedule", "--rounds", "10000000000"], "--rounds"),
    ("bench elements negative", ["bench", "quantize", "--elements", "-1"], "--elements"),
    ("bench elements huge", ["bench", "quantize", "--elements", "1000000000000"], "--elements"),
    ("bench threads zero", ["bench", "engine", "--threads", "0"], "--threads"),
    ("bench threads word", ["bench", "engine", "--threads", "two"], "--threads"),
    ("bench part", ["bench", "gpu"], "part"),
    ("bench format", ["bench", "theory", "--format", "xml"], "--format"),
    # ---- the command itself
    ("command unknown", ["train"], "COMMAND"),
    ("command unknown flag", ["--bogus"], "--bogus"),
]


def make_inputs(folder: Path) -> None:
    """The files the cases read: damaged traces, a plain file, folders, experiment folders."""
    (folder / "binary.csv").write_bytes(b"\x00\x01\xff\xfe\x80 not text")
    (folder / "empty.csv").write_text("")
    (folder / "nocolumn.csv").write_text("round,loss\n0,1.0\n1,0.9\n")
    (folder / "nan.csv").write_text("round,loss,range\n0,1.0,nan\n1,0.9,0.1\n")
    (folder / "negative.csv").write_text("round,loss,range\n0,1.0,-0.1\n1,0.9,0.1\n")
    (folder / "shuffled.csv").write_text("round,loss,range\n1,0.9,0.1\n0,1.0,0.2\n2,0.8,0.1\n")
    (folder / "seeded.csv").write_text("round,loss,range,seed\n0,1.0,0.2,0\n1,0.9,0.1,0\n")
    (folder / "afile").write_text("a plain file\n")
    (folder / "afolder").mkdir()
    (folder / "afolder" / "notes.txt").write_text("not an experiment\n")
    from fedquant.cli.validate import config_from
    from fedquant.run_folder import FORMAT

    parser_args = _namespace(VALIDATE)
    config = {"format": FORMAT, "config": config_from(parser_args).to_json()}
    for name in ("finished", "damaged_run", "damaged_config"):
        run = folder / name / "runs" / "seed0"
        run.mkdir(parents=True)
        (folder / name / "config.json").write_text(json.dumps(config))
        (run / "none.json").write_text('{"format": 1, "scheme": "none", "seed": 0, "rows": []}')
    (folder / "damaged_run" / "runs" / "seed0" / "none.json").write_text('{"format": 1, "sch')
    (folder / "damaged_config" / "config.json").write_text("")


def _namespace(argv: list[str]):
    from fedquant.cli import build_parser

    return build_parser().parse_args(argv)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad_input")
    make_inputs(folder)
    return folder


def test_the_battery_is_large_and_names_are_unique() -> None:
    assert len(CASES) >= 60
    assert len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("argv", "flag"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_cleanly(workdir: Path, argv: list[str], flag: str, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(workdir)
    before = snapshot(workdir)
    code = main(argv)
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert lines[0].startswith(f"fedquant {argv[0]}: error: " if argv[0] in ("bound", "schedule", "validate",
                                                                             "bench") else "fedquant: error: "), err
    assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", lines[0]), (flag, err)  # the flag itself
    assert "Traceback" not in err and out == ""
    assert snapshot(workdir) == before, "a refused run wrote or changed a file"


def test_no_file_leaks_into_the_working_folder_on_success(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The control: the same folder check passes a valid command that writes only what it was asked to."""
    monkeypatch.chdir(tmp_path)
    assert main([*SCHEDULE, "--plot", "levels.png"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["levels.png"]
    assert capsys.readouterr().err == ""


def test_refused_in_a_worker_process_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A refusal raised once training runs — here inside the seeds' process pool — is still one line, exit 2,
    and leaves no folder behind, so the corrected rerun starts afresh."""
    from fedquant.errors import InvalidArgument

    monkeypatch.chdir(tmp_path)
    (tmp_path / "zero_loss.csv").write_text("round,loss,range\n0,0,0.1\n1,0,0.1\n2,0,0.1\n")
    argv = [*with_flag(VALIDATE, "--seeds", "0,1"), "--jobs", "2", "--schemes", "none,adaquantfl", "--trace",
            "zero_loss.csv"]
    assert main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fedquant validate: error: "), lines
    assert sorted(os.listdir(tmp_path)) == ["zero_loss.csv"]
    import pickle

    err = pickle.loads(pickle.dumps(InvalidArgument("loss", "a positive loss", 0.0)))  # crosses a process pool
    assert (err.argument, err.allowed, err.got, str(err)) == ("loss", "a positive loss", 0.0,
                                                              "loss: a positive loss, got 0.0")


def test_unquantized_only_run_is_quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """``validate --schemes none`` (no quantized scheme to plot) prints no warning: empty legends used to leak a
    matplotlib UserWarning to stderr."""
    import warnings

    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(with_flag(VALIDATE, "--schemes", "none")) == 0
    assert [str(w.message) for w in caught] == []
    assert capsys.readouterr().err == ""
