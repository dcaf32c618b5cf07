"""Benchmarks that print their figures (speed targets are shown here, not in unit tests)."""
