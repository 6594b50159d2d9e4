"""Regenerate the test certificates for mod_ws's wss:// support.

The files exist so that TLS, and client-certificate authentication, can be
tried and tested locally without a real certificate authority: a test CA, a
server certificate for localhost / 127.0.0.1 / ::1, a client certificate (also
as PKCS#12 for browsers), an unrelated CA with its own client certificate, and
an expired client certificate. The last two must be rejected by a server that
trusts only ``ca.pem``.

These keys are for tests only and are published with the source: never use
them for anything else.

Usage: python cert/generate.py [--out DIR]   (default: this script's folder)
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

P12_PASSWORD = b"mod_ws"
DAY = datetime.timedelta(days=1)
VALIDITY = datetime.timedelta(days=3650)

CertAndKey = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


def new_key() -> ec.EllipticCurvePrivateKey:
    """Return a fresh EC P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def name(common_name: str) -> x509.Name:
    """Return a subject/issuer name with the given common name."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mod_ws tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(common_name: str, now: datetime.datetime) -> CertAndKey:
    """Return a self-signed CA certificate and its key."""
    key = new_key()
    subject = name(common_name)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - DAY)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_leaf(
    issuer: CertAndKey,
    common_name: str,
    usage: x509.ObjectIdentifier,
    san: Sequence[x509.GeneralName],
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> CertAndKey:
    """Return an end-entity certificate signed by ``issuer``, and its key."""
    ca_cert, ca_key = issuer
    key = new_key()
    public = key.public_key()
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(list(san)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def cert_pem(cert: x509.Certificate) -> bytes:
    """Return a certificate as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Return a private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def client_p12(client: CertAndKey, ca_cert: x509.Certificate) -> bytes:
    """Return the client certificate, its key and the CA as PKCS#12.

    Uses 3DES with a SHA-1 MAC rather than AES: weak, but every browser and
    OS key store imports it (older macOS and Windows reject AES PKCS#12).
    """
    cert, key = client
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(50000)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())
        .build(P12_PASSWORD)
    )
    return pkcs12.serialize_key_and_certificates(b"mod_ws test client", key, cert, [ca_cert], encryption)


def build(now: datetime.datetime) -> list[tuple[str, bytes]]:
    """Return every (file name, contents) pair, in writing order."""
    ca = make_ca("mod_ws test CA", now)
    other_ca = make_ca("mod_ws other test CA (untrusted)", now)
    valid = (now - DAY, now + VALIDITY)
    client_san = [x509.RFC822Name("test-client@example.invalid")]
    server = make_leaf(
        ca,
        "localhost",
        ExtendedKeyUsageOID.SERVER_AUTH,
        [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ],
        *valid,
    )
    client = make_leaf(ca, "mod_ws test client", ExtendedKeyUsageOID.CLIENT_AUTH, client_san, *valid)
    other_client = make_leaf(
        other_ca, "mod_ws other test client", ExtendedKeyUsageOID.CLIENT_AUTH, client_san, *valid
    )
    expired = make_leaf(
        ca,
        "mod_ws expired test client",
        ExtendedKeyUsageOID.CLIENT_AUTH,
        client_san,
        now - 30 * DAY,
        now - DAY,
    )
    files: list[tuple[str, bytes]] = []
    for stem, (cert, key) in [
        ("ca", ca),
        ("server", server),
        ("client", client),
        ("other-ca", other_ca),
        ("other-client", other_client),
        ("expired-client", expired),
    ]:
        files.append((f"{stem}.pem", cert_pem(cert)))
        files.append((f"{stem}-key.pem", key_pem(key)))
    files.append(("client.p12", client_p12(client, ca[0])))
    return files


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments, build the certificates and write them out."""
    parser = argparse.ArgumentParser(description="Regenerate mod_ws test certificates.")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="output folder (default: the folder of this script)",
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    for file_name, data in build(now):
        path = out / file_name
        path.write_bytes(data)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
