"""The tree walk of sops's Tree.Decrypt: which values are encrypted, and the MAC.

Order matters and follows sops exactly: branches in order, items in order,
sequences without extending the key path, comments stacked per nesting level
and cleared after each non-comment item. A value is decrypted when the rules
say it should be encrypted (not when it merely looks encrypted): an attacker
who swaps a ciphertext for plaintext gets an error, not an injected value.

The MAC is SHA-512 over the plaintext of every value (only the encrypted ones
with `mac_only_encrypted`, after a fixed prefix), in walk order, comments
excluded; the stored MAC is itself encrypted with `lastmodified` as AAD. It
is verified before the tree is returned, so callers never see a value of a
tampered file.
"""

from __future__ import annotations

import hashlib
import hmac

from secretloom.sops import cipher
from secretloom.sops.errors import FormatError, IntegrityError, shown
from secretloom.sops.metadata import Metadata, Rules
from secretloom.sops.tree import Branch, Comment, Value

# sha256(b"sops"): sops's MACOnlyEncryptedInitialization.
_MAC_ONLY_ENCRYPTED_PREFIX = hashlib.sha256(b"sops").digest()


def should_encrypt(
    rules: Rules, path: list[str], comments: list[list[str]], *, is_comment: bool
) -> bool:
    """sops's Tree.shouldBeEncrypted, rule for rule."""
    encrypted = True
    if rules.unencrypted_suffix and any(p.endswith(rules.unencrypted_suffix) for p in path):
        encrypted = False
    if rules.encrypted_suffix:
        encrypted = any(p.endswith(rules.encrypted_suffix) for p in path)
    if rules.unencrypted_regex and any(rules.unencrypted_regex.search(p) for p in path):
        encrypted = False
    if rules.encrypted_regex:
        encrypted = any(rules.encrypted_regex.search(p) for p in path)
    if rules.unencrypted_comment_regex and any(
        rules.unencrypted_comment_regex.search(c) for level in comments for c in level
    ):
        encrypted = False
    if rules.encrypted_comment_regex:
        # The comment that matches is itself left in clear: skip the newest one.
        candidates = [c for level in comments for c in level]
        if is_comment and candidates:
            candidates = candidates[:-1] if comments[-1] else candidates
        encrypted = any(rules.encrypted_comment_regex.search(c) for c in candidates)
    return encrypted


class _Walker:
    def __init__(self, metadata: Metadata, key: bytes, source: str) -> None:
        self._rules = metadata.rules
        self._key = key
        self._source = source
        self._hash = hashlib.sha512()
        if self._rules.mac_only_encrypted:
            self._hash.update(_MAC_ONLY_ENCRYPTED_PREFIX)

    def branch(self, branch: Branch, path: list[str], comments: list[list[str]]) -> Branch:
        comments = [*comments, []]
        out = Branch()
        for key, value in branch:
            if isinstance(key, Comment):
                comments[-1].append(key.text)
                decrypted = self.leaf(key, path, comments)
                out.append(
                    (decrypted if isinstance(decrypted, Comment) else Comment(str(decrypted)), None)
                )
                continue
            decrypted_value = self.value(value, [*path, key], comments)
            if isinstance(decrypted_value, Comment):  # only sequences hold comments
                where = f"{self._source}: {shown(':'.join([*path, key]))}"
                raise FormatError(f"{where}: a value is encrypted as a comment")
            out.append((key, decrypted_value))
            comments[-1] = []
        return out

    def sequence(
        self, items: list[Value | Comment], path: list[str], comments: list[list[str]]
    ) -> list[Value | Comment]:
        comments = [*comments, []]
        out: list[Value | Comment] = []
        for item in items:
            if isinstance(item, Comment):
                comments[-1].append(item.text)
            out.append(self.value(item, path, comments))
            if not isinstance(item, Comment):
                comments[-1] = []
        return out

    def value(
        self, value: Value | Comment, path: list[str], comments: list[list[str]]
    ) -> Value | Comment:
        if isinstance(value, Branch):
            return self.branch(value, path, comments)
        if isinstance(value, list):
            return self.sequence(value, path, comments)
        if value is None:
            return None
        return self.leaf(value, path, comments)

    def leaf(
        self, value: Value | Comment, path: list[str], comments: list[list[str]]
    ) -> Value | Comment:
        is_comment = isinstance(value, Comment)
        encrypted = should_encrypt(self._rules, path, comments, is_comment=is_comment)
        where = f"{self._source}: {shown(':'.join(path)) or '(top level)'}"
        result: Value | Comment = value
        if encrypted and isinstance(value, Comment):
            try:
                result = cipher.decrypt(value.text, self._key, _aad(path), where=where)
            except (FormatError, IntegrityError):
                result = value  # sops: a comment that does not decrypt was never encrypted
        elif encrypted:
            if not isinstance(value, str):
                raise FormatError(f"{where}: value should be encrypted but is not")
            result = cipher.decrypt(value, self._key, _aad(path), where=where)
        if (encrypted or not self._rules.mac_only_encrypted) and not isinstance(result, Comment):
            assert not isinstance(result, (Branch, list))
            self._hash.update(cipher.to_bytes(result))
        return result

    def verify(self, stored_mac: str, aad: str) -> None:
        where = f"{self._source}: sops.mac"
        expected = cipher.decrypt(stored_mac, self._key, aad, where=where)
        try:
            expected_bytes = bytes.fromhex(str(expected))
        except ValueError:
            raise IntegrityError(f"{where}: stored MAC is malformed") from None
        if not hmac.compare_digest(expected_bytes, self._hash.digest()):
            raise IntegrityError(
                f"{self._source}: MAC mismatch: the file was modified after encryption"
            )


def _aad(path: list[str]) -> str:
    return ":".join(path) + ":"


def decrypt_branches(
    branches: list[Branch], metadata: Metadata, key: bytes, *, source: str
) -> list[Branch]:
    """Decrypt every branch and verify the MAC; raise before returning anything otherwise."""
    walker = _Walker(metadata, key, source)
    decrypted = [walker.branch(branch, [], []) for branch in branches]
    walker.verify(metadata.mac, metadata.mac_aad)
    return decrypted
