"""Fast numeric functions of the derivation, shipped as generated code: loaded without sympy.

Every formula the optimizer and the simulator evaluate comes from here, generated from the sympy
expressions of theory/ (``derivation.exports()``); none is typed a second time. The numpy functions, the
rendered text/LaTeX of every step and the LaTeX document live in ``theory/generated.py``, written at
development time by ``python -m fedquant.theory.numeric --write`` (``make generate``) and shipped in the
package; ``--check`` exits 1 when it is stale. Nothing is read from a cache directory and nothing is
executed from a file other than that module, so importing this one imports neither sympy nor the derivation.

If the shipped module's derivation key differs from that of the theory/ sources beside it (theory/ was edited
and not regenerated), the first call derives everything in memory with sympy instead, after one warning on
stderr: a stale formula is never used.

Use: ``from fedquant.theory import numeric; numeric.quantization_error_bound(d, R, s)``; the names are
``numeric.names()``. All functions broadcast like numpy ufuncs.
"""

from __future__ import annotations

import functools
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy

from fedquant.theory import codegen

try:
    from fedquant.theory import generated
except ImportError:  # deleted before a --write: derive in memory
    generated = None

_STATE: dict[str, Any] = {}
_WARNED: set[str] = set()


def _current() -> bool:
    """Whether the shipped module was generated from the sources beside it (trusted when they are absent)."""
    if generated is None:
        return False
    try:
        return codegen.derivation_key() == generated.DERIVATION_KEY
    except OSError:
        return True


def _load() -> types.ModuleType:
    if "module" not in _STATE:
        module: types.ModuleType | None = generated
        if not _current():
            if "stale" not in _WARNED:
                _WARNED.add("stale")
                print(f"fedquant: theory/generated.py does not match the theory/ sources; deriving in memory "
                      f"with sympy (slow). Regenerate it: {codegen.COMMAND}", file=sys.stderr)
            module = codegen.load_in_memory()
        _STATE["module"] = module
    return _STATE["module"]


def _wrap(name: str, raw: Callable[..., Any], args: tuple[str, ...], src: str) -> Callable[..., Any]:
    @functools.wraps(raw)
    def fn(*values: Any) -> Any:
        out = raw(*values)
        if numpy.ndim(out) == 0 and any(numpy.ndim(a) for a in values):  # a formula free of its arguments
            return numpy.broadcast_to(numpy.asarray(out, dtype=float), numpy.broadcast(*values).shape).copy()
        return out

    fn.__doc__ = f"{name}({', '.join(args)}) — generated from the sympy derivation:\n\n{src}"
    fn.__module__ = __name__
    fn.__qualname__ = name
    return fn


def functions() -> dict[str, Callable[..., Any]]:
    """All numeric functions by name."""
    if "functions" not in _STATE:
        module = _load()
        _STATE["functions"] = {name: _wrap(name, getattr(module, name), args, module.SOURCES[name])
                               for name, args in module.ARGUMENTS.items()}
    return _STATE["functions"]


def names() -> list[str]:
    return sorted(_load().ARGUMENTS)


def source(name: str) -> str:
    """The generated numpy source of one function."""
    return _load().SOURCES[name]


def arguments(name: str) -> list[str]:
    return list(_load().ARGUMENTS[name])


def rendered(key: str) -> dict[str, Any]:
    """Text and LaTeX of one derivation step (``derivation.derive()[key]``), as generated."""
    return _load().STEPS[key]


def step_keys() -> list[str]:
    return list(_load().STEPS)


def document() -> str:
    """The whole derivation as a LaTeX document."""
    return _load().DOCUMENT


def clear_memory() -> None:
    """Forget what this process loaded (the next call checks the shipped module's key again)."""
    _STATE.clear()


def __getattr__(name: str) -> Callable[..., Any]:
    if name.startswith("__"):
        raise AttributeError(name)
    fns = functions()
    if name in fns:
        return fns[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    sys.exit(codegen.main())
