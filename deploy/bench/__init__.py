"""Benchmark of the whole stack against the in-process grading."""
