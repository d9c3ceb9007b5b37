"""`secretloom sops …`: small helpers where users expect them.

* `decrypt FILE`: the plaintext on stdout, as `sops -d` prints it (YAML
  without comments, see secretloom.sops.emit), MAC verified first.
* `edit-check FILE…`: the pre-commit hook. A file matched by a
  `path_regex` of the nearest `.sops.yaml`'s creation rules must be a SOPS
  document; a plaintext one is refused, naming the file (never its content).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from secretloom.cli.errors import fail
from secretloom.sops import (
    Format,
    FormatError,
    KeySources,
    SopsError,
    decrypt_file,
    detect_format,
    is_encrypted,
    read_bounded,
    safe_load,
)

app = typer.Typer(help="SOPS helpers: decrypt, and a pre-commit check.", no_args_is_help=True)


@app.command()
def decrypt(
    file: Path,
    input_type: Annotated[
        Format | None, typer.Option(help="yaml, json, dotenv or binary (default: by extension).")
    ] = None,
) -> None:
    """Decrypt FILE to stdout after verifying its MAC."""
    try:
        output = decrypt_file(file, KeySources.from_env(), fmt=input_type).emit()
    except OSError as err:
        fail(f"{file}: {err.strerror}")
    except SopsError as err:
        fail(str(err))
    sys.stdout.buffer.write(output)


@app.command("edit-check")
def edit_check(files: list[Path]) -> None:
    """Refuse files that .sops.yaml says must be encrypted but are not."""
    plaintext = [str(f) for f in files if _must_be_encrypted(f) and not _encrypted(f)]
    if plaintext:
        fail(f"not encrypted, but matched by .sops.yaml creation rules: {', '.join(plaintext)}")


def _must_be_encrypted(file: Path) -> bool:
    config = _nearest_config(file.resolve().parent)
    if config is None or file.name == ".sops.yaml":
        return False
    relative = file.resolve().relative_to(config.parent).as_posix()
    try:
        return any(
            re.search(str(rule.get("path_regex") or ""), relative)
            for rule in _creation_rules(config)
        )
    except (re.error, RecursionError, OverflowError):
        fail(f"{config}: a path_regex is not a valid regular expression")


def _nearest_config(directory: Path) -> Path | None:
    for candidate in (directory, *directory.parents):
        if (candidate / ".sops.yaml").is_file():
            return candidate / ".sops.yaml"
    return None


def _creation_rules(config: Path) -> list[dict[str, Any]]:
    try:
        document = safe_load(read_bounded(config, name=str(config)).decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, SopsError):
        fail(f"{config}: cannot be read as YAML")
    rules = document.get("creation_rules") if isinstance(document, dict) else None
    return [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []


def _encrypted(file: Path) -> bool:
    try:
        return is_encrypted(read_bounded(file, name=str(file)), detect_format(file))
    except (OSError, FormatError):
        return False
