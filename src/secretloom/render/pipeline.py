"""The render itself: app directory in, multi-document YAML out.

Order of work, and why:
1. Before any file of the app is read, by us or by helm and kustomize, every
   symlink in it is checked (`links.check`): the tools follow links, so a
   link out of the app would render the sidecar's files (CVE-2022-24348).
2. Nothing is printed until everything resolved: a missing reference must
   fail the whole render (Argo CD then keeps the last good manifests) rather
   than ship a half-rendered Secret.
3. Helm: every values file is resolved *before* helm runs (templates may
   transform values, e.g. `b64enc`), and the rendered output is resolved
   again for references written in templates. SOPS values files
   (`secrets://…`) are decrypted in memory and handed to helm as JSON in the
   private temp dir, so their types survive exactly.
4. Plain manifests: SOPS-encrypted manifests are decrypted (and emitted as
   JSON documents, type-exact); all others are substituted in place.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secretloom.providers.egress import EgressPolicy
from secretloom.render import app, argocd, links, paths, runner, stores, substitute
from secretloom.render.backends import Context, Resolver
from secretloom.render.errors import RenderError
from secretloom.render.tempdir import PrivateDir, private_dir
from secretloom.runtime.kube import KubeClient
from secretloom.runtime.kubeconfig import KubeconfigError
from secretloom.sops import KeySources, SopsError, decrypt_file


@dataclass(frozen=True)
class Options:
    """The operator's settings: flags of the plugin command, not app parameters."""

    app_dir: Path
    env: Mapping[str, str] = field(repr=False)
    keys: KeySources
    allowed_env: frozenset[str] = frozenset()
    allowed_namespaces: frozenset[str] | None = None  # None: the app's namespace only
    stores_file: Path | None = None
    store_servers: EgressPolicy = field(default_factory=EgressPolicy)  # --store-servers
    kubeconfig: Path | None = None
    in_cluster: bool = False
    helm: str = "helm"
    kustomize: str = "kustomize"


async def render(options: Options) -> str:
    links.check(options.app_dir, source_path=options.env.get(links.SOURCE_PATH_VARIABLE))
    settings = argocd.from_env(options.env)
    kind = app.detect(options.app_dir)
    redact = runner.Redactor()
    async with _context(options, settings) as ctx:
        job = _Job(options, settings, Resolver(ctx), redact)
        with private_dir() as tmp:
            if kind is app.Kind.HELM:
                return await job.helm(tmp)
            if kind is app.Kind.KUSTOMIZE:
                return await job.kustomize(tmp)
            return await job.plain()


@contextlib.asynccontextmanager
async def _context(options: Options, settings: argocd.AppSettings) -> AsyncIterator[Context]:
    kube = _kube_client(options)
    store_set = None
    if options.stores_file is not None:
        store_set = stores.from_file(options.stores_file, options.env, egress=options.store_servers)
    elif kube is not None:
        store_set = stores.from_cluster(kube, settings.namespace, egress=options.store_servers)
    try:
        yield Context(
            app_dir=options.app_dir,
            env=options.env,
            keys=options.keys,
            allowed_env=options.allowed_env,
            allowed_namespaces=options.allowed_namespaces or frozenset({settings.namespace}),
            stores=store_set,
            kube=kube,
        )
    finally:
        if store_set is not None:
            await store_set.close()
        if kube is not None:
            await kube.close()


def _kube_client(options: Options) -> KubeClient | None:
    """The runtime's client, as the controller's; none unless the operator gave one."""
    if options.kubeconfig is None and not options.in_cluster:
        return None
    try:
        return KubeClient.from_kubeconfig(options.kubeconfig, in_cluster=options.in_cluster)
    except KubeconfigError as err:
        raise RenderError(str(err)) from None


