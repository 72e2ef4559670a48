"""The numeric cache of theory/numeric.py: derive once, write, load in a fresh process without sympy.

Also: ``import fedquant.theory`` stays light (no torch, no optimizer/validation, no sympy until needed).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import sympy

from fedquant.theory import derive, numeric
from fedquant.theory.derivation import exports

THEORY_DIR = Path(numeric.__file__).resolve().parent


def run_python(code: str, cache_dir: Path | None = None) -> dict:
    """Run ``code`` in a fresh interpreter (same venv); it prints one JSON object as its last line."""
    env = dict(os.environ)
    if cache_dir is not None:
        env["FEDQUANT_CACHE_DIR"] = str(cache_dir)
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_first_call_derives_and_writes(fresh_cache):
    assert list(fresh_cache.iterdir()) == []
    fns = numeric.functions()
    written = sorted(p.name for p in fresh_cache.iterdir())
    assert written == [f"theory-{numeric.cache_key()}.json"]  # no temporary file left behind
    payload = json.loads((fresh_cache / written[0]).read_text())
    assert set(payload) == {"format", "functions", "steps", "document"}
    assert set(payload["functions"]) == set(exports()) == set(fns) == set(numeric.names())
    assert list(payload["steps"]) == derive().keys() == numeric.step_keys()
    assert numeric.document().startswith("\\documentclass")


def test_second_process_loads_without_sympy(fresh_cache):
    numeric.functions()  # derive and write
    path = fresh_cache / f"theory-{numeric.cache_key()}.json"
    before = path.stat().st_mtime_ns
    code = (
        "import json, sys\n"
        "from fedquant.theory import evaluate_bound, numeric\n"
        "v = float(numeric.bound_nonconvex(1.0, 0.05, 5, 0.1, 0.1, 0.1, 2.0, 100, 0.5))\n"
        "r = evaluate_bound('pl', L=1, lr=0.05, local_steps=5, clients=10, sigma2=0.1, zeta2=0.1, gap=2,\n"
        "                   rounds=100, mu=0.1, d=1000, range_=0.1, bits=4)\n"
        "print(json.dumps({'sympy': 'sympy' in sys.modules, 'v': v, 'pl': r.value,\n"
        "                  'derivation': 'fedquant.theory.derivation' in sys.modules}))\n"
    )
    out = run_python(code, fresh_cache)
    assert out["sympy"] is False and out["derivation"] is False
    assert out["v"] == float(numeric.bound_nonconvex(1.0, 0.05, 5, 0.1, 0.1, 0.1, 2.0, 100, 0.5))
    from fedquant.theory import evaluate_bound

    same = evaluate_bound("pl", L=1, lr=0.05, local_steps=5, clients=10, sigma2=0.1, zeta2=0.1, gap=2,
                          rounds=100, mu=0.1, d=1000, range_=0.1, bits=4)
    assert out["pl"] == same.value  # the same generated code, bit for bit
    assert path.stat().st_mtime_ns == before  # read, not rewritten


# every argument name a numeric function takes, with a domain where the formulas are meant to be evaluated
# (lr ≤ 0.02 is below the step-size limit for L ≤ 2 and τ ≤ 10, which is 1/42 at the worst)
DOMAINS = {
    "L": (0.5, 2.0), "lr": (0.001, 0.02), "p2": (0.01, 1.0), "sigma2": (0.0, 2.0), "zeta2": (0.0, 2.0),
    "gap": (0.0, 10.0), "mu": (0.01, 0.5), "quant_sum": (0.0, 1.0), "x": (0.0, 1.0), "lower": (-1.0, 0.0),
    "upper": (1.0, 2.0), "range_": (0.0, 3.0), "levels": (1.0, 1000.0), "norm2": (0.0, 10.0),
    "rho": (0.5, 0.99), "alpha": (0.01, 1.0), "weight_sum": (0.1, 100.0), "lam": (0.01, 10.0),
    "cost": (100.0, 1e4), "kappa": (0.5, 1e4), "mean_half_log2": (-2.0, 2.0), "budget_bits": (100.0, 1e4),
    "alpha_ratio": (0.5, 2.0), "shrink": (0.5, 1.5),
}
INTEGERS = {"local_steps": (1, 10), "rounds": (1, 100), "d": (1, 1000), "t": (0, 50)}


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


def test_cached_functions_equal_fresh_lambdify(fresh_cache, rng):
    numeric.functions()  # written to the fresh cache ...
    numeric.clear_memory()
    cached = numeric.functions()  # ... and read back from the file
    ex = exports()
    assert set(cached) == set(ex)
    for name, (args, expr) in ex.items():
        assert numeric.arguments(name) == [str(a) for a in args]
        fresh = sympy.lambdify(args, expr, modules="numpy")
        inputs = random_inputs(numeric.arguments(name), 500, rng)
        got = np.broadcast_to(cached[name](*inputs), (500,))
        want = np.broadcast_to(fresh(*inputs), (500,))
        assert np.all(np.isfinite(want)), name
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, err_msg=name)
        assert getattr(numeric, name) is cached[name]


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


def test_unwritable_cache_dir_still_works(fresh_cache, monkeypatch):
    # a directory below a regular file cannot be created, even by root (chmod would not stop root)
    blocker = fresh_cache / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("FEDQUANT_CACHE_DIR", str(blocker / "cache"))
    numeric.clear_memory()
    assert float(numeric.step_size_limit(1.0, 5)) == pytest.approx(0.1, rel=1e-15)
    assert "bound.pl" in numeric.step_keys()
    assert sorted(p.name for p in fresh_cache.iterdir()) == ["not-a-dir"]


@pytest.mark.parametrize("content", ["{not json", json.dumps({"format": -1, "functions": {}})])
def test_corrupt_or_stale_file_is_rederived(fresh_cache, content):
    path = fresh_cache / f"theory-{numeric.cache_key()}.json"
    path.write_text(content)
    assert float(numeric.step_size_limit(2.0, 1)) == pytest.approx(0.25, rel=1e-15)
    assert json.loads(path.read_text())["format"] != -1  # replaced by a good payload


@pytest.mark.parametrize("content", ["null", "[]", json.dumps({"format": numeric._FORMAT})])
def test_wrong_shape_json_is_rederived(fresh_cache, content):
    path = fresh_cache / f"theory-{numeric.cache_key()}.json"
    path.write_text(content)
    assert float(numeric.step_size_limit(2.0, 1)) == pytest.approx(0.25, rel=1e-15)


# ------------------------------------------------------------------------------------------------------------
# the cache key
# ------------------------------------------------------------------------------------------------------------


def load_numeric_copy(directory: Path) -> types.ModuleType:
    """numeric.py loaded from ``directory`` (its key hashes the *.py files beside it)."""
    spec = importlib.util.spec_from_file_location("fedquant_numeric_copy", directory / "numeric.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cache_key_is_deterministic_and_tracks_sources(tmp_path, monkeypatch):
    key = numeric.cache_key()
    assert key == numeric.cache_key()
    assert len(key) == 20 and int(key, 16) >= 0
    copy = tmp_path / "theory"
    copy.mkdir()
    for src in THEORY_DIR.glob("*.py"):
        shutil.copy(src, copy / src.name)
    mod = load_numeric_copy(copy)
    assert mod.cache_key() == key  # same contents, same key, wherever the files are
    original = (copy / "fedavg.py").read_bytes()
    (copy / "fedavg.py").write_bytes(original + b"\n# an edit\n")
    edited = mod.cache_key()
    assert edited != key
    (copy / "fedavg.py").write_bytes(original)
    assert mod.cache_key() == key
    # only the derivation's own modules count: a benchmark or a new helper module does not re-derive
    (copy / "extra.py").write_text("X = 1\n")
    (copy / "bench.py").write_bytes((copy / "bench.py").read_bytes() + b"\n# an edit\n")
    assert mod.cache_key() == key
    for name in mod.DERIVATION_FILES:
        original = (copy / name).read_bytes()
        (copy / name).write_bytes(original + b"\n# an edit\n")
        assert mod.cache_key() != key, name
        (copy / name).write_bytes(original)
    monkeypatch.setattr(mod, "metadata", types.SimpleNamespace(version=lambda name: "0.0-other"))
    assert mod.cache_key() != key  # another sympy version prints other code: another key


# ------------------------------------------------------------------------------------------------------------
# import hygiene
# ------------------------------------------------------------------------------------------------------------


def test_import_theory_is_light():
    code = (
        "import json, sys\n"
        "import fedquant.theory\n"
        "light = 'sympy' not in sys.modules\n"
        "import fedquant.theory.numeric\n"
        "from fedquant.theory import evaluate_bound, numeric\n"
        "numeric.quantization_error_bound(10, 1.0, 3)\n"
        "evaluate_bound(L=1, lr=0.05, local_steps=5, clients=10, sigma2=0.1, zeta2=0.1, gap=2, rounds=100,\n"
        "               quantized=False)\n"
        "bad = sorted(m for m in sys.modules if m == 'torch'\n"
        "             or m.startswith(('torch.', 'fedquant.optimizer', 'fedquant.validation')))\n"
        "print(json.dumps({'light': light, 'bad': bad}))\n"
    )
    out = run_python(code)
    assert out == {"light": True, "bad": []}


# ------------------------------------------------------------------------------------------------------------
# the benchmark runs (no timing assertions)
# ------------------------------------------------------------------------------------------------------------


def test_bench_theory_reports_every_measurement():
    from fedquant.theory.bench import bench_theory, format_bench

    result = bench_theory(n=1000, repeats=1)
    assert set(result) == {
        "n", "repeats", "cpu_count", "cache_key", "cli_target_s", "python_numpy_start_s", "cold_derive_s",
        "cold_derive_inside_s", "cli", "cli_bound_s", "cli_bound_min_s", "cli_evaluate_s",
        "cli_within_target", "eval_rate_nonconvex_per_s", "eval_rate_pl_per_s",
    }
    assert result["n"] == 1000 and result["cache_key"] == numeric.cache_key()
    for key in ("cold_derive_s", "cli_bound_s", "cli_evaluate_s", "eval_rate_nonconvex_per_s",
                "eval_rate_pl_per_s"):
        assert result[key] > 0
    text = format_bench(result)
    assert "cold derivation" in text and "evaluations/s" in text
