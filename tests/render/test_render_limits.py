"""`secretloom render` on hostile files: bounded work, one line, fail closed (issue 10).

Each attack was reproduced on the code before this test: a billion-laughs
YAML in a SOPS file, a `secrets://` values file, a `ref+file://` target or
any manifest merely containing the word `sops` (discovery included) ran past
60 s and 1.3 GiB; deep nesting, 10,000-digit integers and odd dotenv keys
ended in tracebacks of up to 2,978 lines; and a SOPS file whose `sops`
section was removed or renamed was emitted as is, `ENC[...]` values and all,
with exit 0, where the real `sops -d` refuses it.

The billion laughs run the plugin command exactly as Argo CD's sidecar does,
in a child process whose wall time and peak RSS (VmHWM) are bounds, not
benchmarks: the child is killed past `TIMEOUT_SECONDS`. The other cases
call the renderer in-process, where "one line" means a RenderError or
SopsError (what the CLI prints as one line) whose text has no newline.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from secretloom.render.errors import RenderError
from secretloom.render.pipeline import Options, render
from secretloom.sops import KeySources, SopsError, decrypt_file
from secretloom.sops.limits import MAX_FILE_BYTES
from secretloom.testing.tools import tool
from tests.render.oracle import Keys, Sops
from tests.render.test_render_e2e import SECLOOM, plugin_command
from tests.render.test_render_safety import CHART_YAML

CANARY = "canary-limits-4b1f"
TIMEOUT_SECONDS = 30  # the CLI starts in about 1 s at rest; the attacks ran past 60 s
MAX_RSS_MIB = 256  # the CLI alone peaks near 70 MiB; the attacks reached 1.3 GiB
DEEP = 10_000
SOPS_SECTION = "sops:\n    mac: unused\n    lastmodified: '2024-01-01T00:00:00Z'\n"
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sops-notes\n"


def laughs() -> str:
    """Ten top-level keys whose aliases expand to 10**9 nodes (a few hundred bytes)."""
    lines = ["l0: &l0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def deep_yaml(levels: int = DEEP) -> str:
    return "k: " + "{k: " * levels + "v" + "}" * levels + "\n"


def deep_json(levels: int = DEEP) -> str:
    return '{"a": ' + "[" * levels + "]" * levels + "}"


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mib: float


def run_cli(args: list[str], *, cwd: Path, env: dict[str, str]) -> Outcome:
    """Run a command, polling its peak RSS (VmHWM); killed after TIMEOUT_SECONDS.

    Not `wait4`'s ru_maxrss: Linux carries the parent's high-water mark over
    fork and exec, so it would report pytest's own size.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        child = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=err)
        peak_kib = 0
        while child.poll() is None:
            peak_kib = max(peak_kib, _high_water_kib(child.pid))
            if time.monotonic() - start > TIMEOUT_SECONDS:
                child.kill()
                child.wait()
                break
            time.sleep(0.02)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        return Outcome(
            child.returncode, out.read().decode(), err.read().decode(), seconds, peak_kib / 1024
        )


def _high_water_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # exited between poll() and here
        return 0
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else 0


def cmp_env(**extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": tempfile.gettempdir(),
        "ARGOCD_APP_NAME": "limits",
        "ARGOCD_APP_NAMESPACE": "limits",
        "SECRETLOOM_HELM": str(tool("helm")),
        **{k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ},
        **extra,
    }


def assert_bounded(outcome: Outcome) -> None:
    assert outcome.seconds < TIMEOUT_SECONDS, "killed: the render did not finish in time"
    assert outcome.max_rss_mib < MAX_RSS_MIB, f"peak RSS {outcome.max_rss_mib:.0f} MiB"


def assert_one_line(outcome: Outcome, *mentions: str) -> None:
    assert_bounded(outcome)
    assert (outcome.code, outcome.stdout) == (1, ""), outcome.stderr[-2000:]
    assert outcome.stderr.startswith("secretloom: error: "), outcome.stderr[-2000:]
    assert outcome.stderr.count("\n") == 1, outcome.stderr[-2000:]
    for mention in mentions:
        assert mention in outcome.stderr
    assert CANARY not in outcome.stderr


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def helm_chart(root: Path, values: dict[str, str]) -> Path:
    template = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
    return write(root, {"Chart.yaml": CHART_YAML, "templates/cm.yaml": template, **values})


