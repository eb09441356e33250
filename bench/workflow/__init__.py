"""Workflow benchmarks: event → task latency, sustained throughput, measures at 1M tasks."""
