"""Offline checks of configuration that consumes secretloom targets (issue 15)."""
