"""nimbus's benchmarks: `python -m bench` (or `make bench`) measures the invoke path against a floor.

Every measure is reported as a median (and p99 where it matters) next to a floor measured in the same run on the
same machine, because these machines are noisy and absolute numbers drift: the ratio is what carries over.
Results are printed as a table and written to bench/results/<timestamp>.json; docs/PERFORMANCE.md records them.
"""
