"""Integration tests of the Vault provider against a real OpenBao dev server.

A package (not a plain directory) so its conftest and support modules have
names of their own for pytest and mypy, apart from tests/conftest.py.
"""
