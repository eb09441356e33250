"""Adapter benchmarks: each syncs its source's simulator end to end into a real store.

``python -m bench.adapters.hukou --persons 100000`` and siblings; results go to
``bench/results/<source>.json`` (``--out`` elsewhere). What they share — the measured child
process and its memory sampled from outside, the machine, the figure rows and their table,
a migrated store — is in ``harness``.
"""
