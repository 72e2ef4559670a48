"""``fedquant validate``: a tiny run (text and JSON), and bad input refused at the door with nothing written."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fedquant.cli import main

TINY = ["--dataset", "digits", "--model", "logreg", "--clients", "4", "--rounds", "4", "--seeds", "0",
        "--schemes", "none,fixed:4,feddq", "--no-progress"]
CHECKS = ("quant_error", "one_step", "bound", "ranking", "prediction")
FILES = ("rounds.csv", "clients.csv", "summary.json", "report.md", "accuracy_vs_bits.png", "levels.png",
         "range.png", "predicted_vs_measured.png")


def validate(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny experiment (made through the CLI), for the --out / --resume refusals."""
    out = tmp_path_factory.mktemp("cli") / "done"
    assert main(["validate", *TINY, "--out", str(out)]) == 0
    return out


def test_tiny_run_prints_summary_and_checks(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, err = validate(capsys, *TINY, "--out", str(out))
    assert code == 0, err
    assert err == ""
    lines = stdout.splitlines()
    assert lines[0].startswith("fedquant validate — digits/logreg, 4 clients, 4 rounds")
    header = next(i for i, line in enumerate(lines) if line.startswith("scheme"))
    assert "bits (M)" in lines[header] and "final acc" in lines[header]
    assert [line.split()[0] for line in lines[header + 1:header + 4]] == ["none", "fixed:4", "feddq"]
    # columns two spaces apart at least, every value right-aligned under its header (never wider than the column)
    titles = re.split(r"\s{2,}", lines[header])
    assert titles[:3] == ["scheme", "bits (M)", "of budget"] and "Δacc vs none" in titles
    ends = [lines[header].index(t) + len(t) for t in titles[1:]]
    for row in lines[header + 1:header + 4]:
        assert all(row[e - 1] != " " and (e == len(row) or row[e:e + 2] == "  ") for e in ends), row
    assert lines[header + 4] == ""
    assert lines[header + 5].startswith("budget: fixed:1.5 = what 1.5 bits per coordinate would spend, ")  # the demo
    assert "feddq" in lines[header + 6] and "as given: none (unquantized), fixed:4" in lines[header + 6]
    start = lines.index("checks (predicted vs measured):")
    assert [line.split()[0] for line in lines[start + 1:start + 6]] == list(CHECKS)
    assert all(line.split()[1] in ("holds", "FAILS", "n/a") for line in lines[start + 1:start + 5])
    assert len({line.index(line.split()[1]) for line in lines[start + 1:start + 5]}) == 1  # one column
    assert all(re.match(r"^\S+\s{2,}\S+\s{2,}\S", line) for line in lines[start + 1:start + 5])
    assert f"wrote {out}/rounds.csv" in stdout
    for name in FILES:
        assert (out / name).is_file(), name


def test_json_format_prints_one_object(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, stdout, err = validate(capsys, *TINY, "--format", "json", "--out", str(tmp_path / "out"))
    assert code == 0 and err == ""
    assert stdout.count("\n") == 1
    payload = json.loads(stdout)
    assert list(payload["schemes"]) == ["none", "fixed:4", "feddq"]
    assert set(payload["checks"]) == set(CHECKS)
    assert payload == json.loads((tmp_path / "out" / "summary.json").read_text())


BAD = [
    (["--dataset", "foo"], "--dataset"),
    (["--schemes", "none,bogus"], "--schemes"),
    (["--participation", "0"], "--participation"),
    (["--participation", "1.5"], "--participation"),
    (["--lr", "0"], "--lr"),
    (["--lr", "-1"], "--lr"),
    (["--partition", "shards:20"], "--partition"),  # digits has 10 classes
    (["--partition", "dirichlet:-1"], "--partition"),
    (["--clients", "5000"], "--clients"),  # more clients than digits' 1437 training samples
    (["--seeds", "a,b"], "--seeds"),
    (["--seeds", "0,0"], "--seeds"),
    (["--momentum", "1"], "--momentum"),
    (["--local-steps", "0"], "--local-steps"),
    (["--budget", "lots"], "--budget"),
    (["--trace", "no/such/trace.csv"], "--trace"),
]


@pytest.mark.parametrize(("argv", "flag"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_one_line_and_nothing_written(capsys: pytest.CaptureFixture, tmp_path: Path, argv: list[str],
                                                flag: str) -> None:
    out = tmp_path / "never"
    code, stdout, err = validate(capsys, *TINY, *argv, "--out", str(out))
    assert code == 2
    assert stdout == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith("fedquant validate: error:") and flag in err, err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_existing_out_without_resume(capsys: pytest.CaptureFixture, finished: Path) -> None:
    before = {p: p.read_bytes() for p in finished.rglob("*") if p.is_file()}
    code, stdout, err = validate(capsys, *TINY, "--out", str(finished))
    assert code == 2 and stdout == ""
    assert len(err.splitlines()) == 1 and "--out" in err and "--resume" in err
    assert {p: p.read_bytes() for p in finished.rglob("*") if p.is_file()} == before


def test_resume_with_another_config(capsys: pytest.CaptureFixture, finished: Path) -> None:
    before = {p: p.read_bytes() for p in finished.rglob("*") if p.is_file()}
    code, stdout, err = validate(capsys, *TINY, "--lr", "0.1", "--resume", "--out", str(finished))
    assert code == 2 and stdout == ""
    assert len(err.splitlines()) == 1 and "--resume" in err and "lr" in err
    assert {p: p.read_bytes() for p in finished.rglob("*") if p.is_file()} == before


def test_resume_of_a_finished_run_changes_nothing(capsys: pytest.CaptureFixture, finished: Path,
                                                  tmp_path: Path) -> None:
    work = tmp_path / "copy"
    shutil.copytree(finished, work)
    code, _, err = validate(capsys, *TINY, "--resume", "--out", str(work))
    assert code == 0, err
    for name in ("rounds.csv", "clients.csv", "summary.json", "report.md"):
        assert (work / name).read_bytes() == (finished / name).read_bytes()


def test_error_feedback_flag_is_saved_and_its_rows_appear(capsys: pytest.CaptureFixture, tmp_path: Path,
                                                          finished: Path) -> None:
    out = tmp_path / "ef"
    code, _, err = validate(capsys, *TINY, "--quantizer", "deterministic", "--error-feedback", "--out", str(out))
    assert code == 0, err
    assert json.loads((out / "config.json").read_text())["config"]["error_feedback"] is True
    assert json.loads((out / "summary.json").read_text())["config"]["error_feedback"] is True
    ef_keys = {"residual_norm2", "residual_max_norm2", "agg_error_norm2"}
    for scheme in ("fixed_4", "feddq"):
        rows = json.loads((out / "runs" / "seed0" / f"{scheme}.json").read_text())["rows"]
        assert all(ef_keys <= set(r) for r in rows)
        assert rows[0]["residual_norm2"] == 0.0 and rows[-1]["residual_max_norm2"] > 0
    reference = json.loads((out / "runs" / "seed0" / "none.json").read_text())["rows"]
    assert not ef_keys & {k for r in reference for k in r}  # the unquantized reference has no residual
    # off is not saved, and a folder written without the flag does not resume with it
    assert "error_feedback" not in json.loads((finished / "config.json").read_text())["config"]
    code, stdout, err = validate(capsys, *TINY, "--error-feedback", "--resume", "--out", str(finished))
    assert code == 2 and stdout == ""
    assert len(err.splitlines()) == 1 and "--resume" in err and "error_feedback" in err


def test_installed_console_script_runs_a_tiny_experiment(tmp_path: Path, console_script: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = tmp_path / "tmp"
    proc = subprocess.run([str(console_script), "validate", *TINY, "--out", str(out)], capture_output=True,
                          text=True, env=env, timeout=300, check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "checks (predicted vs measured):" in proc.stdout
    for check in CHECKS:
        assert check in proc.stdout
    for name in FILES:
        assert (out / name).is_file(), name
    proc = subprocess.run([str(console_script), "validate", *TINY, "--out", str(out)], capture_output=True,
                          text=True, env=env, timeout=300, check=False, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "--out" in proc.stderr
