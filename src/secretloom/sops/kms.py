"""AWS KMS master keys of SOPS files: the data key decrypted with KMS Decrypt (issue 16).

sops stores, per KMS key, the key ARN, the data key encrypted by KMS (`enc`,
base64), the encryption context it was encrypted with, and optionally a role
to assume first. Decrypting is one KMS Decrypt call with the same context and
key ID, which is what this module does, on botocore (no hand-written SigV4).

Credentials and endpoint come from where `sops` takes them: the AWS SDK's
default chain in the environment `secretloom render` runs in (the plugin
sidecar's identity: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
AWS_SESSION_TOKEN, IRSA's AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, an
instance role), `AWS_ENDPOINT_URL_KMS` / `AWS_ENDPOINT_URL` for a VPC
endpoint; the region is the key ARN's, as sops does. With a `role`, an STS
AssumeRole comes first.

Bounds: each call has a 10 s connect and read timeout and botocore's standard
retries (3 attempts). Errors name the key ARN and the AWS error code, never
AWS's message text or the ciphertext; botocore's loggers are held at WARNING
(at DEBUG they print bodies, here the plaintext data key).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from secretloom.sops.errors import DataKeyError
from secretloom.sops.metadata import MasterKey

for _name in ("botocore", "boto3"):
    logging.getLogger(_name).setLevel(logging.WARNING)

_CONFIG = Config(
    connect_timeout=10, read_timeout=10, retries={"mode": "standard", "total_max_attempts": 3}
)


def decrypt(key: MasterKey, env: Mapping[str, str]) -> bytes:
    """The data key (or Shamir share) `key` protects, or DataKeyError naming the ARN."""
    where = f"kms {key.name}"
    parts = key.name.split(":")
    if len(parts) < 6 or parts[2] != "kms":
        raise DataKeyError(f"{where}: not a KMS key ARN")
    try:
        blob = base64.b64decode(key.enc, validate=True)
    except (binascii.Error, ValueError):
        raise DataKeyError(f"{where}: the encrypted data key is not base64") from None
    try:
        session = _session(key, parts[3], env)
        endpoint = env.get("AWS_ENDPOINT_URL_KMS") or env.get("AWS_ENDPOINT_URL")
        kms = session.client("kms", endpoint_url=endpoint, config=_CONFIG)
        answer = kms.decrypt(
            CiphertextBlob=blob, KeyId=key.name, EncryptionContext=dict(key.context)
        )
    except ClientError as err:
        error: dict[str, Any] = dict(err.response.get("Error") or {})
        failure = str(error.get("Code") or "error")
    except BotoCoreError as err:
        failure = type(err).__name__
    else:
        plaintext = dict(answer).get("Plaintext")
        if isinstance(plaintext, bytes):
            return plaintext
        failure = "answered without a plaintext"
    raise DataKeyError(f"{where}: KMS Decrypt failed ({failure})")


def _session(key: MasterKey, region: str, env: Mapping[str, str]) -> Any:
    # Static keys in the environment given (as sops reads them); otherwise botocore's
    # default chain (web identity file, container or instance credentials).
    session = boto3.session.Session(
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=env.get("AWS_SESSION_TOKEN"),
        region_name=region,
    )
    if not key.role:
        return session
    sts = session.client(
        "sts",
        endpoint_url=env.get("AWS_ENDPOINT_URL_STS") or env.get("AWS_ENDPOINT_URL"),
        config=_CONFIG,
    )
    creds = sts.assume_role(RoleArn=key.role, RoleSessionName="sops-secretloom")["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )
