"""`python -m secretloom.cli` runs the CLI (tests use it to stay inside the venv)."""

from secretloom.cli.main import app

app()