def configmap_with(value: str) -> str:
    return f"{CONFIGMAP}data:\n  v: {value}\n"


# name -> (files of the app, extra env, what the one line must name)
LAUGHS: dict[str, tuple[dict[str, str], dict[str, str], str]] = {
    "sops-manifest": ({"secret.yaml": laughs() + SOPS_SECTION}, {}, "secret.yaml"),
    "secrets-values-file": (
        {"secrets.yaml": laughs() + SOPS_SECTION},
        {"ARGOCD_ENV_HELM_VALUES": "secrets://secrets.yaml"},
        "secrets.yaml",
    ),
    "ref-file-target": (
        {"cm.yaml": configmap_with("ref+file://files/lol.yaml#/l9"), "files/lol.yaml": laughs()},
        {},
        "ref+file://files/lol.yaml",
    ),
    "manifest-mentioning-sops": ({"cm.yaml": CONFIGMAP + laughs()}, {}, "cm.yaml"),
}


@pytest.mark.parametrize("entry", sorted(LAUGHS))
def test_billion_laughs_fail_fast_with_one_line(entry: str, tmp_path: Path) -> None:
    files, env, named = LAUGHS[entry]
    app = (helm_chart if "ARGOCD_ENV_HELM_VALUES" in env else write)(tmp_path, files)
    outcome = run_cli(plugin_command("generate"), cwd=app, env=cmp_env(**env))
    assert_one_line(outcome, named, "aliases expand to more than")


@pytest.mark.parametrize(
    ("files", "claimed"),
    [
        ({"secret.yaml": laughs() + SOPS_SECTION}, "plain\n"),  # claimed: render then refuses it
        ({"cm.yaml": CONFIGMAP + laughs()}, ""),
    ],
    ids=["top-level-sops-key", "mentions-sops"],
)
def test_discovery_scans_without_parsing(
    files: dict[str, str], claimed: str, tmp_path: Path
) -> None:
    outcome = run_cli(plugin_command("discover"), cwd=write(tmp_path, files), env=cmp_env())
    assert_bounded(outcome)
    assert (outcome.code, outcome.stdout, outcome.stderr) == (0, claimed, "")


def run(app: Path, keys: KeySources | None = None, **env: str) -> str:
    options = Options(
        app_dir=app,
        env={
            "PATH": os.environ["PATH"],
            "ARGOCD_APP_NAME": "t",
            "ARGOCD_APP_NAMESPACE": "ns",
            **env,
        },
        keys=keys or KeySources(),
        helm=str(tool("helm")),
    )
    return asyncio.run(render(options))


def refused(
    app: Path, *mentions: str, keys: KeySources | None = None, env: dict[str, str] | None = None
) -> str:
    """The render fails with one line (a RenderError or SopsError) naming `mentions`."""
    with pytest.raises((RenderError, SopsError)) as failed:
        run(app, keys, **(env or {}))
    message = str(failed.value)
    assert "\n" not in message
    assert CANARY not in message
    for mention in mentions:
        assert mention in message, message
    return message


# name -> (files of the app, extra env, what the one line must name)
DEEP_NESTING: dict[str, tuple[dict[str, str], dict[str, str], str]] = {
    "sops-yaml-manifest": ({"secret.yaml": SOPS_SECTION + deep_yaml()}, {}, "secret.yaml"),
    "sops-json-manifest": (
        {"secret.json": deep_json()[:-1] + ', "sops": {"mac": "x"}}'},
        {},
        "secret.json",
    ),
    "plain-manifest-with-a-reference": (
        {"cm.yaml": configmap_with("ref+env://ARGOCD_ENV_X") + deep_yaml()},
        {"ARGOCD_ENV_X": "x"},
        "cm.yaml",
    ),
    "ref-file-yaml": (
        {
            "cm.yaml": configmap_with("ref+file://files/deep.yaml#/k"),
            "files/deep.yaml": deep_yaml(),
        },
        {},
        "ref+file://files/deep.yaml",
    ),
    "ref-file-json": (
        {
            "cm.yaml": configmap_with("ref+file://files/deep.json#/a"),
            "files/deep.json": deep_json(),
        },
        {},
        "ref+file://files/deep.json",
    ),
    "secrets-values-file": (
        {"secrets.yaml": SOPS_SECTION + deep_yaml()},
        {"ARGOCD_ENV_HELM_VALUES": "secrets://secrets.yaml"},
        "secrets.yaml",
    ),
}


