"""Benchmarks: each compares fundapp's work with the bare work measured in the same run."""
