"""Family f: canaries. Planted secrets (the vendors' password, token and keys, the mail
password, a passphrase) and health data (every client's name) are searched for in every
file and stream the tool writes: logs, stdout and stderr, its temp folder, the copies'
plaintext parts (manifest, names) and the alert mails the sandbox mail server received.
Secrets must appear nowhere; client names nowhere but where the user asked for them
(``clients``, ``print``, ``export`` output, and the encrypted archive)."""

from __future__ import annotations

from pathlib import Path

from reliability.common import Outcome, Tally, Workspace, scratch
from sandbox import CREDENTIALS
from sandbox.cli import merge_notify_into_config, sandbox_notify_table
from sandbox.smtp import CREDENTIALS as SMTP_CREDENTIALS
from sandbox.smtp import SMTPEmulator

PASSPHRASE = "canary passphrase quartz-otter-1975"  # noqa: S105 - planted on purpose
#: Outputs whose job is to show client data (asked for by name).
SHOWS_CLIENTS = {"clients", "print", "export", "history"}


def _secrets() -> dict[str, str]:
    found = {f"{vendor} {field}": value for vendor, creds in CREDENTIALS.items()
             for field, value in creds.items()
             if field not in ("username", "client_id") and isinstance(value, str)
             and len(value) >= 8}
    found["smtp password"] = SMTP_CREDENTIALS["password"]
    found["passphrase"] = PASSPHRASE
    return found


def _files(root: Path, skip: set[Path]) -> list[Path]:
    out = []
    for path in root.rglob("*"):
        if path.is_file() and not any(path == s or s in path.parents for s in skip):
            out.append(path)
    return out


def _search(blob: bytes, needles: dict[str, str]) -> list[str]:
    hits = []
    for name, value in needles.items():
        for form in {value, value.upper(), value.lower()}:
            if form.encode() in blob or form.encode("utf-16-le") in blob:
                hits.append(name)
                break
    return hits


def _exercise(ws: Workspace, mail: Path) -> list[Outcome]:
    """What a month of use writes: syncs (one with a revoked token, so an alert goes out),
    status, verify, a copy, a passphrase added, a print and an export, a notify test."""
    outs = [ws.run("sync"), ws.run("status"), ws.run("verify"), ws.run("notify", "--test")]
    (ws.root / "copies").mkdir()
    outs.append(ws.run("copy", "--to", str(ws.root / "copies")))
    outs.append(ws.run("keys", "add", "--passphrase",
                       env={"EXPORTER_NEW_PASSPHRASE": PASSPHRASE}))
    token = ws.secrets / "hubspot_token"
    good = token.read_bytes()
    token.write_bytes(b"revoked-canary-token")
    outs.append(ws.run("sync"))
    token.write_bytes(good)
    clients = ws.run("clients")
    first = next((line.split()[0] for line in clients.out.splitlines() if line[:2] == "C-"),
                 "C-00001")
    (ws.root / "asked").mkdir()
    outs += [clients, ws.run("print", first, "--out", str(ws.root / "asked" / "plan.pdf")),
             ws.run("export", "--format", "jsonl", "--out", str(ws.root / "asked" / "a.jsonl")),
             ws.run("status")]
    return outs


def run(ctx: object, seed: int, count: int, only_case: int | None = None) -> Tally:
    from reliability.campaign import Campaign

    assert isinstance(ctx, Campaign)
    tally = Tally("canaries", seed)
    secrets = _secrets()
    names = {f"client {c.number}": c.full_name for c in ctx.sandbox.agency.clients.values()}
    with scratch("canaries") as root, SMTPEmulator(folder=root / "mail") as smtp:
        own_secrets = root / "secrets"
        ws = ctx.bases["synced"].clone(root / "ws")
        ws.secrets = own_secrets
        ws.write_config()
        merge_notify_into_config(ws.config, sandbox_notify_table(smtp.host, smtp.port,
                                                                 own_secrets))
        outcomes = _exercise(ws, root / "mail")
        problems = []
        for outcome in outcomes:
            shown = outcome.text.encode()
            for hit in _search(shown, secrets):
                problems.append(f"{hit} in the output of {' '.join(outcome.argv)}")
            if outcome.argv[0] not in SHOWS_CLIENTS:
                for hit in _search(shown, names)[:3]:
                    problems.append(f"{hit}'s name in the output of {' '.join(outcome.argv)}")
            tally.tried += 1
        skip = {own_secrets, ws.root / "asked"}
        files = _files(root, skip)
        for path in files:
            blob = path.read_bytes()
            for hit in _search(blob, secrets):
                problems.append(f"{hit} in {path.relative_to(root)}")
            if path.name not in ("archive.db", "archive.db-wal") and not (
                    path.parent.name == "copies" or path.name.endswith(".db")):
                for hit in _search(blob, names)[:3]:
                    problems.append(f"{hit}'s name in {path.relative_to(root)}")
            mode = path.stat().st_mode & 0o777
            if path.name in ("archive.db", "archive.db.keys", "archive.key") and mode & 0o077:
                problems.append(f"{path.relative_to(root)} is readable by others ({oct(mode)})")
        mails = [m.text for m in smtp.messages]
        for text in mails:
            for hit in _search(text.encode(), {**secrets, **names}):
                problems.append(f"{hit} in an alert mail")
        tally.tried += len(files) + len(mails)
        tally.kinds.update({"outputs searched": len(outcomes), "files searched": len(files),
                            "mails searched": len(mails), "secrets planted": len(secrets),
                            "client names": len(names)})
        if not mails:
            problems.append("no alert mail arrived (the notify test and the failed sync)")
        if problems:
            tally.fail(0, "; ".join(sorted(set(problems))[:20]))

    return tally
