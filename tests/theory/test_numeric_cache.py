"""The shipped numeric module (theory/generated.py) and its loader theory/numeric.py.

The module is current (its key is that of the sources; regenerating gives the same bytes), its functions equal
the sympy expressions, nothing is read from a cache directory (a tampered ``~/.cache/fedquant`` changes
nothing), a stale module is never used (numeric derives in memory instead), and the CLI starts without sympy.
Also: ``import fedquant.theory`` stays light (no torch, no optimizer/validation, no sympy until needed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sympy

import fedquant
from fedquant.theory import codegen, derive, generated, numeric
from fedquant.theory.derivation import exports

THEORY_DIR = Path(numeric.__file__).resolve().parent
BOUND_ARGS = ["--L", "1", "--lr", "0.05", "--local-steps", "5", "--clients", "10", "--sigma2", "0.1", "--zeta2",
              "0.1", "--gap", "2", "--rounds", "100", "--d", "1000", "--range", "0.1", "--bits", "4"]
# the README's example: c = 0.193878, b = 0.0134702, v = 0.00039009 (theory/fedavg.py, worked by hand in
# tests/validation/report/test_checks.py::one_round_by_hand), K = Δ₀/T + v + (L/2)·d R²/(4 N s²)
# = 0.02 + 0.00039009 + 0.5 · 1000 · 0.01/(4 · 10 · 225), B = b²/(4c), and (√B + √(B + K))²/c = 0.133413
BOUND_VALUE = "0.133413"
#: relative tolerance between the shipped functions and those a different sympy version prints
OTHER_SYMPY_RTOL = 1e-9


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any cache-directory variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("FEDQUANT_CACHE_DIR", "XDG_CACHE_HOME")}
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(extra)
    return env


def run_python(code: str, env: dict[str, str] | None = None) -> dict:
    """Run ``code`` in a fresh interpreter (same venv); it prints one JSON object as its last line."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env or clean_env(),
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# every argument name a numeric function takes, with a domain where the formulas are meant to be evaluated
# (lr ≤ 0.02 is below the step-size limit for L ≤ 2 and τ ≤ 10, which is 1/42 at the worst)
DOMAINS = {
    "L": (0.5, 2.0), "lr": (0.001, 0.02), "p2": (0.01, 1.0), "sigma2": (0.0, 2.0), "zeta2": (0.0, 2.0),
    "gap": (0.0, 10.0), "mu": (0.01, 0.5), "quant_sum": (0.0, 1.0), "qvar": (0.0, 1.0), "x": (0.0, 1.0),
    "lower": (-1.0, 0.0),
    "upper": (1.0, 2.0), "range_": (0.0, 3.0), "levels": (1.0, 1000.0), "norm2": (0.0, 10.0),
    "rho": (0.5, 0.99), "alpha": (0.01, 1.0), "weight_sum": (0.1, 100.0), "lam": (0.01, 10.0),
    "cost": (100.0, 1e4), "kappa": (0.5, 1e4), "mean_half_log2": (-2.0, 2.0), "budget_bits": (100.0, 1e4),
    "alpha_ratio": (0.5, 2.0), "shrink": (0.5, 1.5), "sampling": (0.0, 1.0), "split": (0.01, 0.99),
    "c_descent": (0.01, 1.0), "coupling": (0.0, 1.0), "K_total": (0.0, 10.0), "loss": (0.5, 5.0),
    "f_star": (0.0, 0.4),
}
# sampled < clients; last_k ≤ rounds
INTEGERS = {"local_steps": (1, 10), "rounds": (1, 100), "d": (1, 1000), "t": (0, 50), "clients": (3, 20),
            "sampled": (1, 2), "last_k": (1, 1)}


def random_inputs(arg_names: list[str], n: int, gen: np.random.Generator) -> list[np.ndarray]:
    out = []
    for name in arg_names:
        if name in INTEGERS:
            lo, hi = INTEGERS[name]
            out.append(gen.integers(lo, hi + 1, size=n).astype(float))
        else:
            assert name in DOMAINS, f"no test domain for argument {name!r}: add one"
            out.append(gen.uniform(*DOMAINS[name], size=n))
    return out


# ------------------------------------------------------------------------------------------------------------
# the shipped module is current
# ------------------------------------------------------------------------------------------------------------


def test_shipped_key_is_that_of_the_sources():
    assert codegen.derivation_key() == generated.DERIVATION_KEY, f"theory/generated.py is stale: {codegen.COMMAND}"
    assert codegen.shipped_key(codegen.GENERATED.read_text(encoding="utf-8")) == generated.DERIVATION_KEY


