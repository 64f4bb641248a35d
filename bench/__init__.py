"""Benchmarks run by `bench/run`, each beside its baseline: the ingress against bare Litestar apps served
the same way, snapshot fan-out against raw XADD, worker drain by 1, 2 and 4 workers."""
