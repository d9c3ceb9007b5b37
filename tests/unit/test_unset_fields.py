"""Unset status fields are absent on the wire, and statuses written with "" still read."""

from __future__ import annotations

from secretloom.api import crd
from secretloom.api import secretsync as api
from secretloom.api.conditions import Condition
from secretloom.controllers.status import pending, status_body

OLD_STATUS = {  # as an older version wrote it: every unset string as ""
    "observedGeneration": 1,
    "fieldManager": "secretloom/ns/s",
    "keyCount": 1,
    "keys": [
        {
            "key": "k",
            "source": "secret/s#k",
            "sourceVersion": "v1",
            "state": "Synced",
            "message": "",
        }
    ],
    "dataFrom": [],
    "lastRefreshTime": "",
    "nextRefreshTime": "",
    "refreshRequest": "",
    "conditions": [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Synced",
            "message": "",
            "observedGeneration": 1,
            "lastTransitionTime": "2030-01-01T00:00:00Z",
        }
    ],
}


def test_empty_strings_are_omitted_when_written() -> None:
    status = api.SecretSyncStatus(
        keys=[api.KeyStatus(key="k", source="secret/s#k")],
        conditions=[Condition(type="Ready", status="True", reason="Synced")],
    )
    wire = status.model_dump(by_alias=True, mode="json")
    assert "lastRefreshTime" not in wire and "fieldManager" not in wire
    assert wire["keys"] == [{"key": "k", "source": "secret/s#k", "state": "Synced"}]
    assert "message" not in wire["conditions"][0]
    assert wire["observedGeneration"] == 0  # only empty strings: numbers and lists stay
    assert "refresh_request" not in status.model_dump()


def test_the_schema_gives_unset_strings_no_default() -> None:
    schema = crd.openapi_schema(api.SecretSyncStatus)["properties"]
    assert "default" not in schema["lastRefreshTime"]
    assert "default" not in schema["conditions"]["items"]["properties"]["message"]
    assert schema["observedGeneration"]["default"] == 0


def test_an_older_status_reads_and_is_not_rewritten_for_its_empty_strings() -> None:
    parsed = api.SecretSyncStatus.model_validate(OLD_STATUS)
    assert parsed.last_refresh_time == "" and parsed.keys[0].message == ""
    assert pending({"status": OLD_STATUS}, parsed) is None  # no upgrade write storm
    body = status_body({"status": OLD_STATUS}, parsed)
    assert "lastRefreshTime" not in body
    assert body["conditions"][0]["lastTransitionTime"] == "2030-01-01T00:00:00Z"
    changed = parsed.model_copy(update={"key_count": 2})
    assert pending({"status": OLD_STATUS}, changed) is not None
