"""``fedquant bound``: symbolic, partial, evaluated (text/json/latex), and one-line errors on bad input."""

from __future__ import annotations

import io
import json
import math
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
    assert f"criterion: {criterion}" in out
    # the one condition of the one-round inequality, ηLτ ≤ 1, under its name
    conditions = out.split("  conditions:\n", 1)[1]
    assert re.search(r"^    step size: L⋅τ⋅η ≤ 1$", conditions, re.M), conditions
    assert "drift" not in conditions and "1/2" not in conditions  # the old drift and ηLτ ≤ 1/2 conditions are gone
    assert "descent: c > 0" in conditions  # the descent coefficient must be positive (sampling can lower it)
    # the one-round coefficients c, b, v are defined under "where"
    where = out.split("  where\n", 1)[1].split("  conditions:\n", 1)[0]
    for symbol in ("c = ", "bₜ = ", "vₜ = ", "s_ξ = "):
        assert symbol in where, symbol
    if criterion == "pl":
        assert "ρ = 1 − 2μ(1 − ε)c" in where


@pytest.mark.parametrize("criterion", CRITERIA)
def test_json_with_all_constants(capsys, criterion):
    extra_argv, extra_kw = criterion_args(criterion)
    code, out, err = run(capsys, *FULL, *extra_argv, "--format", "json")
    assert code == 0 and err == ""
    payload = json.loads(out)
    assert set(payload) == {"criterion", "value", "terms", "conditions", "latex", "step_size_limit", "coefficients"}
    expected = evaluate_bound(criterion, **FULL_KW, **extra_kw)
    assert payload["criterion"] == criterion
    assert payload["value"] == expected.value
    assert payload["terms"] == expected.terms
    assert list(payload["terms"]) == list(TERMS)
    assert sum(payload["terms"].values()) == pytest.approx(payload["value"], rel=1e-12)
    assert payload["conditions"] == expected.conditions
    # ηLτ = 0.05 · 1 · 5 = 0.25 ≤ 1 (and μ = 0.1 ≤ L for pl)
    assert payload["conditions"] == ({"step size": True, "descent": True, "pl": True} if criterion == "pl"
                                     else {"step size": True, "descent": True})
    assert payload["step_size_limit"] == pytest.approx(0.2, rel=1e-15)  # 1/(Lτ) with L = 1, τ = 5
    assert payload["coefficients"] == expected.coefficients
    co = payload["coefficients"]
    assert co["omega"] == 0 and co["sampled"] == 10  # full participation
    assert co["c"] > 0 and co["b"] > 0 and co["v"] > 0
    if criterion == "nonconvex":
        # (√B + √(B + K))²/c, B = b²/(4c), K = Δ₀/T + v + (L/2)·d R²/(4 N s²) with s = 2⁴ − 1 = 15
        K = 2 / 100 + co["v"] + 0.5 * 1000 * 0.1**2 / (4 * 10 * 15**2)
        B = co["b"] ** 2 / (4 * co["c"])
        assert payload["value"] == pytest.approx((math.sqrt(B) + math.sqrt(B + K)) ** 2 / co["c"], rel=1e-12)
        assert payload["terms"]["initial_gap"] == pytest.approx(2 / 100 / co["c"], rel=1e-12)
    else:
        assert 0 < co["split"] < 1 and 0 <= co["rho"] < 1


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
    assert len(rows) == 5  # the bound, the one-round inequality, then c, b and v
    assert r"\leq" in rows[0] and r"\leq" in rows[1]
    assert rows[2].startswith("c = ") and rows[3].startswith("b_t = ") and rows[4].startswith("v_t = ")
    for row in rows:
        mathtext.math_to_image(f"${row}$", io.BytesIO(), format="png")
    # the JSON carries the same LaTeX
    extra_argv, _ = criterion_args(criterion)
    _, payload, _ = run(capsys, *FULL, *extra_argv, "--format", "json")
    assert json.loads(payload)["latex"] == out.rstrip("\n")