class _Job:
    def __init__(
        self,
        options: Options,
        settings: argocd.AppSettings,
        resolver: Resolver,
        redact: runner.Redactor,
    ) -> None:
        self._options = options
        self._root = options.app_dir
        self._settings = settings
        self._resolver = resolver
        self._redact = redact

    async def _resolve_text(self, text: str, name: str) -> str:
        document = substitute.YamlText(text, name=name)
        values = await self._resolver.resolve(document.references())
        self._redact.add(values.values())
        return document.render(values)

    async def _resolve_data(self, data: Any) -> Any:
        values = await self._resolver.resolve(substitute.collect_data(data))
        self._redact.add(values.values())
        return substitute.substitute_data(data, values)

    def _decrypt(self, path: Path) -> list[Any]:
        name = paths.display(self._root, path)
        try:
            documents = decrypt_file(path, self._options.keys, name=name).documents()
        except SopsError as err:
            raise RenderError(str(err)) from None
        self._redact.add(documents)
        return documents

    async def helm(self, tmp: PrivateDir) -> str:
        # `--flag=value` everywhere: a value starting with "-" stays a value.
        args = [self._options.helm, "template", self._settings.release_name, str(self._root)]
        args.append(f"--namespace={self._settings.namespace}")
        if self._settings.kube_version:
            args.append(f"--kube-version={self._settings.kube_version}")
        args += [f"--api-versions={v}" for v in self._settings.api_versions]
        args += [f"--values={f}" for f in await self._values_files(tmp)]
        env = runner.tool_env(tmp.path, dict(self._options.env))
        output = runner.run(
            args, cwd=self._root, env=env, redact=self._redact, what="helm template"
        )
        return await self._resolve_text(output, "helm output")

    async def _values_files(self, tmp: PrivateDir) -> list[Path]:
        chart_values = self._root / "values.yaml"
        listed = list(self._settings.values)
        if chart_values.is_file() and not any(v.path == "values.yaml" for v in listed):
            listed.insert(0, argocd.ValuesFile("values.yaml", encrypted=False))
        files = []
        for values_file in listed:
            what = f"values file {values_file.path!r}"
            path = paths.confine(self._root, values_file.path, what=what)
            if not path.is_file():
                raise RenderError(f"{what}: not found")
            if values_file.encrypted:
                documents = self._decrypt(path)
                data = await self._resolve_data(documents[0] if documents else {})
                files.append(tmp.write("values.json", json.dumps(data).encode()))
            else:
                text = app.text(app.read(path, name=values_file.path), name=values_file.path)
                resolved = await self._resolve_text(text, values_file.path)
                files.append(
                    tmp.write("values.yaml", resolved.encode()) if resolved != text else path
                )
        return files

    async def kustomize(self, tmp: PrivateDir) -> str:
        args = [self._options.kustomize, "build", str(self._root)]
        env = runner.tool_env(tmp.path, dict(self._options.env))
        output = runner.run(
            args, cwd=self._root, env=env, redact=self._redact, what="kustomize build"
        )
        return await self._resolve_text(output, "kustomize output")

    async def plain(self) -> str:
        """All manifests, with every reference of every file resolved in one batch."""
        parsed: list[substitute.YamlText | list[Any]] = []
        for path in app.manifests(self._root):
            name = paths.display(self._root, path)
            paths.confine(self._root, name, what=f"manifest {name!r}")  # a symlink out is refused
            data = app.read(path, name=name)
            if app.is_sops_file(data, path, name=name):
                parsed.append([d for d in self._decrypt(path) if d])
            else:
                parsed.append(substitute.YamlText(app.text(data, name=name), name=name))
        wanted = [
            r
            for item in parsed
            for r in (
                item.references()
                if isinstance(item, substitute.YamlText)
                else substitute.collect_data(item)
            )
        ]
        values = await self._resolver.resolve(wanted)
        self._redact.add(values.values())
        pieces = []
        for item in parsed:
            if isinstance(item, substitute.YamlText):
                pieces.append(item.render(values))
            else:
                pieces += [
                    json.dumps(substitute.substitute_data(d, values), indent=2) + "\n" for d in item
                ]
        return join_documents(pieces)


def join_documents(pieces: list[str]) -> str:
    texts = [p if p.endswith("\n") else p + "\n" for p in pieces if p.strip()]
    return "".join(t if t.startswith("---") else "---\n" + t for t in texts)
