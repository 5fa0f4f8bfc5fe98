"""Deterministic synthetic data for the tests and benchmarks; not part of the shipped package."""