BAD_INPUT = [
    (["--L", "1", "--local-steps", "5", "--lr", "0.25"], "--lr"),  # ηLτ = 1.25 > 1
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
    ([*FULL, "--L", "5"], "--lr"),  # the last --L wins and the limit follows it: 0.05 > 1/(5·5)
    (["--participation", "1.5"], "--participation"),
    (["--participation", "0"], "--participation"),
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


@pytest.mark.parametrize(("argv", "L", "lr", "limit"), [
    (["--L", "1", "--local-steps", "5", "--lr", "0.25"], "1", "0.25", "0.2"),  # ηLτ = 1.25
    (["--L", "1", "--local-steps", "5", "--lr", "0.2000001"], "1", "0.2000001", "0.2"),  # just above 1/(Lτ)
    ([*FULL, "--L", "5"], "5", "0.05", "0.04"),  # ηLτ = 1.25 with the last --L
])
def test_lr_above_the_step_size_limit_names_the_limit(capsys, argv, L, lr, limit):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert (f"--lr: at most the step-size limit {limit} for L = {L} and τ = 5 (condition ηLτ ≤ 1), got {lr}"
            in err), err


def test_lr_at_the_step_size_limit_is_accepted(capsys):
    """ηLτ ≤ 1 is not strict: η = 1/(Lτ) = 0.2 evaluates (the old limit 1/(2Lτ) = 0.1 would have refused it)."""
    code, out, err = run(capsys, *FULL[: FULL.index("--lr")], "--lr", "0.2", *FULL[FULL.index("--lr") + 2:],
                         "--format", "json")
    assert code == 0 and err == ""
    payload = json.loads(out)
    assert payload["conditions"] == {"step size": True, "descent": True} and payload["value"] > 0


def test_participation(capsys):
    """One of ten clients per round: ω = (N − n)/(n(N − 1)) = 9/9 = 1, and sampling makes the bound larger."""
    code, out, err = run(capsys, *FULL, "--participation", "0.1")
    assert code == 0 and err == ""
    assert "1 of 10 clients per round, ω = 1" in out
    sampled = evaluate_bound("nonconvex", **FULL_KW, participation=0.1)
    assert sampled.coefficients["omega"] == 1.0 and sampled.coefficients["sampled"] == 1
    assert f"≤ {sampled.value:.6g}" in out
    full = evaluate_bound("nonconvex", **FULL_KW)
    assert sampled.value > full.value
    # the sampling deviation lowers c and raises b and v
    assert sampled.coefficients["c"] < full.coefficients["c"]
    assert sampled.coefficients["b"] > full.coefficients["b"] and sampled.coefficients["v"] > full.coefficients["v"]
    # full participation prints no sampling clause
    _, out_full, _ = run(capsys, *FULL, "--participation", "1")
    assert "clients per round" not in out_full and f"≤ {full.value:.6g}" in out_full
    _, payload, _ = run(capsys, *FULL, "--participation", "0.1", "--format", "json")
    assert json.loads(payload)["value"] == sampled.value
    for bad in ("1.5", "0"):
        code, out, err = run(capsys, *FULL, "--participation", bad)
        assert code == 2 and out == ""
        assert len(err.splitlines()) == 1 and "--participation" in err, err


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
    for name in ("initial_gap", "sgd_noise"):
        assert quantized["terms"][name] == payload["terms"][name]
    # the coupling part of the drift term grows with K, which holds the quantization variance: strictly larger
    assert quantized["terms"]["drift"] > payload["terms"]["drift"]
    # unquantized: (√B + √(B + K))²/c with K = Δ₀/T + v, from the printed one-round coefficients
    co = payload["coefficients"]
    assert co == quantized["coefficients"]  # quantization does not enter c, b, v
    K, B = 2 / 100 + co["v"], co["b"] ** 2 / (4 * co["c"])
    assert payload["value"] == pytest.approx((math.sqrt(B) + math.sqrt(B + K)) ** 2 / co["c"], rel=1e-12)


def test_text_value_table(capsys):
    code, out, err = run(capsys, *FULL)
    assert code == 0 and err == ""
    result = evaluate_bound("nonconvex", **FULL_KW)
    assert f"≤ {result.value:.6g}" in out
    for name in TERMS:
        assert re.search(rf"^  {name}\s+{re.escape(format(result.terms[name], '.6g'))}\s", out, re.M), name
    assert f"dominant term: {result.dominant()}" in out
    co = result.coefficients
    assert f"  one round: c = {co['c']:.6g}, b = {co['b']:.6g}, v = {co['v']:.6g}\n" in out
    assert "clients per round" not in out  # full participation
    assert "  conditions: step size holds, descent holds; step-size limit η ≤ 0.2\n" in out


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
