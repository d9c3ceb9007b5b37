"""`secretloom convert`: manifests of Kyverno, External Secrets and VSO -> secretloom.

Reads files, directories (every *.yaml, *.yml, *.json below, in name order) or
stdin (`-`, or no argument), multi-document YAML (a `kind: List`, as
`kubectl get -o yaml` prints, is unpacked); prints the converted
manifests on stdout (or `--output`) and, on stderr, one `not converted:` line
per field that did not carry over, with the reason, and one `note:` line per
adaptation worth knowing (`--quiet` hides the notes). The conversion itself is
`secretloom.migrate` (pure).

Exit code: 0 everything converted; 2 something was not converted (the output
holds what was); 1 the input could not be read. A YAML error names the file
and line, never the text around it: the input may hold secrets.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from secretloom.cli.errors import fail
from secretloom.migrate import convert as migrate

NOT_CONVERTED = 2
_SUFFIXES = (".yaml", ".yml", ".json")


def convert(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or directories of manifests; '-' or nothing reads stdin."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the manifests here, not stdout.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Hide the notes.")] = False,
) -> None:
    """Convert Kyverno policies, ExternalSecrets and VaultStaticSecrets to secretloom manifests."""
    documents = list(_documents(paths or [Path("-")]))
    result = migrate(documents)
    text = yaml.safe_dump_all(result.manifests, sort_keys=False, width=100)
    if output is not None:
        try:
            output.write_text(text)
        except OSError as err:
            fail(f"{output}: {err.strerror}")
    elif result.manifests:
        sys.stdout.write(text)
    for finding in result.unconverted:
        typer.echo(f"not converted: {finding.line()}", err=True)
    if not quiet:
        for finding in result.notes:
            typer.echo(f"note: {finding.line()}", err=True)
    typer.echo(
        f"{len(result.manifests)} manifest(s) from {len(result.converted)} object(s); "
        f"{len(result.unconverted)} item(s) not converted",
        err=True,
    )
    if result.unconverted:
        raise typer.Exit(NOT_CONVERTED)


def _documents(paths: list[Path]) -> Iterator[Any]:
    for path in paths:
        if str(path) == "-":
            yield from _parse("<stdin>", sys.stdin.read())
        elif path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES):
                yield from _parse(str(file), _read(file))
        else:
            yield from _parse(str(path), _read(path))


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as err:
        fail(f"{path}: {err.strerror}")
    except UnicodeDecodeError:
        fail(f"{path}: not UTF-8 text")


def _parse(name: str, text: str) -> list[Any]:
    try:
        docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        fail(f"{name}:{where} is not valid YAML")
    # `kubectl get -o yaml` of several objects prints one `kind: List`.
    return [item for doc in docs for item in (doc.get("items") or [] if _is_list(doc) else [doc])]


def _is_list(doc: Any) -> bool:
    return isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and "items" in doc
