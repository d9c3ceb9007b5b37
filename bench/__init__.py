"""Benchmarks against the API server's own floor: `python -m bench [--smoke]` (bench/__main__.py).

Modules: scenarios.py and vault.py (what is measured), workload.py (objects,
load, and the watch that sees writes land), floor.py (the minimal loop),
procs.py (the processes under test), summarize.py (targets), record.py (result
files), report.py (docs/benchmarks.md), render.py (the render benchmark),
profile.py (py-spy summaries).
"""
