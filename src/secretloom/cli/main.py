"""Entry point: `secretloom <command>`.

Errors the user can act on are printed as one line on stderr with a non-zero
exit code (`secretloom.cli.errors.fail`); a traceback is a bug.
"""

from __future__ import annotations

from typing import Annotated

import typer

from secretloom import __version__
from secretloom.cli import (
    backup,
    check,
    cluster,
    controller,
    convert,
    crds,
    demo,
    owners,
    render,
    seal,
    sops,
    testfile,
)

app = typer.Typer(
    name="secretloom",
    help="Kubernetes-native secrets for GitOps: many sources into one Secret, each key owned.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"secretloom {__version__}")
        raise typer.Exit


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    # Only the eager --version option lives here; typer needs a callback to carry it.
    pass


app.add_typer(cluster.app, name="cluster")
app.add_typer(crds.app, name="crds")
app.command("install-crds")(crds.install_crds)
app.command("controller")(controller.controller)
app.command("render")(render.render)
app.add_typer(sops.app, name="sops")
app.command("demo")(demo.demo)
app.command("owners")(owners.owners)
app.command("convert")(convert.convert)
app.command("test")(testfile.offline_test)
app.add_typer(check.app, name="check")
app.command("seal")(seal.seal)
app.command("backup")(backup.backup)
app.command("restore")(backup.restore)
