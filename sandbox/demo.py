"""``make demo``: the main job, end to end, on the built-in sandbox cloud.

    python -m sandbox.demo demo-output

Starts the sandbox (local Salesforce, HubSpot and Google emulators holding a made-up agency of
100 clients), creates an encrypted archive with a key file, checks the sources, syncs two
nights (one day passes in between), makes a second copy of the archive in
``second-copy/`` (as onto a USB disk) and one in the sandbox's S3 object store (as into
Backblaze B2 or Wasabi); alert emails go to the sandbox's mail server (saved in
``sandbox-mail/``): a test message, then the alert for a copy to an unplugged USB disk. It
shows status and verifies the archive. Each sync also lays out the care plans that changed
and stores them in the archive ("Care plans rendered: N"). Then, with the vendor
sandbox stopped, it prints care plans (one client, the binder of every client, served from
the stored PDFs) and runs a
restore drill into an empty HubSpot portal (dry run, restore with verification, a re-run
that creates nothing). Last, a fire drill (``exporter drill``): the newest copy is fetched
back from the object store, opened with the key file, verified and a care plan printed from
it, with a dated report in ``drills/``. Everything is left
under the given folder (git-ignored). Each step runs the real ``exporter`` command.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from exporter.config import write_config
from sandbox import Sandbox
from sandbox.cli import (
    SANDBOX_COPY_NAME,
    merge_copy_into_config,
    merge_notify_into_config,
    merge_sources_into_config,
    sandbox_copy_table,
    sandbox_notify_table,
)
from sandbox.s3 import s3_sandbox
from sandbox.smtp import SMTPEmulator


def _exporter(config: Path, *args: str, ok: tuple[int, ...] = (0,)) -> int:
    print(f"\n$ exporter {' '.join(args)}", flush=True)
    code = subprocess.run([sys.executable, "-m", "exporter", "--config", str(config), *args],
                          check=False).returncode
    if code not in ok:
        command = next((a for a in args if not a.startswith("-")), args[0])
        raise SystemExit(f"'exporter {command}' ended with exit code {code}; see above.")
    return code


def main(out: Path) -> None:
    out = out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    config = out / "config.toml"
    with contextlib.ExitStack() as stack:
        s3_url, _creds, _emulator = stack.enter_context(s3_sandbox(out / "sandbox-s3"))
        smtp = stack.enter_context(SMTPEmulator(folder=out / "sandbox-mail"))
        _main(out, config, s3_url, smtp)


def _main(out: Path, config: Path, s3_url: str, smtp: SMTPEmulator) -> None:
    print("Starting the sandbox cloud (100 clients) ...")
    with Sandbox(clients=100, seed=1) as sb:
        for name, url in sb.urls.items():
            print(f"  {name:<11} {url}")
        print(f"  {'s3':<11} {s3_url} (an object store for copies, bucket 'copies')")
        print(f"  {'smtp':<11} {smtp.host}:{smtp.port} (a mail server for alert emails)")
        _exporter(config, "init", "--archive", str(out / "archive.db"),
                  "--key-file", str(out / "archive.key"))
        merge_sources_into_config(config, sb.source_configs(out / "sandbox-secrets"))
        data = tomllib.loads(config.read_text(encoding="utf-8"))
        data["log"] = {"dir": str(out / "logs")}
        # Sheet rows keyed by what identifies them, so a row deleted mid-sheet does not
        # renumber (and re-version) every row below it.
        data["sources"]["google"]["row_keys"] = {
            "Care Tasks": ["Client Number", "Day", "Time"],
            "Medications": ["Client Number", "Medication"], "Roster": ["Email"]}
        write_config(config, data)
        merge_copy_into_config(config, sandbox_copy_table(s3_url, out / "sandbox-secrets"))
        merge_notify_into_config(config, sandbox_notify_table(smtp.host, smtp.port,
                                                              out / "sandbox-secrets"))
        _exporter(config, "check")
        print("\nNight 1: the first sync copies everything, then lays out every client's care "
              "plan and stores it in the archive (encrypted), ready to print.")
        _exporter(config, "sync")
        sb.advance(1)
        print("\nA day passes in the agency (edits, a new client, a discharge, deletions).")
        print("Night 2: only what changed is fetched, and only the care plans that changed "
              "are laid out again.")
        _exporter(config, "sync")
        print("\nA second copy elsewhere (here a folder standing in for a USB disk).")
        (out / "second-copy").mkdir()
        _exporter(config, "copy", "--to", str(out / "second-copy"))
        print("\nAnd one in an object store (the sandbox's S3 store, standing in for Backblaze "
              "B2 or Wasabi).")
        _exporter(config, "copy", "--to", SANDBOX_COPY_NAME)
        _alerts(out, config, smtp)
        _exporter(config, "status")
        _exporter(config, "verify")

    print("\nThe cloud is gone: every sandbox server is stopped. Care plans print from the "
          "archive alone.")
    plans = out / "care-plans"
    _exporter(config, "print", "C-00003", "--out", str(plans / "C-00003.pdf"))
    _exporter(config, "print", "C-00001", "--format", "html", "--out",
              str(plans / "C-00001.html"))
    print("\nThe binder of every active client, assembled from the care plans stored at "
          "night (nothing to lay out but its table of contents):")
    _exporter(config, "print", "--all", "--out", str(plans / "binder.pdf"))

    print("\nRestore drill: Salesforce's data, from the archive, into an empty HubSpot portal.")
    with Sandbox(clients=0, seed=2, vendors=["hubspot"]) as target:
        merge_sources_into_config(config, target.source_configs(out / "target-secrets"),
                                  "targets")
        _exporter(config, "restore", "--to", "hubspot", "--mapping", "salesforce_to_hubspot",
                  "--dry-run")
        _exporter(config, "restore", "--to", "hubspot", "--mapping", "salesforce_to_hubspot",
                  "--verify")
        print("\nRun it again: nothing is created twice.")
        _exporter(config, "restore", "--to", "hubspot", "--mapping", "salesforce_to_hubspot")

    print("\nFire drill: as if the office PC were gone, fetch the newest copy from the object "
          "store, open it with the key file, verify it and print a care plan from it; the "
          "dated report goes to drills/.")
    _exporter(config, "drill", "--from", SANDBOX_COPY_NAME, "--report-dir",
              str(out / "drills"), "--by", "the demo")
    print(f"\nEverything is in {out}: the archive, its keys, the care plans in {plans}.\n"
          f"Try:  {exporter_command()} --config {config} status")


def exporter_command() -> str:
    """How to type the ``exporter`` of this environment here: ``.venv/bin/exporter`` on Linux
    and macOS, ``.venv\\Scripts\\exporter.exe`` on Windows (no ``bin`` there), or plain
    ``exporter`` when it is the one on PATH."""
    folder = Path(sys.executable).parent
    name = "exporter.exe" if sys.platform == "win32" else "exporter"
    found = shutil.which("exporter")
    if found and Path(found).parent == folder:
        return "exporter"
    path = folder / name
    with contextlib.suppress(ValueError):
        path = path.relative_to(Path.cwd())
    text = str(path)
    return f'"{text}"' if " " in text else text


def _alerts(out: Path, config: Path, smtp: SMTPEmulator) -> None:
    print("\nAlert emails: when the nightly job fails, a person is told. First a test "
          "message, then a copy to a USB disk that is not plugged in.")
    _exporter(config, "notify", "--test")
    _exporter(config, "copy", "--to", str(out / "unplugged-usb"), ok=(14,))
    mail = smtp.messages[-1]
    where = f", saved as {mail.path}" if mail.path else ""
    print(f"The sandbox mail server received it (to {', '.join(mail.rcpt_to)}: "
          f"'{mail.subject}'{where}); it reads:\n")
    for line in mail.text.splitlines():
        print(f"    {line}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "demo-output"))
