"""One clear line and a non-zero exit for errors a user can act on."""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"secretloom: error: {message}", err=True)
    raise typer.Exit(code)
