"""Benchmarks (`make bench`): one entry point, bench/run.py."""
