"""Render benchmark: 100 SOPS-encrypted files and 1,000 references.

`python -m bench.render [--smoke]` builds a plain-manifests Argo CD app of 100
SOPS-encrypted Secrets (age, encrypted by the real sops) whose values hold
1,000 `ref+vault://` references, served by a real OpenBao dev server (50 KV
paths of 20 properties), and times, as wall-clock of whole processes:

* baseline: `sops -d` run once per file, sequentially (what helm-secrets or a
  shell loop does);
* `secretloom render` of the same 100 files with literal values (decryption
  and output only);
* `secretloom render` with the 1,000 references resolved as well.

Each `secretloom render` runs as the Argo CD CMP sidecar runs it (cwd = app
directory, Argo CD's environment). Results go to bench/results/render.json
(machine, versions, raw samples, summary; see bench/record.py) and a Markdown
table on stdout. `--smoke` renders 10 files once, into a scratch directory, so
the harness is exercised in seconds and the full results are never overwritten.
`python -m bench` runs this module as one of its benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import record
from secretloom.testing.openbao import OpenBaoServer
from secretloom.testing.tools import tool

FILES, SMOKE_FILES = 100, 10
REFS_PER_FILE = 10
PATHS, PROPERTIES = 50, 20
SECLOOM = Path(sys.executable).parent / "secretloom"


def _seed(server: OpenBaoServer) -> None:
    root = server.client()
    if "secret/" not in root.sys.list_mounted_secrets_engines()["data"]:
        root.sys.enable_secrets_engine(backend_type="kv", path="secret", options={"version": "2"})
    for p in range(PATHS):
        data = {f"k{k}": f"value-{p}-{k}" for k in range(PROPERTIES)}
        root.secrets.kv.v2.create_or_update_secret(
            path=f"bench/p{p}", secret=data, mount_point="secret"
        )


def _secret(index: int, with_refs: bool) -> str:
    lines = [f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s{index:03d}\nstringData:"]
    for n in range(REFS_PER_FILE):
        ref = index * REFS_PER_FILE + n
        value = f"ref+vault://secret/bench/p{ref % PATHS}#/k{ref // PATHS % PROPERTIES}"
        lines.append(f"  v{n}: {value if with_refs else f'literal-{ref}'}")
    return "\n".join(lines) + "\n"


def _build_app(
    root: Path, recipient: str, env: dict[str, str], *, with_refs: bool, files: int
) -> Path:
    app = root / ("refs" if with_refs else "literal")
    app.mkdir()
    config = root / ".sops.yaml"
    config.write_text(f"creation_rules:\n  - age: {recipient}\n    encrypted_regex: ^stringData$\n")
    for index in range(files):
        path = app / f"secret-{index:03d}.yaml"
        path.write_text(_secret(index, with_refs))
        encrypted = subprocess.run(
            [str(tool("sops")), "--config", str(config), "encrypt", str(path)],
            env=env, capture_output=True, check=True,
        ).stdout  # fmt: skip
        path.write_bytes(encrypted)
    return app


def _timed(action: Callable[[], None], runs: int) -> list[float]:
    action()  # warm-up: page cache, Python imports
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return samples


def _sops_each(app: Path, env: dict[str, str]) -> Callable[[], None]:
    files = sorted(app.glob("*.yaml"))

    def run() -> None:
        for path in files:
            subprocess.run(
                [str(tool("sops")), "decrypt", str(path)], env=env, capture_output=True, check=True
            )

    return run


def _render(app: Path, env: dict[str, str]) -> Callable[[], None]:
    def run() -> None:
        done = subprocess.run(
            [str(SECLOOM), "render"], cwd=app, env=env, capture_output=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"render failed: {done.stderr.decode().strip()}")

    return run


def _version(binary: Path) -> str:
    done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)
    return done.stdout.splitlines()[0] if done.stdout else "unknown"


def run(*, smoke: bool, out_dir: Path) -> Path:
    """Run the render benchmark; returns the result file written in `out_dir`."""
    started, machine_info = time.monotonic(), record.machine()
    files, runs = (SMOKE_FILES, 1) if smoke else (FILES, 7)
    with tempfile.TemporaryDirectory(prefix="bench-render-") as scratch, OpenBaoServer(
        work_dir=Path(scratch) / "openbao", seed=_seed, die_with_parent=True
    ) as bao:  # fmt: skip
        root = Path(scratch)
        key = root / "age.txt"
        subprocess.run([str(tool("age-keygen")), "-o", str(key)], capture_output=True, check=True)
        recipient = subprocess.run(
            [str(tool("age-keygen")), "-y", str(key)], capture_output=True, text=True, check=True
        ).stdout.strip()
        env = {"PATH": os.environ["PATH"], "HOME": scratch, "SOPS_AGE_KEY_FILE": str(key)}
        stores = root / "stores.yaml"
        auth = {"tokenSecretRef": {"name": "t", "key": "token"}}
        vault = {"server": bao.address, "path": "secret", "auth": auth}
        stores.write_text(
            json.dumps(
                {
                    "stores": {"default": {"vault": vault}},
                    "secrets": {"t": {"token": {"env": "VAULT_TOKEN"}}},
                }
            )
        )
        cmp_env = env | {
            "ARGOCD_APP_NAME": "bench",
            "ARGOCD_APP_NAMESPACE": "bench",
            "SECRETLOOM_STORES": str(stores),
            "VAULT_TOKEN": bao.root_token,
        }
        literal = _build_app(root, recipient, env, with_refs=False, files=files)
        with_refs = _build_app(root, recipient, env, with_refs=True, files=files)
        refs = files * REFS_PER_FILE
        cases = {
            f"sops -d, once per file ({files} files)": _timed(_sops_each(literal, env), runs),
            f"secretloom render ({files} encrypted files)": _timed(_render(literal, cmp_env), runs),
            f"secretloom render ({files} files, {refs} vault refs)": _timed(
                _render(with_refs, cmp_env), runs
            ),
        }
    return _report(cases, runs, files, out_dir, started, machine_info)


def _report(
    cases: dict[str, list[float]],
    runs: int,
    files: int,
    out_dir: Path,
    started: float,
    machine_info: record.Json,
) -> Path:
    baseline = statistics.median(next(iter(cases.values())))
    summary = {
        name: {
            "median_s": statistics.median(s),
            "min_s": min(s),
            "max_s": max(s),
            "speedup_vs_baseline": baseline / statistics.median(s),
        }
        for name, s in cases.items()
    }
    path = record.write(
        "render",
        out_dir=out_dir,
        machine_info=machine_info,
        versions={"sops": _version(tool("sops"))},
        parameters={"files": files, "references": files * REFS_PER_FILE, "runs": runs},
        samples={"seconds": cases},
        summary=summary,
        started=started,
    )
    print("| case | median | min | max | vs. `sops -d` per file |")
    print("|---|---:|---:|---:|---:|")
    for name, row in summary.items():
        print(
            f"| {name} | {row['median_s']:.2f} s | {row['min_s']:.2f} s | {row['max_s']:.2f} s "
            f"| {row['speedup_vs_baseline']:.1f}x |"
        )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="10 files, one sample per case")
    smoke = parser.parse_args().smoke
    out_dir = Path(tempfile.mkdtemp(prefix="secretloom-bench-smoke-")) if smoke else record.RESULTS
    print(f"wrote {run(smoke=smoke, out_dir=out_dir)}")


if __name__ == "__main__":
    main()
