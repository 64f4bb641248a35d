"""Benchmarks of the ingress against bare Litestar baselines served the same way, run by `bench/run`."""
