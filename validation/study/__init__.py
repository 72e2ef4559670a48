"""The study (``fedquant study``): where descending quantization wins, predicted before it is measured.

Rooms: cells (the grid), tuning (the unquantized reference's learning rate per cell), direction (of a
level schedule), predictions (from the pilots, before training), scoring (measured verdicts, hit rates,
misses), claim (bits and rounds to a target accuracy: the FedDQ paper's view), results (docs/results.md and
its figures), run (the command as a function).
"""
