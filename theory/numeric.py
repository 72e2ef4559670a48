"""Fast numeric functions of the derivation: lambdified once, cached on disk, loaded without sympy.

Every formula the optimizer and the simulator evaluate comes from here, generated from the sympy
expressions of theory/ (``derivation.exports()``); none is typed a second time. The generated numpy source
and the rendered text/LaTeX of the derivation are cached in ``$FEDQUANT_CACHE_DIR`` (default
``$XDG_CACHE_HOME/fedquant`` or ``~/.cache/fedquant``) under a key made of the theory sources and the sympy
version, so a cold process that finds the cache imports neither sympy nor the derivation. Where the cache
cannot be written, everything still works: the derivation is redone in memory.

Use: ``from fedquant.theory import numeric; numeric.quantization_error_bound(d, R, s)``; the names are
``numeric.names()``. All functions broadcast like numpy ufuncs.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy

_HERE = Path(__file__).resolve().parent
_FORMAT = 2
_STATE: dict[str, Any] = {}


def cache_dir() -> Path:
    env = os.environ.get("FEDQUANT_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fedquant"


#: the modules whose content defines the derivation and its generated code (bench.py, evaluate.py, … do not)
DERIVATION_FILES = ("assumptions.py", "bound.py", "bound_terms.py", "budget.py", "conventions.py",
                    "derivation.py", "fedavg.py", "numeric.py", "quantizer.py", "step.py", "symbols.py")


def cache_key() -> str:
    """Hash of the derivation's source files and the sympy version: any change to them re-derives."""
    h = hashlib.sha256(f"format={_FORMAT};sympy={metadata.version('sympy')}".encode())
    for name in DERIVATION_FILES:
        h.update(name.encode())
        h.update((_HERE / name).read_bytes())
    return h.hexdigest()[:20]


def _cache_path() -> Path:
    return cache_dir() / f"theory-{cache_key()}.json"


def _generate() -> dict[str, Any]:
    """Derive, then print every export as numpy source and render every step."""
    from sympy.printing.numpy import NumPyPrinter

    from .derivation import derive, exports

    printer = NumPyPrinter({"fully_qualified_modules": True, "allow_unknown_functions": False})
    functions = {}
    for name, (args, expr) in exports().items():
        arg_names = [str(a) for a in args]
        body = printer.doprint(expr)
        source = f"def {name}({', '.join(arg_names)}):\n    return {body}\n"
        functions[name] = {"args": arg_names, "source": source}
    derivation = derive()
    steps = {
        step.key: {
            "kind": step.kind,
            "title": step.title,
            "text": step.text(),
            "latex": step.latex(),
            "latex_math": step.latex_math(),
            "parts_text": step.parts_text(),
            "conditions_text": step.conditions_text(),
            "conditions_latex": step.conditions_latex(),
        }
        for step in derivation
    }
    return {"format": _FORMAT, "functions": functions, "steps": steps, "document": derivation.latex()}


def _write_atomically(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".theory-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _well_formed(payload: Any) -> bool:
    return (isinstance(payload, dict) and payload.get("format") == _FORMAT
            and isinstance(payload.get("functions"), dict) and isinstance(payload.get("steps"), dict)
            and isinstance(payload.get("document"), str))


def _load() -> dict[str, Any]:
    if "payload" in _STATE:
        return _STATE["payload"]
    path = _cache_path()
    payload = None
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        payload = None
    if not _well_formed(payload):
        payload = _generate()
        with contextlib.suppress(OSError):  # a read-only home: keep the in-memory derivation
            _write_atomically(path, payload)
            for stale in path.parent.glob("theory-*.json"):  # caches of older derivations
                if stale != path:
                    stale.unlink(missing_ok=True)
    _STATE["payload"] = payload
    return payload


def _compile(name: str, spec: dict[str, Any]) -> Callable[..., Any]:
    namespace: dict[str, Any] = {"numpy": numpy, "functools": functools, "math": math}
    exec(compile(spec["source"], f"<fedquant.theory.numeric.{name}>", "exec"), namespace)
    raw = namespace[name]

    @functools.wraps(raw)
    def fn(*args: Any) -> Any:
        out = raw(*args)
        if numpy.ndim(out) == 0 and any(numpy.ndim(a) for a in args):  # a formula free of its arguments
            return numpy.broadcast_to(numpy.asarray(out, dtype=float), numpy.broadcast(*args).shape).copy()
        return out

    fn.__doc__ = f"{name}({', '.join(spec['args'])}) — generated from the sympy derivation:\n\n{spec['source']}"
    fn.__module__ = __name__
    fn.__qualname__ = name
    return fn


def functions() -> dict[str, Callable[..., Any]]:
    """All numeric functions by name."""
    if "functions" not in _STATE:
        payload = _load()
        _STATE["functions"] = {name: _compile(name, spec) for name, spec in payload["functions"].items()}
    return _STATE["functions"]


def names() -> list[str]:
    return sorted(_load()["functions"])


def source(name: str) -> str:
    """The generated numpy source of one function."""
    return _load()["functions"][name]["source"]


def arguments(name: str) -> list[str]:
    return list(_load()["functions"][name]["args"])


def rendered(key: str) -> dict[str, Any]:
    """Text and LaTeX of one derivation step (``derivation.derive()[key]``), from the cache."""
    return _load()["steps"][key]


def step_keys() -> list[str]:
    return list(_load()["steps"])


def document() -> str:
    """The whole derivation as a LaTeX document."""
    return _load()["document"]


def clear_memory() -> None:
    """Forget what this process loaded (the next call reads the cache file or derives again)."""
    _STATE.clear()


def __getattr__(name: str) -> Callable[..., Any]:
    if name.startswith("__"):
        raise AttributeError(name)
    fns = functions()
    if name in fns:
        return fns[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
