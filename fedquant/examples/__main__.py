"""Print every example's agreement: ``python -m fedquant.examples`` (one torch thread, as the tests run)."""

from __future__ import annotations

import sys
import time

import torch

from fedquant.examples import EXAMPLES


def main() -> int:
    torch.set_num_threads(1)
    failed = 0
    for run in EXAMPLES:
        start = time.perf_counter()
        agreement = run()
        seconds = time.perf_counter() - start
        failed += not agreement.holds
        print(f"{run.__module__.rsplit('.', 1)[-1]} ({seconds:.2f} s)")
        print(f"  {agreement.line()}")
        if agreement.note:
            print(f"  {agreement.note}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
