"""Churn with faults (bench/chaos.py): the fast pass of `make test`, and the checker itself."""
