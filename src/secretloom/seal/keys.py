"""Sealing key pairs: made, parsed and checked in memory (issue #13).

A key pair is an RSA private key (PEM, PKCS#1 as Bitnami writes it, or
PKCS#8) and a self-signed certificate carrying its public key, which is all a
sealer needs. Certificates are read for their public key and validity only:
Bitnami's controller signs certificates with `encipherOnly` but no
`keyAgreement` and an empty subject, which strict parsers of the KeyUsage
extension reject, so extensions are never parsed here.

Errors say what is wrong with the input, never its content.
"""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

KEY_BITS = 4096
CERT_VALIDITY = datetime.timedelta(
    days=3650
)  # as Bitnami's controller: the key renews, not the cert


class KeyFormatError(Exception):
    """A key or certificate could not be used; the message never quotes it."""


def generate(
    common_name: str = "secretloom", bits: int = KEY_BITS, now: datetime.datetime | None = None
) -> tuple[bytes, bytes]:
    """A new key pair: (private key as PKCS#1 PEM, self-signed certificate PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    start = now or datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - datetime.timedelta(minutes=5))
        .not_valid_after(start + CERT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return private_pem, cert.public_bytes(serialization.Encoding.PEM)


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    """An RSA private key from PEM (PKCS#1 or PKCS#8, unencrypted)."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise KeyFormatError("not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFormatError("the private key is not an RSA key")
    return key


def load_certificate(pem: bytes) -> x509.Certificate:
    """The first certificate of a PEM bundle, extensions left unparsed."""
    try:
        return x509.load_pem_x509_certificates(pem)[0]
    except (ValueError, IndexError):
        raise KeyFormatError("not a PEM certificate") from None


def certificate_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """The RSA public key a certificate carries, refused when the certificate has expired."""
    cert = load_certificate(pem)
    if cert.not_valid_after_utc < datetime.datetime.now(datetime.UTC):
        raise KeyFormatError(
            f"the certificate expired on {cert.not_valid_after_utc.date().isoformat()}"
        )
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyFormatError("the certificate does not carry an RSA public key")
    return key


def matches(private_key: rsa.RSAPrivateKey, cert_pem: bytes) -> bool:
    """Whether the certificate carries this private key's public half."""
    cert_key = load_certificate(cert_pem).public_key()
    return (
        isinstance(cert_key, rsa.RSAPublicKey)
        and cert_key.public_numbers() == private_key.public_key().public_numbers()
    )
