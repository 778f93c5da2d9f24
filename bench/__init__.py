"""Benchmarks: workloads and the ceilings they are compared with; they print JSON lines.

Run a module with ``python -m bench.<name>`` from the repository root. Benchmarks print figures
and ratios, never pass or fail on a time (DESIGN §7).
"""
