"""Haat's benchmarks: `python -m bench` (or `make bench`) runs them all and prints measurements and ratios.

Each benchmark is a module with `NAME` and `run() -> list[str]` (the lines of its report); it runs on the
configured database engine (DATABASE_URL) in a throwaway database created for the run, never in the
configured database itself. Benchmarks measure and compare with their targets; they do not assert.
"""
