"""``fedquant bound``: symbolic, partial, evaluated (text/json/latex), and one-line errors on bad input."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import matplotlib
import pytest

from fedquant.cli import main
from fedquant.theory import CRITERIA, TERMS, evaluate_bound

matplotlib.use("Agg")
from matplotlib import mathtext

FULL = ["--L", "1", "--lr", "0.05", "--local-steps", "5", "--clients", "10", "--sigma2", "0.1",
        "--zeta2", "0.1", "--gap", "2", "--rounds", "100", "--d", "1000", "--range", "0.1", "--bits", "4"]
FULL_KW = dict(L=1, lr=0.05, local_steps=5, clients=10, sigma2=0.1, zeta2=0.1, gap=2, rounds=100, d=1000,
               range_=0.1, bits=4)
PL = ["--criterion", "pl", "--mu", "0.1"]


def criterion_args(criterion: str) -> tuple[list[str], dict]:
    return (PL, {"mu": 0.1}) if criterion == "pl" else ([], {})


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["bound", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("criterion", CRITERIA)
def test_symbolic_bound_names_every_term(capsys, criterion):
    code, out, err = run(capsys, "--criterion", criterion)
    assert code == 0 and err == ""
    for name in TERMS:
        assert f"  {name}:" in out
    assert "conditions:" in out and "descent" in out
    assert f"criterion: {criterion}" in out


@pytest.mark.parametrize("criterion", CRITERIA)
def test_json_with_all_constants(capsys, criterion):
    extra_argv, extra_kw = criterion_args(criterion)
    code, out, err = run(capsys, *FULL, *extra_argv, "--format", "json")
    assert code == 0 and err == ""
    payload = json.loads(out)
    assert set(payload) == {"criterion", "value", "terms", "conditions", "latex", "step_size_limit"}
    expected = evaluate_bound(criterion, **FULL_KW, **extra_kw)
    assert payload["criterion"] == criterion
    assert payload["value"] == expected.value
    assert payload["terms"] == expected.terms
    assert list(payload["terms"]) == list(TERMS)
    assert sum(payload["terms"].values()) == pytest.approx(payload["value"], rel=1e-12)
    assert payload["conditions"] == expected.conditions
    assert all(payload["conditions"].values())
    assert payload["step_size_limit"] == pytest.approx(0.1, rel=1e-15)  # 1/(2Lτ) with L = 1, τ = 5


def test_json_with_missing_constants_lists_them(capsys):
    code, out, _ = run(capsys, "--L", "1", "--lr", "0.05", "--format", "json")
    assert code == 0
    payload = json.loads(out)
    assert payload["value"] is None
    assert payload["terms"] == dict.fromkeys(TERMS)
    assert payload["missing"] == ["--local-steps", "--clients", "--sigma2", "--zeta2", "--gap", "--rounds",
                                  "--d", "--range", "--levels"]


def test_partial_constants_are_substituted(capsys):
    code, out, err = run(capsys, "--L", "1", "--lr", "0.05", "--local-steps", "5")
    assert code == 0 and err == ""
    assert "with the constants given" in out
    for name in TERMS:
        assert f"  {name}:" in out
    still = "--clients, --sigma2, --zeta2, --gap, --rounds, --d, --range, --levels"
    assert out.rstrip().endswith(f"still symbolic: {still}")


def test_partial_pl_constants_finish(capsys):
    """PL with everything but μ (symbolic ρ^T): must print promptly, in a subprocess so a hang fails."""
    argv = [*FULL[: FULL.index("--bits")], "--criterion", "pl", "--levels", "15"]
    proc = subprocess.run([sys.executable, "-m", "fedquant", "bound", *argv], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("still symbolic: --mu")


def latex_rows(tex: str) -> list[str]:
    lines = tex.strip().splitlines()
    assert lines[0] == r"\begin{aligned}" and lines[-1] == r"\end{aligned}"
    rows = []
    for i, line in enumerate(lines[1:-1]):
        assert line.startswith("& ")
        body = line[2:]
        if i < len(lines) - 3:
            assert body.endswith(r" \\")
            body = body[: -len(r" \\")]
        rows.append(body)
    return rows


@pytest.mark.parametrize("criterion", CRITERIA)
def test_latex_rows_render_in_mathtext(capsys, criterion):
    code, out, err = run(capsys, "--criterion", criterion, "--format", "latex")
    assert code == 0 and err == ""
    rows = latex_rows(out)
    assert len(rows) == 4  # the bound, then c, V_sgd and V_drift
    for row in rows:
        mathtext.math_to_image(f"${row}$", io.BytesIO(), format="png")
    # the JSON carries the same LaTeX
    extra_argv, _ = criterion_args(criterion)
    _, payload, _ = run(capsys, *FULL, *extra_argv, "--format", "json")
    assert json.loads(payload)["latex"] == out.rstrip("\n")


BAD_INPUT = [
    (["--L", "1", "--local-steps", "5", "--lr", "0.2"], "--lr"),
    (["--clients", "0"], "--clients"),
    (["--sigma2", "-1"], "--sigma2"),
    (["--levels", "0.5"], "--levels"),
    (["--criterion", "pl", "--mu", "2", "--L", "1"], "--mu"),
    (["--L", "abc"], "--L"),
    (["--L", "nan"], "--L"),
    (["--bits", "33"], "--bits"),
    (["--bits", "2.5"], "--bits"),
    (["--local-steps", "2.5"], "--local-steps"),
    (["--rounds", "0"], "--rounds"),
    (["--range", "-1"], "--range"),
    (["--d", "0"], "--d"),
    (["--no-quantization", "--range", "0.1"], "--range"),
    (["--levels", "3", "--bits", "2"], "--bits"),
    (["--criterion", "convex"], "--criterion"),
    ([*FULL, "--L", "3"], "--lr"),  # the last --L wins and the limit follows it: 0.05 > 1/(2·3·5)
]


@pytest.mark.parametrize(("argv", "flag"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_bad_input_is_one_line_naming_the_flag(capsys, argv, flag, fmt):
    code, out, err = run(capsys, *argv, "--format", fmt)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    assert lines[0].startswith("fedquant bound: error: ")
    assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", lines[0]), lines[0]


def test_no_quantization_drops_the_term(capsys):
    unquantized = FULL[: FULL.index("--d")]  # everything but --d, --range and --bits
    code, out, _ = run(capsys, *unquantized, "--no-quantization", "--format", "json")
    assert code == 0
    payload = json.loads(out)
    assert payload["terms"]["quantization"] == 0.0
    assert payload["value"] == pytest.approx(sum(payload["terms"].values()), rel=1e-12)
    code, out, _ = run(capsys, *FULL, "--format", "json")
    quantized = json.loads(out)
    assert quantized["terms"]["quantization"] > 0
    for name in ("initial_gap", "sgd_noise", "drift"):
        assert quantized["terms"][name] == payload["terms"][name]


def test_text_value_table(capsys):
    code, out, err = run(capsys, *FULL)
    assert code == 0 and err == ""
    result = evaluate_bound("nonconvex", **FULL_KW)
    assert f"≤ {result.value:.6g}" in out
    for name in TERMS:
        assert re.search(rf"^  {name}\s+{re.escape(format(result.terms[name], '.6g'))}\s", out, re.M), name
    assert f"dominant term: {result.dominant()}" in out
    assert "descent holds, drift holds" in out


def test_help_lists_the_flags(capsys):
    with pytest.raises(SystemExit) as info:
        main(["bound", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--criterion", "--format", "--no-quantization", "--range", "--bits", "--levels", "--mu"):
        assert flag in out


def test_installed_console_script(console_script):
    exe = console_script
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def call(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(exe), "bound", *argv], capture_output=True, text=True, env=env, timeout=60,
                              check=False)

    proc = call()
    assert proc.returncode == 0 and proc.stderr == ""
    assert all(f"  {name}:" in proc.stdout for name in TERMS)
    proc = call(*FULL, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["value"] == evaluate_bound("nonconvex", **FULL_KW).value
    proc = call("--clients", "0")
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "--clients" in proc.stderr


def test_bound_does_not_load_torch_or_sympy():
    """`fedquant bound` from a warm cache needs neither torch nor sympy."""
    code = (
        "import contextlib, io, json, sys\n"
        "from fedquant.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    codes = [main(['bound']), main(['bound', *sys.argv[1:]])]\n"
        "print(json.dumps({'codes': codes, 'loaded': [m for m in ('torch', 'sympy') if m in sys.modules]}))\n"
    )
    evaluate_bound("nonconvex", **FULL_KW)  # the cache is warm for the child
    proc = subprocess.run([sys.executable, "-c", code, *FULL, "--format", "json"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"codes": [0, 0], "loaded": []}