def test_regenerating_gives_the_shipped_module():
    """Byte for byte with the sympy that wrote it; with another sympy (a fresh machine), the same numbers."""
    shipped = codegen.GENERATED.read_text(encoding="utf-8")
    assert shipped.startswith(codegen.HEADER)
    if sympy.__version__ == generated.SYMPY_VERSION:
        assert codegen.render_module() == shipped, f"theory/generated.py is stale: {codegen.COMMAND}"
        return
    fresh = codegen.load_in_memory()
    gen = np.random.default_rng(0)
    assert fresh.ARGUMENTS == generated.ARGUMENTS
    for name, args in generated.ARGUMENTS.items():
        inputs = random_inputs(list(args), 200, gen)
        want = np.broadcast_to(getattr(fresh, name)(*inputs), (200,))
        got = np.broadcast_to(getattr(generated, name)(*inputs), (200,))
        np.testing.assert_allclose(got, want, rtol=OTHER_SYMPY_RTOL, atol=0, err_msg=name)


def test_shipped_tables_match_the_derivation():
    assert set(generated.ARGUMENTS) == set(exports()) == set(numeric.functions()) == set(numeric.names())
    assert set(generated.SOURCES) == set(generated.ARGUMENTS)
    assert numeric.step_keys() == derive().keys()
    step = derive()["bound.pl"]
    assert numeric.rendered("bound.pl")["parts_text"] == step.parts_text()
    assert numeric.rendered("bound.pl")["conditions_latex"] == step.conditions_latex()
    assert numeric.document() == derive().latex()
    assert numeric.document().startswith("\\documentclass")


def test_shipped_functions_equal_fresh_lambdify(rng):
    ex = exports()
    fns = numeric.functions()
    for name, (args, expr) in ex.items():
        assert numeric.arguments(name) == [str(a) for a in args]
        assert numeric.source(name).startswith(f"def {name}(")
        assert numeric.source(name) in fns[name].__doc__
        fresh = sympy.lambdify(args, expr, modules="numpy")
        inputs = random_inputs(numeric.arguments(name), 500, rng)
        got = np.broadcast_to(fns[name](*inputs), (500,))
        want = np.broadcast_to(fresh(*inputs), (500,))
        assert np.all(np.isfinite(want)), name
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, err_msg=name)
        assert getattr(numeric, name) is fns[name]


@pytest.mark.parametrize("name", sorted(exports()))
def test_functions_broadcast_like_ufuncs(name, rng):
    """numeric's docstring: all functions broadcast like numpy ufuncs (one output per input element)."""
    inputs = random_inputs(numeric.arguments(name), 7, rng)
    assert np.shape(getattr(numeric, name)(*inputs)) == (7,)


def test_constant_round_weight_broadcasts(rng):
    """round_weight_nonconvex is generated as `return 1`: the wrapper broadcasts it to the inputs' shape."""
    inputs = random_inputs(numeric.arguments("round_weight_nonconvex"), 7, rng)
    assert np.shape(numeric.round_weight_nonconvex(*inputs)) == (7,)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_function"):
        numeric.no_such_function  # noqa: B018


# ------------------------------------------------------------------------------------------------------------
# --check and --write
# ------------------------------------------------------------------------------------------------------------


