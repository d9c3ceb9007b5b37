"""`secretloom test FILE...`: offline tests of SecretSyncs, like `kyverno test` for policies.

A test file (YAML) lists cases; each names its input resources (manifest files
or directories relative to the file, then inline `objects`, each a manifest or
`{fieldManager: m, object: manifest}`), who wrote each
input Secret (`fieldManagers`, default `kubectl`), the values stores return
(`stores`, recorded per path and property) and what it expects: per target
Secret its keys with a value or a SHA-256 and an owner, per SecretSync its
conditions. The run is `controllers.secretsync.simulate`: the controller's own
planning code, no cluster, no network.

    tests:
      - name: two teams, one Secret
        resources: [..]
        fieldManagers: {argocd/argocd-notifications-secret: helm}
        stores:
          - {kind: SecretStore, namespace: argocd, name: vault,
             values: {argocd/grafana: {api-key: demo-grafana-key-1}}}
        expect:
          - secret: argocd/argocd-notifications-secret
            keys:
              gitlab-token: {value: demo-gitlab-token-1, owner: secretloom/argocd/gitlab-token}
          - secretSync: argocd/gitlab-token
            conditions: {Ready: "True"}

Output: a table of every check, and on failure a readable diff under it;
`--junit FILE` writes a JUnit XML report (a testcase per case). A value that
differs is shown as SHA-256 prefixes, never as text. Exit 0 when every check
passes, 1 otherwise; a malformed test file is one `secretloom: error:` line.
"""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from secretloom.api import secretsync as api
from secretloom.api.invalid import first_problem
from secretloom.cli.errors import fail
from secretloom.controllers.secretsync import simulate

_SUFFIXES = (".yaml", ".yml", ".json")


class TestFileError(Exception):
    """The test file cannot be used; one line."""


@dataclass(frozen=True)
class Check:
    case: str
    subject: str
    what: str
    ok: bool
    diff: str = ""


