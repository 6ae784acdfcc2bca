"""Benchmarks of the engine against the gateway simulator: ``python -m bench.poller`` and ``python -m bench.download``.

Each benchmark runs the simulator in its own process and the measured engine in a fresh worker process, so the
CPU time and peak RSS reported are the engine's alone. BENCHMARKS.md at the repository root has the figures.
"""
