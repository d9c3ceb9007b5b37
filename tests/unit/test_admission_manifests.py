"""What the drift gate (`secretloom crds check`) cannot see in the admission policies.

The gate compares text with text; these check what the text means: the
committed YAML (folded CEL blocks) loads back to exactly the objects
`install-crds` applies, and every possible `spec.data` entry has its source
checked by exactly one policy.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from secretloom.api import admission
from secretloom.api.secretsync import SecretSyncSpec


def test_committed_yaml_means_what_install_crds_applies(repo_root: Path) -> None:
    for name, documents in admission.files().items():
        committed = (repo_root / "deploy" / "admission" / f"{name}.yaml").read_text()
        assert list(yaml.safe_load_all(committed)) == documents, name


def test_every_data_entry_is_checked_by_exactly_one_policy() -> None:
    checked: list[int] = []
    for document in admission.files()["secretsyncs.secretloom.io"]:
        for validation in document["spec"].get("validations", []):
            checked += map(
                int, re.findall(r"\.name\(variables\.sources\[(\d+)\]\)", validation["expression"])
            )
    assert sorted(checked) == list(
        range(SecretSyncSpec.model_fields["data"].metadata[0].max_length)
    )