def _sha(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


def _split(ref: Any, what: str) -> tuple[str, str]:
    namespace, _, name = str(ref).rpartition("/")
    if not name:
        raise TestFileError(f"{what} {ref!r}: write it as namespace/name")
    return namespace or "default", name


def manifests(base: Path, case: dict[str, Any]) -> list[tuple[dict[str, Any], str | None]]:
    """(manifest, field manager or None) for the resources, then the inline objects."""
    docs: list[Any] = []
    for entry in case.get("resources") or []:
        path = (base / str(entry)).resolve()
        files = (
            sorted(p for p in path.glob("*") if p.suffix in _SUFFIXES) if path.is_dir() else [path]
        )
        for file in files:
            try:
                docs += list(yaml.safe_load_all(file.read_text()))
            except (OSError, yaml.YAMLError) as err:
                raise TestFileError(f"resource {file}: {type(err).__name__}") from None
    found: list[tuple[Any, str | None]] = [(d, None) for d in docs]
    for entry in case.get("objects") or []:
        # `{fieldManager: m, object: {...}}` writes the object as `m`; a bare manifest too.
        if isinstance(entry, dict) and "object" in entry:
            found.append((entry["object"], str(entry.get("fieldManager", "kubectl"))))
        else:
            found.append((entry, None))
    return [(d, m) for d, m in found if isinstance(d, dict) and d.get("kind")]


def load_world(base: Path, case: dict[str, Any]) -> simulate.World:
    world = simulate.World()
    managers = {str(k): str(v) for k, v in (case.get("fieldManagers") or {}).items()}
    for doc, writer in manifests(base, case):
        meta = doc.get("metadata") or {}
        namespace, name = meta.get("namespace") or "default", str(meta.get("name", ""))
        if doc["kind"] == "Secret":
            data = dict(doc.get("data") or {})
            data.update({k: _b64(str(v)) for k, v in (doc.get("stringData") or {}).items()})
            body: dict[str, Any] = {"metadata": {"name": name}, "type": doc.get("type", "Opaque")}
            if data:
                body["data"] = data
            manager = writer or managers.get(f"{namespace}/{name}", "kubectl")
            simulate.apply(world, namespace, body, manager, force=True)
        elif doc["kind"] == api.KIND:
            try:
                spec = api.SecretSyncSpec.model_validate(doc.get("spec") or {})
            except ValidationError as err:
                raise TestFileError(
                    f"SecretSync {namespace}/{name}: {first_problem(err)}"
                ) from None
            unsupported = simulate.not_simulated(spec)
            if unsupported:
                raise TestFileError(
                    f"SecretSync {namespace}/{name}: {', '.join(unsupported)} not simulated "
                    "offline; test it on `secretloom cluster` (docs/chainsaw.md)"
                )
            world.syncs.append(simulate.Sync(namespace, name, spec))
    for store in case.get("stores") or []:
        kind = store.get("kind", "SecretStore")
        namespace = "" if kind == "ClusterSecretStore" else store.get("namespace", "default")
        values = {
            str(path): {str(k): str(v) for k, v in (props or {}).items()}
            for path, props in (store.get("values") or {}).items()
        }
        world.stores[kind, namespace, str(store.get("name"))] = values
    return world


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _secret_checks(name: str, world: simulate.World, expect: dict[str, Any]) -> list[Check]:
    ref = str(expect["secret"])
    secret = world.secrets.get(_split(ref, "secret"))
    if secret is None:
        return [Check(name, f"secret {ref}", "exists", False, "the Secret was never written")]
    checks: list[Check] = []
    keys: dict[str, Any] = expect.get("keys") or {}
    if not expect.get("partial", False):
        missing, extra = sorted(set(keys) - set(secret.data)), sorted(set(secret.data) - set(keys))
        diff = "\n".join(
            [f"- missing key {k!r}" for k in missing] + [f"+ unexpected key {k!r}" for k in extra]
        )
        checks.append(Check(name, f"secret {ref}", "key set", not diff, diff))
    for key, spec in keys.items():
        wanted = spec or {}
        have = secret.data.get(key)
        if have is None:
            checks.append(
                Check(name, f"secret {ref}", f"key {key}", False, f"- key {key!r} absent")
            )
            continue
        actual = _sha(base64.b64decode(have))
        if "value" in wanted or "sha256" in wanted:
            expected = (
                _sha(str(wanted["value"]).encode()) if "value" in wanted else wanted["sha256"]
            )
            diff = "" if actual == expected else (
                f"- value sha256 {str(expected)[:12]}…\n+ value sha256 {actual[:12]}…"
            )  # fmt: skip
            checks.append(Check(name, f"secret {ref}", f"{key} value", not diff, diff))
        if "owner" in wanted:
            owners = secret.managers.get(key, [])
            ok = owners == [wanted["owner"]]
            diff = "" if ok else f"- owner {wanted['owner']}\n+ owners {', '.join(owners) or '-'}"
            checks.append(Check(name, f"secret {ref}", f"{key} owner", ok, diff))
    return checks


def _sync_checks(name: str, world: simulate.World, expect: dict[str, Any]) -> list[Check]:
    ref = str(expect["secretSync"])
    status = world.statuses.get(_split(ref, "secretSync"))
    if status is None:
        return [Check(name, f"secretsync {ref}", "exists", False, "no such SecretSync in inputs")]
    found = {c.type: c for c in status.conditions}
    checks = []
    for kind, wanted in (expect.get("conditions") or {}).items():
        wanted_status = str(wanted if not isinstance(wanted, dict) else wanted.get("status"))
        have = found.get(kind)
        ok = have is not None and have.status == wanted_status
        if ok and isinstance(wanted, dict) and "reason" in wanted:
            ok = have is not None and have.reason == wanted["reason"]
        diff = ""
        if not ok:
            got = f"{have.status} ({have.reason}: {have.message})" if have else "absent"
            diff = f"- {kind}={wanted_status}\n+ {kind}={got}"
        checks.append(Check(name, f"secretsync {ref}", f"condition {kind}", ok, diff))
    return checks


def run_file(path: Path) -> list[Check]:
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as err:
        raise TestFileError(f"{path}: {err.strerror}") from None
    except yaml.YAMLError:
        raise TestFileError(f"{path}: not valid YAML") from None
    cases = (document or {}).get("tests") if isinstance(document, dict) else None
    if not isinstance(cases, list) or not cases:
        raise TestFileError(f"{path}: no `tests:` list")
    checks: list[Check] = []
    for index, case in enumerate(cases):
        name = str(case.get("name") or f"case {index}")
        try:
            world = load_world(path.parent, case)
            simulate.run(world)
            for expect in case.get("expect") or []:
                if "secret" in expect:
                    checks += _secret_checks(name, world, expect)
                elif "secretSync" in expect:
                    checks += _sync_checks(name, world, expect)
                else:
                    raise TestFileError("an expectation names neither secret nor secretSync")
        except TestFileError as err:
            raise TestFileError(f"{path}: {name}: {err}") from None
    return checks


def _junit(results: dict[Path, list[Check]]) -> ET.ElementTree[ET.Element]:
    suites = ET.Element("testsuites")
    for path, checks in results.items():
        cases = list(dict.fromkeys(c.case for c in checks))
        failed = [c for c in cases if any(not k.ok for k in checks if k.case == c)]
        suite = ET.SubElement(
            suites, "testsuite", name=str(path), tests=str(len(cases)), failures=str(len(failed))
        )
        for case in cases:
            element = ET.SubElement(suite, "testcase", classname=str(path), name=case)
            bad = [k for k in checks if k.case == case and not k.ok]
            if bad:
                failure = ET.SubElement(element, "failure", message=f"{len(bad)} check(s) failed")
                failure.text = "\n".join(f"{k.subject} {k.what}:\n{k.diff}" for k in bad)
    return ET.ElementTree(suites)


def offline_test(
    files: Annotated[list[Path], typer.Argument(help="Test files (YAML).")],
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write a JUnit XML report here.")
    ] = None,
) -> None:
    """Run SecretSyncs offline against recorded inputs and check the targets they produce."""
    results: dict[Path, list[Check]] = {}
    try:
        for file in files:
            results[file] = run_file(file)
    except TestFileError as err:
        fail(str(err))
    console = Console(width=120, highlight=False)
    table = Table(title="secretloom test")
    for column in ("case", "subject", "check", "result"):
        table.add_column(column)
    for checks in results.values():
        for c in checks:
            verdict = "[green]pass[/green]" if c.ok else "[red]FAIL[/red]"
            table.add_row(escape(c.case), escape(c.subject), escape(c.what), verdict)
    console.print(table)
    failures = [c for checks in results.values() for c in checks if not c.ok]
    for c in failures:
        console.print(f"[red]FAIL[/red] {escape(c.case)}: {escape(c.subject)} {escape(c.what)}")
        for line in c.diff.splitlines():
            console.print(f"    {escape(line)}")
    total = sum(len(c) for c in results.values())
    console.print(f"{total - len(failures)} of {total} check(s) passed")
    if junit is not None:
        _junit(results).write(junit, encoding="unicode", xml_declaration=True)
    if failures:
        raise typer.Exit(1)
