"""One look per scheme: distinct colours, stable across calls and processes, shades for variants, no matplotlib."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from fedquant.optimizer.schemes import SCHEMES
from fedquant.optimizer.style import BASE, base_name, color, shade, style

ALL = (*SCHEMES, "none")
HEX = re.compile(r"^#[0-9a-f]{6}$")
VARIANTS = ("fixed:1", "fixed:2", "fixed:3.5", "fixed:4", "fixed:8", "fixed:bits=8", "feddq:delta=0.01",
            "optimal-online:granularity=client", "optimal:granularity=client", "dadaquant:q_min=2,q_max=8")


def test_every_scheme_and_none_has_its_own_colour() -> None:
    colours = [color(s) for s in ALL]
    assert all(HEX.match(c) for c in colours), colours
    assert len(set(colours)) == len(ALL), dict(zip(ALL, colours, strict=True))
    assert set(BASE) == set(ALL)  # no scheme falls back to a spare colour


def test_overlapping_schemes_differ_in_line_style_or_marker() -> None:
    looks = [(style(s)["ls"], style(s)["marker"]) for s in ALL]
    assert len({m for _, m in looks}) == len(ALL)  # a marker per scheme, for grey-scale prints and overlaps


def test_mapping_is_stable_across_calls_and_processes() -> None:
    specs = (*ALL, *VARIANTS, "my-own-label")
    here = {s: style(s) for s in specs}
    assert here == {s: style(s) for s in specs}
    code = ("import json; from fedquant.optimizer.style import style; "
            f"print(json.dumps({{s: style(s) for s in {list(specs)!r}}}))")
    for seed in ("0", "12345"):  # a different hash seed must not change a colour
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": seed})
        assert json.loads(out.stdout) == here


@pytest.mark.parametrize("spec", VARIANTS)
def test_variants_keep_their_family(spec: str) -> None:
    s, base = style(spec), style(base_name(spec))
    assert HEX.match(s["color"])
    assert (s["ls"], s["marker"]) == (base["ls"], base["marker"])


def test_fixed_widths_are_shades_light_to_dark() -> None:
    def lightness(c: str) -> int:
        return sum(int(c[i:i + 2], 16) for i in (1, 3, 5))

    widths = [color(f"fixed:{b}") for b in (1, 2, 4, 8, 16)]
    assert len(set(widths)) == len(widths)
    assert [lightness(c) for c in widths] == sorted((lightness(c) for c in widths), reverse=True)
    assert color("fixed:4") == color("fixed") and color("fixed:8") == color("fixed:bits=8")
    assert color("feddq:delta=0.01") != color("feddq")
    assert color("optimal-online:granularity=client") != color("optimal-online")


def test_shade_and_unknown_names() -> None:
    assert shade("#808080", 1.0) == "#000000" and shade("#808080", -1.0) == "#ffffff"
    assert shade("#808080", 0.5) == "#404040"
    assert HEX.match(color("not-a-scheme")) and color("not-a-scheme") not in {color(s) for s in ALL}


def test_no_plotting_library_on_import() -> None:
    code = "import sys, fedquant.optimizer.style; print('matplotlib' in sys.modules or 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
