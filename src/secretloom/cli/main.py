"""Entry point: `secretloom <command>`.

Errors the user can act on are printed as one line on stderr with a non-zero
exit code (`fail`); a traceback is a bug.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="secretloom",
    help="Kubernetes-native secrets for GitOps: many sources into one Secret, each key owned.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