@pytest.mark.parametrize("entry", sorted(DEEP_NESTING))
def test_deep_nesting_is_one_line(entry: str, tmp_path: Path) -> None:
    files, env, named = DEEP_NESTING[entry]
    app = (helm_chart if "ARGOCD_ENV_HELM_VALUES" in env else write)(tmp_path, files)
    refused(app, named, "nested", env=env)


def test_deep_nesting_through_the_sops_cli_is_one_line(tmp_path: Path) -> None:
    write(tmp_path, {"deep.yaml": SOPS_SECTION + deep_yaml()})
    outcome = run_cli([str(SECLOOM), "sops", "decrypt", "deep.yaml"], cwd=tmp_path, env=cmp_env())
    assert_one_line(outcome, "deep.yaml", "nested deeper than")


@pytest.fixture
def age_config(tmp_path: Path, keys: Keys) -> Path:
    config = tmp_path / ".sops.yaml"
    config.write_text(f"creation_rules:\n  - age: {keys.age[0].recipient}\n")
    return config


def encrypt(sops: Sops, config: Path, name: str, text: str) -> str:
    """`text` as the real sops encrypts it into `name`; the plaintext is not left behind."""
    plain = config.parent / name
    plain.write_text(text)
    try:
        return sops.encrypt(plain, config).decode()
    finally:
        plain.unlink()


def test_a_10000_digit_integer_decrypts_as_sops_reads_it(
    tmp_path: Path, sops: Sops, keys: Keys, age_config: Path
) -> None:
    digits = "1" * DEEP
    path = tmp_path / "big.yaml"
    path.write_text(
        encrypt(sops, age_config, "big.yaml", f"n_unencrypted: {digits}\npw: {CANARY}\n")
    )
    oracle = sops.decrypt(path, "--output-type", "json")
    assert oracle.returncode == 0, oracle.stderr
    data = decrypt_file(path, keys.sources()).data()
    assert data == json.loads(oracle.stdout) == {"n_unencrypted": digits, "pw": CANARY}


def test_a_10000_digit_integer_in_a_ref_file_target_is_text_as_go_yaml_reads_it(
    tmp_path: Path,
) -> None:
    digits = "1" * DEEP
    app = write(
        tmp_path, {"cm.yaml": configmap_with("ref+file://n.yaml#/n"), "n.yaml": f"n: {digits}\n"}
    )
    assert f'v: "{digits}"' in run(app)


ODD_DOTENV_KEYS: dict[str, Callable[[str], str]] = {
    "huge-list-index": lambda t: t.replace("sops_age__list_0__", "sops_age__list_99999999999__"),
    "non-digit-list-index": lambda t: t.replace("sops_age__list_0__", "sops_age__list_x__"),
    "non-ascii-digit-index": lambda t: t.replace("sops_age__list_0__", "sops_age__list_\u00b2__"),
    "value-then-list": lambda t: "sops_age=x\n" + t,
    "list-then-map": lambda t: t + "sops_age__map_x=y\n",
}


@pytest.mark.parametrize("oddity", sorted(ODD_DOTENV_KEYS))
def test_odd_dotenv_metadata_keys_are_one_line(
    oddity: str, tmp_path: Path, sops: Sops, keys: Keys, age_config: Path
) -> None:
    encrypted = encrypt(sops, age_config, "app.env", f"PASSWORD={CANARY}\n")
    write(tmp_path, {"app.env": ODD_DOTENV_KEYS[oddity](encrypted)})
    write(tmp_path, {"cm.yaml": configmap_with("ref+sops://app.env#/PASSWORD")})
    refused(tmp_path, "app.env", keys=keys.sources())
    outcome = run_cli(
        [str(SECLOOM), "sops", "decrypt", "app.env"], cwd=tmp_path, env=cmp_env(**keys.env())
    )
    assert_one_line(outcome, "app.env")


