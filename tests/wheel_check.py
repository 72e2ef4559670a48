"""Build the wheel, check it holds the three subpackages, and run the ``fedquant`` command from it.

Run by ``make wheel-check`` (part of ``make test``). The wheel is installed with --no-deps into a temporary
target directory and imported from there (PYTHONPATH first), so the editable install cannot mask a packaging
mistake.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = ("fedquant/__init__.py", "fedquant/cli/__init__.py", "fedquant/theory/__init__.py",
            "fedquant/optimizer/__init__.py", "fedquant/validation/__init__.py",
            "fedquant/theory/generated.py")  # the numeric module numeric.py loads (no sympy at run time)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(tmp_path / "dist"), str(ROOT)], check=True)
        wheel = next((tmp_path / "dist").glob("fedquant-*.whl"))
        names = zipfile.ZipFile(wheel).namelist()
        missing = [n for n in REQUIRED if n not in names]
        stray = sorted({n.split("/")[0] for n in names if not n.startswith(("fedquant/", "fedquant-"))})
        if missing or stray:
            print(f"wheel {wheel.name}: missing {missing}, stray top-level {stray}", file=sys.stderr)
            return 1
        target = tmp_path / "site"
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                        str(wheel)], check=True)
        env = dict(os.environ, PYTHONPATH=str(target))
        where = subprocess.run([sys.executable, "-c", "import fedquant.theory as t; print(t.__file__)"],
                               env=env, cwd=tmp, check=True, capture_output=True, text=True).stdout.strip()
        if not where.startswith(str(target)):
            print(f"fedquant imported from {where}, not from the wheel", file=sys.stderr)
            return 1
        script = target / "bin" / "fedquant"
        out = subprocess.run([sys.executable, str(script), "bound", "--format", "json", "--L", "1", "--lr",
                              "0.1", "--local-steps", "1", "--clients", "1", "--sigma2", "0", "--zeta2", "0",
                              "--gap", "1", "--rounds", "10", "--no-quantization"],
                             env=env, cwd=tmp, check=True, capture_output=True, text=True).stdout
        # gradient descent: Δ/(ηT(1 − Lη/2)) = 1/(0.1·10·0.95), the descent lemma's exact worst case
        if abs(json.loads(out)["value"] - 1 / (0.1 * 10 * 0.95)) > 1e-12:
            print(f"fedquant bound from the wheel printed {out!r}", file=sys.stderr)
            return 1
        print(f"wheel check: {wheel.name} has {len(names)} files, the three subpackages, and a working "
              f"fedquant command (imported from {where})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