def test_check_flags_a_stale_file_in_one_line(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "generated.py"
    text = codegen.GENERATED.read_text(encoding="utf-8")
    stale.write_text(text.replace(generated.DERIVATION_KEY, "0" * 64), encoding="utf-8")
    monkeypatch.setattr(codegen, "GENERATED", stale)
    assert codegen.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "stale" in err and codegen.COMMAND in err
    stale.unlink()
    assert codegen.main(["--check"]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_write_then_check(tmp_path, monkeypatch, capsys):
    target = tmp_path / "generated.py"
    monkeypatch.setattr(codegen, "GENERATED", target)
    assert codegen.main(["--write"]) == 0
    assert codegen.shipped_key(target.read_text(encoding="utf-8")) == codegen.derivation_key()
    mtime = target.stat().st_mtime_ns
    assert codegen.main(["--write"]) == 0 and target.stat().st_mtime_ns == mtime  # unchanged: not rewritten
    assert codegen.main(["--check"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["generated.py"]  # no temporary file left behind
    capsys.readouterr()


# ------------------------------------------------------------------------------------------------------------
# the derivation key
# ------------------------------------------------------------------------------------------------------------


def test_derivation_key_is_deterministic_and_tracks_sources(tmp_path):
    key = codegen.derivation_key()
    assert key == codegen.derivation_key() and len(key) == 64 and int(key, 16) >= 0
    copy = tmp_path / "theory"
    shutil.copytree(THEORY_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert codegen.derivation_key(copy) == key  # same contents, same key, wherever the files are
    # the loader, the generated module, a benchmark or a new helper module do not make the file stale
    (copy / "extra.py").write_text("X = 1\n")
    for name in ("numeric.py", "generated.py", "evaluate.py"):
        (copy / name).write_bytes((copy / name).read_bytes() + b"\n# an edit\n")
    assert codegen.derivation_key(copy) == key
    # nor do Windows line endings
    crlf = (copy / "fedavg.py").read_bytes()
    (copy / "fedavg.py").write_bytes(crlf.replace(b"\n", b"\r\n"))
    assert codegen.derivation_key(copy) == key
    (copy / "fedavg.py").write_bytes(crlf)
    for name in codegen.DERIVATION_FILES:
        original = (copy / name).read_bytes()
        (copy / name).write_bytes(original + b"\n# an edit\n")
        assert codegen.derivation_key(copy) != key, name
        (copy / name).write_bytes(original)
    assert codegen.derivation_key(copy) == key


# ------------------------------------------------------------------------------------------------------------
# a stale shipped module is never used
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture
def stale_shipped(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The shipped module's key no longer matches the sources; numeric forgets what it loaded, before and after."""
    monkeypatch.setattr(generated, "DERIVATION_KEY", "0" * 64)
    monkeypatch.setattr(numeric, "_WARNED", set())
    numeric.clear_memory()
    yield
    numeric.clear_memory()


def test_stale_module_is_rederived_in_memory_with_one_warning(stale_shipped, capsys):
    assert numeric.arguments("bound_nonconvex") == ["L", "lr", "local_steps", "p2", "sigma2", "zeta2", "gap",
                                                    "rounds", "sampling", "quant_sum"]
    args = (1.0, 0.05, 5, 0.1, 0.1, 0.1, 2.0, 100, 0.25, 0.5)
    want = generated.bound_nonconvex(*args)
    assert float(numeric.bound_nonconvex(*args)) == want
    assert numeric._load() is not generated
    assert numeric.step_keys() == list(generated.STEPS)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and codegen.COMMAND in err
    numeric.clear_memory()
    numeric.step_size_limit(1.0, 5)
    assert capsys.readouterr().err == ""  # warned once per process


def test_stale_wrong_formula_is_not_used(tmp_path):
    """A copy of the package whose theory/ was edited and whose generated bound is ×1000: the bound is right."""
    pkg = tmp_path / "site" / "fedquant"
    pkg.mkdir(parents=True)
    shutil.copy(Path(fedquant.__file__), pkg / "__init__.py")
    theory = pkg / "theory"
    shutil.copytree(THEORY_DIR, theory, ignore=shutil.ignore_patterns("__pycache__"))
    (theory / "fedavg.py").write_text((theory / "fedavg.py").read_text() + "\n# an edit, not regenerated\n")
    text = (theory / "generated.py").read_text(encoding="utf-8")
    head = "def bound_nonconvex(L, lr, local_steps, p2, sigma2, zeta2, gap, rounds, sampling, quant_sum):\n    return "
    assert text.count(head) == 1
    body = text.split(head)[1].split("\n")[0]
    (theory / "generated.py").write_text(text.replace(head + body, f"{head}1000*({body})"), encoding="utf-8")
    code = (
        "import json, sys\n"
        "import fedquant.theory\n"
        "from fedquant.theory import evaluate_bound\n"
        "r = evaluate_bound(L=1, lr=0.05, local_steps=5, clients=10, sigma2=0.1, zeta2=0.1, gap=2, rounds=100,\n"
        "                   d=1000, range_=0.1, bits=4)\n"
        "print(json.dumps({'value': f'{r.value:.6g}', 'file': fedquant.theory.__file__}))\n"
    )
    env = clean_env(PYTHONPATH=str(tmp_path / "site"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                          cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["file"].startswith(str(tmp_path))
    assert out["value"] == BOUND_VALUE
    assert proc.stderr.count(codegen.COMMAND) == 1


# ------------------------------------------------------------------------------------------------------------
# nothing is read from a cache directory
# ------------------------------------------------------------------------------------------------------------


def old_format_payload() -> dict:
    """What the removed disk cache held: numpy source per function, rendered steps, the document."""
    return {"format": 2,
            "functions": {name: {"args": list(args), "source": generated.SOURCES[name]}
                          for name, args in generated.ARGUMENTS.items()},
            "steps": generated.STEPS, "document": generated.DOCUMENT}


def tampered(kind: str, marker: Path) -> dict:
    payload = old_format_payload()
    fns = payload["functions"]
    if kind == "code":
        for spec in fns.values():
            spec["source"] = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n" + spec["source"]
    elif kind == "scaled":
        src = fns["bound_nonconvex"]["source"]
        fns["bound_nonconvex"]["source"] = src.replace("    return ", "    return 1000*(", 1).rstrip("\n") + ")\n"
    elif kind == "missing":
        del fns["bound_nonconvex"], fns["step_size_limit"]
    elif kind == "syntax":
        fns["bound_nonconvex"]["source"] = "def bound_nonconvex(:\n    return\n"
    elif kind == "empty_steps":
        payload["steps"] = {}
    return payload


@pytest.mark.parametrize("kind", ["code", "scaled", "missing", "syntax", "empty_steps"])
def test_tampered_cache_directories_are_ignored(tmp_path, kind):
    home = tmp_path / "home"
    marker = tmp_path / "marker"
    payload = json.dumps(tampered(kind, marker))
    # every place the removed cache looked: $FEDQUANT_CACHE_DIR, $XDG_CACHE_HOME/fedquant, ~/.cache/fedquant
    dirs = [home / "fedquant", home / ".cache" / "fedquant"]
    for d in dirs:
        d.mkdir(parents=True)
        for key in ("0" * 20, generated.DERIVATION_KEY[:20], generated.DERIVATION_KEY):
            (d / f"theory-{key}.json").write_text(payload)
    before = sorted((str(p), p.stat().st_mtime_ns) for p in home.rglob("*"))
    env = clean_env(HOME=str(home), XDG_CACHE_HOME=str(home), FEDQUANT_CACHE_DIR=str(home / "fedquant"))
    fedquant_cli = Path(sys.executable).parent / "fedquant"
    cmd = [str(fedquant_cli)] if fedquant_cli.exists() else [sys.executable, "-m", "fedquant"]
    proc = subprocess.run([*cmd, "bound", *BOUND_ARGS], capture_output=True, text=True, env=env, timeout=300,
                          cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"≤ {BOUND_VALUE}\n" in proc.stdout
    assert not marker.exists()
    assert sorted((str(p), p.stat().st_mtime_ns) for p in home.rglob("*")) == before  # read nothing new, wrote nothing


# ------------------------------------------------------------------------------------------------------------
# import hygiene and start-up
# ------------------------------------------------------------------------------------------------------------


def test_unwritable_home_starts_without_sympy(tmp_path):
    # a directory below a regular file cannot be created, even by root (chmod would not stop root)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    home = blocker / "home"
    with pytest.raises(OSError):
        (home / ".cache").mkdir(parents=True)
    code = ("import json, sys\n"
            "import fedquant.theory.numeric as n\n"
            "n.bits_fixed(10, 3)\n"
            "print(json.dumps({'sympy': 'sympy' in sys.modules, 'bits': float(n.bits_fixed(10, 3))}))\n")
    assert run_python(code, clean_env(HOME=str(home))) == {"sympy": False, "bits": 10 * 2 + 64.0}


def test_import_theory_is_light():
    code = (
        "import json, sys\n"
        "import fedquant.theory\n"
        "light = 'sympy' not in sys.modules\n"
        "import fedquant.theory.numeric\n"
        "from fedquant.theory import evaluate_bound, numeric\n"
        "numeric.quantization_error_bound(10, 1.0, 3)\n"
        "numeric.rendered('bound.pl')\n"
        "evaluate_bound(L=1, lr=0.05, local_steps=5, clients=10, sigma2=0.1, zeta2=0.1, gap=2, rounds=100,\n"
        "               quantized=False)\n"
        "bad = sorted(m for m in sys.modules if m in ('torch', 'sympy', 'fedquant.theory.derivation')\n"
        "             or m.startswith(('torch.', 'sympy.', 'fedquant.optimizer', 'fedquant.validation')))\n"
        "print(json.dumps({'light': light, 'bad': bad}))\n"
    )
    assert run_python(code) == {"light": True, "bad": []}


# ------------------------------------------------------------------------------------------------------------
# the benchmark runs (no timing assertions)
# ------------------------------------------------------------------------------------------------------------


def test_bench_theory_reports_every_measurement():
    from fedquant.benchmarks.theory import bench_theory, format_bench

    result = bench_theory(n=1000, repeats=1, tightness=False)  # the table: tests/theory/test_pepit_tightness.py
    assert set(result) == {
        "n", "repeats", "cpu_count", "derivation_key", "shipped_current", "cli_target_s", "python_numpy_start_s",
        "cold_derive_s", "cold_derive_inside_s", "shipped_import_s", "shipped_import_inside_s",
        "shipped_import_sympy", "cli", "cli_bound_s", "cli_bound_min_s", "cli_evaluate_s", "cli_within_target",
        "eval_rate_nonconvex_per_s", "eval_rate_pl_per_s",
    }
    assert result["n"] == 1000 and result["derivation_key"] == codegen.derivation_key()
    assert result["shipped_current"] is True and result["shipped_import_sympy"] is False
    for key in ("cold_derive_s", "shipped_import_s", "cli_bound_s", "cli_evaluate_s", "eval_rate_nonconvex_per_s",
                "eval_rate_pl_per_s"):
        assert result[key] > 0
    text = format_bench(result)
    assert "derivation (sympy, cold)" in text and "shipped module import" in text and "evaluations/s" in text
