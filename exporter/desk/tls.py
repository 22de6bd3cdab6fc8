"""The desk's HTTPS certificate for ``--lan``: made once, self-signed with ``cryptography``,
and kept beside the archive (``archive.db.desk-cert.pem``, and its private key
``archive.db.desk-key.pem``, readable by the owner only). Staff check its SHA-256
fingerprint, printed at start, the first time their browser warns about it. An office with
a certificate of its own gives ``--cert`` and ``--key`` instead."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from exporter.errors import DeskError
from exporter.keys import write_private_file

__all__ = ["certificate_paths", "ensure_certificate", "fingerprint"]

VALID_DAYS = 5 * 365


def certificate_paths(archive: Path) -> tuple[Path, Path]:
    return (archive.with_name(archive.name + ".desk-cert.pem"),
            archive.with_name(archive.name + ".desk-key.pem"))


def _addresses() -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName("localhost"),
                                     x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    host = socket.gethostname()
    names.append(x509.DNSName(host))
    try:
        for addr in socket.gethostbyname_ex(host)[2]:
            ip = x509.IPAddress(ipaddress.ip_address(addr))
            if ip not in names:
                names.append(ip)
    except OSError:  # no name service (offline): the host name and localhost still fit
        pass
    return names


def ensure_certificate(archive: Path) -> tuple[Path, Path]:
    """The certificate and key beside ``archive``, made now if there are none."""
    cert_path, key_path = certificate_paths(archive)
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                         f"exporter care-plan desk on {socket.gethostname()}")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(_addresses()), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    write_private_file(key_path, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def fingerprint(cert_path: Path) -> str:
    """The certificate's SHA-256 fingerprint as browsers show it (AB:CD:...)."""
    try:
        cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    except (OSError, ValueError) as exc:
        raise DeskError(f"The certificate {cert_path} cannot be read ({exc}); give a PEM "
                        "certificate with --cert, or leave --cert out to use the desk's "
                        "own.") from exc
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()
