"""A small SMTP server for the sandbox: where exporter's alert emails go in demos and tests.

A threaded socket server on 127.0.0.1 (standard library) speaking enough ESMTP for
``smtplib``: EHLO/HELO, AUTH PLAIN and AUTH LOGIN (checked against :data:`CREDENTIALS`),
MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT, and optionally TLS:

- without a certificate (the default) STARTTLS is not offered (it answers 502), so exporter
  talks to it with ``security = "none"``, which the config allows only on loopback;
- ``tls="starttls"`` (587 style) advertises STARTTLS in EHLO, upgrades the connection on
  ``STARTTLS`` and forgets the session's state (RFC 3207); like real servers it refuses AUTH
  before it (``530 Must issue a STARTTLS command first``) and advertises AUTH only after it;
- ``tls="implicit"`` (465 style) speaks TLS from the first byte.

The certificate and key are PEM files; :func:`make_certificates` writes a throwaway CA and a
server certificate for 127.0.0.1 and localhost (``cryptography``) into a folder: trust the
CA with ``[notify] ca_file``. Received messages are kept in memory
(:attr:`SMTPEmulator.messages`) and, given a folder, saved there as ``.eml`` files;
:attr:`SMTPEmulator.transcript` lists each command's verb and whether it came over TLS (never
its argument: an AUTH line holds the password). Faults: ``refuse_auth`` answers every login
with 535; ``drop_connections`` closes each connection as soon as it is accepted.

    with SMTPEmulator(folder="mail") as smtp:
        print(smtp.host, smtp.port)
        ...
        smtp.messages[-1].subject

    tls = make_certificates(tmp / "tls")
    with SMTPEmulator(tls="starttls", certificate=tls) as smtp:
        ...  # [notify] security = "starttls", ca_file = tls.ca_file
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email
import email.policy
import ipaddress
import re
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import cast

__all__ = ["CREDENTIALS", "Certificates", "ReceivedMail", "SMTPEmulator", "make_certificates"]

#: The login the sandbox mail server accepts. Not a secret: anyone may read it.
CREDENTIALS: dict[str, str] = {"username": "exporter@sunrise-homecare.example",
                               "password": "sandbox-smtp-password"}

_ADDRESS = re.compile(r"^(?:FROM|TO):\s*<([^>]*)>", re.IGNORECASE)
_MAX_LINE = 8192
_TLS_MODES = ("starttls", "implicit")


@dataclass(frozen=True)
class Certificates:
    """PEM files: the CA a client trusts, and the server's certificate (signed by it) and key."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def make_certificates(folder: str | Path,
                      hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Certificates:
    """A throwaway CA and a server certificate for ``hosts`` (IP addresses or names), valid
    for a day, in ``folder``: ``ca.pem``, ``server.pem`` and ``server.key`` (0600). The CA's
    own key is never written: nothing else can be signed with it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from exporter.keys import write_private_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "exporter sandbox test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(
              digital_signature=False, content_commitment=False, key_encipherment=False,
              data_encipherment=False, key_agreement=False, key_cert_sign=True,
              crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(ca_ski, critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    files.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    write_private_file(files.key_file, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return files


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_to: list[str]
    data: bytes
    received_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    path: Path | None = None  # the .eml file, when the server has a folder

    @property
    def message(self) -> EmailMessage:
        return cast(EmailMessage, email.message_from_bytes(self.data,
                                                           policy=email.policy.default))

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def text(self) -> str:
        """The plain-text body."""
        part = self.message.get_body(("plain",))
        return part.get_content() if isinstance(part, EmailMessage) else ""


class SMTPEmulator:
    """The sandbox mail server; a context manager that serves it on 127.0.0.1."""

    def __init__(self, folder: str | Path | None = None,
                 credentials: dict[str, str] | None = None, port: int = 0,
                 tls: str | None = None, certificate: Certificates | None = None) -> None:
        if tls is not None and tls not in _TLS_MODES:
            raise ValueError(f"tls must be one of {', '.join(_TLS_MODES)} or None, not {tls!r}")
        if (tls is None) != (certificate is None):
            raise ValueError("tls and certificate go together")
        self.credentials = dict(CREDENTIALS if credentials is None else credentials)
        self.folder = Path(folder) if folder is not None else None
        self.tls = tls
        self.context: ssl.SSLContext | None = None
        if certificate is not None:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.minimum_version = ssl.TLSVersion.TLSv1_2
            self.context.load_cert_chain(certificate.cert_file, certificate.key_file)
        self.messages: list[ReceivedMail] = []
        self.logins: list[tuple[str, bool]] = []  # (username, accepted)
        #: Each command received: (its verb, whether the connection was encrypted then).
        self.transcript: list[tuple[str, bool]] = []
        #: Connections whose TLS handshake failed (the client refused the certificate ...).
        self.tls_failures = 0
        self.refuse_auth = False
        self.drop_connections = False
        self.lock = threading.Lock()
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox mail server is not running")
        return int(self._server.server_address[1])

    def start(self) -> SMTPEmulator:
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
        self._server = _Server(("127.0.0.1", self._port), _Handler)
        self._server.emulator = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={
            "poll_interval": 0.1}, name="sandbox-smtp", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SMTPEmulator:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def check_login(self, username: str, password: str) -> bool:
        ok = (not self.refuse_auth and username == self.credentials.get("username")
              and password == self.credentials.get("password"))
        with self.lock:
            self.logins.append((username, ok))
        return ok

    def note(self, verb: str, encrypted: bool) -> None:
        with self.lock:
            self.transcript.append((verb, encrypted))

    def received(self, mail_from: str, rcpt_to: list[str], data: bytes) -> ReceivedMail:
        mail = ReceivedMail(mail_from, list(rcpt_to), data)
        with self.lock:
            self.messages.append(mail)
            number = len(self.messages)
        if self.folder is not None:
            path = self.folder / f"{mail.received_at:%Y%m%d-%H%M%S}-{number:04d}.eml"
            path.write_bytes(data)
            mail.path = path
        return mail


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: SMTPEmulator


class _Handler(socketserver.StreamRequestHandler):
    timeout = 30

    def setup(self) -> None:
        super().setup()
        self.emulator = cast(_Server, self.server).emulator

    def reply(self, *lines: str) -> None:
        text = "".join(f"{line[:3]}{'-' if i < len(lines) - 1 else ' '}{line[4:]}\r\n"
                       for i, line in enumerate(lines))
        self.wfile.write(text.encode("utf-8"))
        self.wfile.flush()

    def readline(self) -> str | None:
        line = self.rfile.readline(_MAX_LINE)
        if not line:
            return None
        return line.decode("utf-8", "replace").rstrip("\r\n")

    def _reset(self) -> None:
        """A fresh session: at the start and after STARTTLS (RFC 3207: forget everything)."""
        self.authed = not self.emulator.credentials
        self.mail_from: str | None = None
        self.rcpt_to: list[str] = []

    def _start_tls(self) -> bool:
        """Wrap the connection in TLS (server side). False if the handshake failed."""
        context = self.emulator.context
        assert context is not None
        old = self.rfile
        try:
            tls = context.wrap_socket(self.request, server_side=True)
        except (ssl.SSLError, OSError):
            with self.emulator.lock:
                self.emulator.tls_failures += 1
            return False
        self.request = self.connection = self._tls = tls
        self.rfile = tls.makefile("rb")
        self.wfile = tls.makefile("wb")
        old.close()  # anything the client sent before the handshake is dropped
        self.encrypted = True
        self._reset()
        return True

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            tls = getattr(self, "_tls", None)
            if tls is not None:
                tls.close()

    def handle(self) -> None:
        em = self.emulator
        if em.drop_connections:
            return
        self.encrypted = False
        try:
            if em.tls == "implicit" and not self._start_tls():
                return
            self.reply("220 sandbox-smtp ESMTP exporter sandbox mail server")
            self._reset()
            while True:
                line = self.readline()
                if line is None:
                    return
                verb, _, arg = line.partition(" ")
                verb = verb.upper()
                em.note(verb, self.encrypted)
                if verb == "QUIT":
                    self.reply("221 2.0.0 Bye")
                    return
                handler = getattr(self, f"do_{verb.lower()}", None) if verb.isalpha() else None
                if handler is None:
                    self.reply("500 5.5.2 Command not recognised")
                else:
                    handler(arg.strip())
        except (OSError, ValueError):  # the client went away, timed out, or TLS broke
            return

    @property
    def _needs_starttls(self) -> bool:
        return self.emulator.tls == "starttls" and not self.encrypted

    def do_ehlo(self, arg: str) -> None:
        # Like real servers: before STARTTLS only STARTTLS is offered, AUTH after it.
        offers = "250 STARTTLS" if self._needs_starttls else "250 AUTH PLAIN LOGIN"
        self.reply("250 sandbox-smtp greets you", offers, "250 8BITMIME", "250 SIZE 10485760")

    def do_helo(self, arg: str) -> None:
        self.reply("250 sandbox-smtp")

    def do_starttls(self, arg: str) -> None:
        if self.emulator.tls is None:
            self.reply("502 5.5.1 STARTTLS is not supported by the sandbox mail server")
        elif self.encrypted:
            self.reply("503 5.5.1 TLS already active")
        elif arg:
            self.reply("501 5.5.4 Syntax: STARTTLS")
        else:
            self.reply("220 2.0.0 Ready to start TLS")
            if not self._start_tls():
                raise ConnectionAbortedError("TLS handshake failed")

    def do_noop(self, arg: str) -> None:
        self.reply("250 2.0.0 OK")

    def do_rset(self, arg: str) -> None:
        self.mail_from, self.rcpt_to = None, []
        self.reply("250 2.0.0 OK")

    def _decode(self, text: str) -> str | None:
        try:
            return base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None

    def _challenge(self, prompt: str) -> str | None:
        self.reply("334 " + base64.b64encode(prompt.encode()).decode())
        line = self.readline()
        return None if line is None or line == "*" else self._decode(line)

    def do_auth(self, arg: str) -> None:
        if self._needs_starttls:
            self.reply("530 5.7.0 Must issue a STARTTLS command first")
            return
        if self.authed and self.emulator.credentials:
            self.reply("503 5.5.1 Already authenticated")
            return
        mechanism, _, initial = arg.partition(" ")
        mechanism = mechanism.upper()
        if mechanism == "PLAIN":
            if initial:
                decoded = self._decode(initial)
            else:
                self.reply("334 ")
                line = self.readline()
                decoded = None if line is None else self._decode(line)
            parts = decoded.split("\0") if decoded is not None else []
            if len(parts) != 3:
                self.reply("501 5.5.2 Cannot decode the AUTH PLAIN response")
                return
            username, password = parts[1], parts[2]
        elif mechanism == "LOGIN":
            name = self._decode(initial) if initial else self._challenge("Username:")
            secret = self._challenge("Password:") if name is not None else None
            if name is None or secret is None:
                self.reply("501 5.5.2 Cannot decode the AUTH LOGIN response")
                return
            username, password = name, secret
        else:
            self.reply("504 5.5.4 Unrecognised authentication mechanism")
            return
        if self.emulator.check_login(username, password):
            self.authed = True
            self.reply("235 2.7.0 Authentication successful")
        else:
            self.reply("535 5.7.8 Authentication credentials invalid")

    def do_mail(self, arg: str) -> None:
        if not self.authed:
            self.reply("530 5.7.0 Authentication required")
            return
        match = _ADDRESS.match(arg)
        if not match or not arg.upper().startswith("FROM:"):
            self.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
            return
        self.mail_from, self.rcpt_to = match.group(1), []
        self.reply("250 2.1.0 OK")

    def do_rcpt(self, arg: str) -> None:
        if self.mail_from is None:
            self.reply("503 5.5.1 MAIL FROM first")
            return
        match = _ADDRESS.match(arg)
        if not match or not arg.upper().startswith("TO:") or "@" not in match.group(1):
            self.reply("501 5.1.3 Syntax: RCPT TO:<address>")
            return
        self.rcpt_to.append(match.group(1))
        self.reply("250 2.1.5 OK")

    def do_data(self, arg: str) -> None:
        if self.mail_from is None or not self.rcpt_to:
            self.reply("503 5.5.1 RCPT TO first")
            return
        self.reply("354 End data with <CR><LF>.<CR><LF>")
        lines: list[bytes] = []
        while True:
            raw = self.rfile.readline(_MAX_LINE)
            if not raw:
                return  # the client went away mid-message: nothing is stored
            if raw in (b".\r\n", b".\n"):
                break
            lines.append(raw[1:] if raw.startswith(b"..") else raw)
        mail = self.emulator.received(self.mail_from, self.rcpt_to, b"".join(lines))
        self.mail_from, self.rcpt_to = None, []
        self.reply(f"250 2.0.0 OK queued as {len(self.emulator.messages)}"
                   + ("" if mail.path is None else f" ({mail.path.name})"))
