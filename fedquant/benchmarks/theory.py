"""Benchmark of fedquant.theory: a cold derivation, the shipped module's import, the CLI's start-up, and the
evaluation rate of the bound.

``bench_theory()`` measures

* **derivation (sympy, cold)**: a fresh interpreter derives everything with sympy, prints it as numpy source,
  renders the steps and compiles the result in memory (``codegen.load_in_memory()``, what ``--write`` does
  and what numeric falls back to when the shipped module is stale), wall time of the subprocess and the time
  inside it after the interpreter started;
* **shipped module import**: a fresh interpreter imports ``numeric`` and builds its functions from
  ``theory/generated.py`` (wall and inside times; it must not import sympy);
* **CLI start-up**: wall time of ``fedquant bound`` (symbolic print) and of an evaluated
  ``fedquant bound --format json`` in a subprocess (target: under 2 s);
* **evaluation rate**: ``numeric.bound_nonconvex`` and ``numeric.bound_pl`` on ``n`` random valid inputs at
  once (evaluations per second).

``format_bench(result)`` renders the dict as a short table. Imports numpy and fedquant.theory only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy

from fedquant.theory import codegen, generated, numeric

#: the start-up time the CLI should stay under on a small (2-core) machine, seconds
CLI_TARGET_S = 2.0

_COLD_CODE = (
    "import json, time\n"
    "t0 = time.perf_counter()\n"
    "from fedquant.theory import codegen\n"
    "n = len(codegen.load_in_memory().ARGUMENTS)\n"
    "print(json.dumps({'inside_s': time.perf_counter() - t0, 'functions': n}))\n"
)

_IMPORT_CODE = (
    "import json, sys, time\n"
    "t0 = time.perf_counter()\n"
    "from fedquant.theory import numeric\n"
    "n = len(numeric.functions())\n"
    "print(json.dumps({'inside_s': time.perf_counter() - t0, 'functions': n, 'sympy': 'sympy' in sys.modules}))\n"
)

_EVALUATE_ARGS = ["--L", "1", "--lr", "0.05", "--local-steps", "5", "--clients", "10", "--sigma2", "0.1",
                  "--zeta2", "0.1", "--gap", "2", "--rounds", "100", "--d", "1000", "--range", "0.1",
                  "--bits", "4", "--format", "json"]


def _cli_command() -> list[str]:
    """The installed console script beside this interpreter, else on PATH, else ``python -m fedquant``."""
    beside = Path(sys.executable).parent / "fedquant"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("fedquant")
    return [found] if found else [sys.executable, "-m", "fedquant"]


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return elapsed, proc.stdout


def _random_constants(n: int, seed: int) -> dict[str, numpy.ndarray]:
    """n valid constant sets: η a random fraction of the step-size limit, μ ≤ L."""
    gen = numpy.random.default_rng(seed)
    L = gen.uniform(0.1, 10.0, n)
    tau = gen.integers(1, 21, n).astype(float)
    lr = gen.uniform(0.05, 0.99, n) * numeric.step_size_limit(L, tau)
    return {
        "L": L, "lr": lr, "local_steps": tau, "p2": 1.0 / gen.integers(1, 101, n),
        "sigma2": gen.uniform(0, 1, n), "zeta2": gen.uniform(0, 1, n), "gap": gen.uniform(0.1, 10, n),
        "rounds": gen.integers(1, 1001, n).astype(float), "mu": gen.uniform(0.01, 1.0, n) * L,
        "quant_sum": gen.uniform(0, 1, n),
    }


def _rate(fn: Any, args: list[numpy.ndarray], n: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - start)
    if not numpy.all(numpy.isfinite(out)):
        raise RuntimeError(f"{fn.__name__} gave non-finite values on valid inputs")
    return n / best


def bench_theory(n: int = 10**6, repeats: int = 3, seed: int = 0, tightness: bool = True) -> dict[str, Any]:
    """Time a cold derivation, the shipped module's import, the CLI start-up, and the bound's evaluation rate;
    with ``tightness``, also the table of bound / PEPit exact worst case (fedquant/benchmarks/tightness.py; needs
    the dev extra's PEPit, about 15 s)."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    python = [sys.executable, "-c"]
    result: dict[str, Any] = {"n": int(n), "repeats": int(repeats), "cpu_count": os.cpu_count(),
                              "derivation_key": codegen.derivation_key(),
                              "shipped_current": codegen.derivation_key() == generated.DERIVATION_KEY,
                              "cli_target_s": CLI_TARGET_S}

    # baseline: an interpreter that imports numpy (what every fedquant process pays before its own work)
    result["python_numpy_start_s"] = min(_run([*python, "import numpy"], env)[0] for _ in range(repeats))

    # cold derivation with sympy in a fresh process, in memory (nothing is written)
    wall, out = _run([*python, _COLD_CODE], env)
    inside = json.loads(out.strip().splitlines()[-1])
    result["cold_derive_s"] = wall
    result["cold_derive_inside_s"] = inside["inside_s"]

    # the shipped module: a fresh process imports numeric and builds its functions, without sympy
    runs = sorted(_run([*python, _IMPORT_CODE], env) for _ in range(repeats))
    shipped = [json.loads(out.strip().splitlines()[-1]) for _, out in runs]
    result["shipped_import_s"] = runs[len(runs) // 2][0]
    result["shipped_import_inside_s"] = min(s["inside_s"] for s in shipped)
    result["shipped_import_sympy"] = any(s["sympy"] for s in shipped)
    if {s["functions"] for s in shipped} != {inside["functions"]}:
        raise RuntimeError("the shipped module and the derivation export different functions")

    # CLI start-up
    cli = _cli_command()
    symbolic = sorted(_run([*cli, "bound"], env)[0] for _ in range(repeats))
    evaluated = sorted(_run([*cli, "bound", *_EVALUATE_ARGS], env)[0] for _ in range(repeats))
    result["cli"] = " ".join(cli)
    result["cli_bound_s"] = symbolic[len(symbolic) // 2]
    result["cli_bound_min_s"] = symbolic[0]
    result["cli_evaluate_s"] = evaluated[len(evaluated) // 2]
    result["cli_within_target"] = max(result["cli_bound_s"], result["cli_evaluate_s"]) < CLI_TARGET_S

    # evaluation rate of the generated bound
    c = _random_constants(int(n), seed)
    common = [c[k] for k in ("L", "lr", "local_steps", "p2", "sigma2", "zeta2", "gap", "rounds")]
    sampling = numpy.zeros(int(n))  # full participation (ω = 0)
    split = numpy.full(int(n), 0.5)  # the PL bound's Young split ε ∈ (0, 1)
    nonconvex_args = [*common, sampling, c["quant_sum"]]
    pl_args = [*common, sampling, c["mu"], split, c["quant_sum"]]
    result["eval_rate_nonconvex_per_s"] = _rate(numeric.bound_nonconvex, nonconvex_args, n, repeats)
    result["eval_rate_pl_per_s"] = _rate(numeric.bound_pl, pl_args, n, repeats)
    if tightness:
        try:
            import PEPit  # noqa: F401  (a dev dependency)
        except ModuleNotFoundError:
            result["tightness"] = None
            result["tightness_skipped"] = "PEPit is not installed: pip install -e '.[dev]'"
        else:
            from dataclasses import asdict

            from fedquant.benchmarks.tightness import tightness_table

            result["tightness"] = [dict(asdict(r), ratio=r.ratio) for r in tightness_table()]
    return result


def format_bench(result: dict[str, Any]) -> str:
    """A readable summary of ``bench_theory()``."""
    target = result["cli_target_s"]
    ok = "within" if result["cli_within_target"] else "OVER"
    rows = [
        f"fedquant.theory benchmark ({result['cpu_count']} CPUs, derivation key {result['derivation_key'][:12]}, "
        f"shipped module {'current' if result['shipped_current'] else 'STALE: run make generate'})",
        f"  python + numpy start            {result['python_numpy_start_s']:8.3f} s   (baseline)",
        f"  derivation (sympy, cold)        {result['cold_derive_s']:8.3f} s   "
        f"({result['cold_derive_inside_s']:.3f} s after start-up)",
        f"  shipped module import           {result['shipped_import_s']:8.3f} s   "
        f"({result['shipped_import_inside_s']:.3f} s after start-up; "
        f"{'imports sympy!' if result['shipped_import_sympy'] else 'no sympy'})",
        f"  fedquant bound                  {result['cli_bound_s']:8.3f} s   (median of {result['repeats']}; "
        f"min {result['cli_bound_min_s']:.3f} s)",
        f"  fedquant bound --format json    {result['cli_evaluate_s']:8.3f} s   "
        f"({ok} the {target:g} s target)",
        f"  bound_nonconvex, n = {result['n']:<10d} "
        f"{result['eval_rate_nonconvex_per_s']:10.3g} evaluations/s",
        f"  bound_pl,        n = {result['n']:<10d} {result['eval_rate_pl_per_s']:10.3g} evaluations/s",
    ]
    if result.get("tightness"):
        from fedquant.benchmarks.tightness import Row, format_table

        fields = ("criterion", "local_steps", "fraction", "rounds", "bound", "exact", "precision")
        rows += ["", format_table([Row(**{k: r[k] for k in fields}) for r in result["tightness"]])]
    elif "tightness_skipped" in result:
        rows.append(f"  tightness table skipped: {result['tightness_skipped']}")
    return "\n".join(rows)


if __name__ == "__main__":
    print(format_bench(bench_theory()))
