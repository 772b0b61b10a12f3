"""Benchmarks: `just bench`, `just bench-replicas`."""