@pytest.mark.parametrize("entry", ["plain-manifest", "ref-file-target", "secrets-values-file"])
def test_files_over_the_size_limit_are_refused_by_name(entry: str, tmp_path: Path) -> None:
    big = "data:\n  v: " + "x" * MAX_FILE_BYTES + "\n"
    if entry == "plain-manifest":
        refused(write(tmp_path, {"cm.yaml": big}), "cm.yaml", "larger than 16 MiB")
    elif entry == "ref-file-target":
        write(tmp_path, {"cm.yaml": configmap_with("ref+file://f/big.yaml"), "f/big.yaml": big})
        refused(tmp_path, "ref+file://f/big.yaml", "larger than 16 MiB")
    else:
        app = helm_chart(tmp_path, {"big.yaml": big})
        env = {"ARGOCD_ENV_HELM_VALUES": "secrets://big.yaml"}
        refused(app, "big.yaml", "larger than 16 MiB", env=env)


def _remove_sops_section(text: str) -> str:
    return re.sub(r"(?ms)^sops:\n(?:[ \t].*\n)*", "", text)


# name -> (file name, the stripped SOPS file's text from the encrypted one, how the app uses it)
STRIPPED: dict[str, tuple[str, Callable[[str], str], str]] = {
    "yaml-manifest-section-removed": ("secret.yaml", _remove_sops_section, "manifest"),
    "yaml-manifest-section-renamed": (
        "secret.yaml",
        lambda t: t.replace("\nsops:", "\nsopz:"),
        "manifest",
    ),
    "json-manifest-section-renamed": (
        "secret.json",
        lambda t: t.replace('"sops":', '"sops_":'),
        "manifest",
    ),
    "values-file": ("secrets.yaml", _remove_sops_section, "values"),
    "ref-file-pointer": ("secrets.yaml", _remove_sops_section, "ref+file#/password"),
    "ref-file-whole": ("secrets.yaml", _remove_sops_section, "ref+file"),
}


@pytest.mark.parametrize("case", sorted(STRIPPED))
def test_encrypted_values_without_sops_metadata_are_refused_like_sops_does(
    case: str, tmp_path: Path, sops: Sops, keys: Keys, age_config: Path
) -> None:
    name, strip, use = STRIPPED[case]
    plain = {"password": CANARY, "user": "admin"}
    text = yaml.safe_dump(plain) if name.endswith(".yaml") else json.dumps(plain)
    encrypted = encrypt(sops, age_config, name, text)
    stripped = strip(encrypted)
    assert stripped != encrypted and "ENC[AES256_GCM," in stripped
    where = f"files/{name}" if use.startswith("ref+file") else name  # not itself a manifest
    write(tmp_path, {where: stripped})
    assert sops.decrypt(tmp_path / where).returncode != 0
    env = {"ARGOCD_ENV_HELM_VALUES": name} if use == "values" else {}
    if use == "values":
        helm_chart(tmp_path, {})
    elif use.startswith("ref+file"):
        pointer = "#/password" if "#" in use else ""
        write(tmp_path, {"cm.yaml": configmap_with(f"ref+file://{where}{pointer}")})
    refused(tmp_path, name, "ENC[", keys=keys.sources(), env=env)


def test_encrypted_values_without_metadata_through_the_plugin_command(
    tmp_path: Path, sops: Sops, age_config: Path
) -> None:
    encrypted = encrypt(sops, age_config, "secret.yaml", f"password: {CANARY}\n")
    write(tmp_path, {"secret.yaml": _remove_sops_section(encrypted)})
    outcome = run_cli(plugin_command("generate"), cwd=tmp_path, env=cmp_env())
    assert_one_line(outcome, "secret.yaml", "without valid sops metadata")
