"""Benchmarks for rollout-operator on a dedicated local cluster: `python -m benchmarks.run`."""
