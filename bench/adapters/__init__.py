"""Adapter benchmarks: each syncs its source's simulator end to end into a real store.

``python -m bench.adapters.hukou --persons 100000`` and siblings; results go to
``bench/results/<source>.json``.
"""
