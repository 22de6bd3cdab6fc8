"""``exporter desk``: the care-plan desk, a local web page where staff find a client and
print, with their own logins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from exporter.cli_base import State, err, handle_errors, out, pass_state

__all__ = ["desk"]


def _desk_settings(state: State) -> dict[str, Any]:
    from exporter.config_schema import DESK

    table = state.config.raw.get("desk")
    given = table if isinstance(table, dict) else {}
    return {s.name: given.get(s.name, s.default) for s in DESK}


def _listen(state: State, port: int, lan: bool, cert: Path | None, key: Path | None) -> Any:
    from exporter.desk.server import Listen
    from exporter.desk.tls import ensure_certificate, fingerprint

    if (cert is None) != (key is None):
        raise click.UsageError("Give both --cert and --key (the office's certificate and its "
                               "private key), or neither.")
    if not lan:
        if cert is not None:
            raise click.UsageError("--cert and --key go with --lan.")
        return Listen("127.0.0.1", port)
    if cert is None or key is None:
        cert, key = ensure_certificate(state.config.archive)
    listen = Listen("0.0.0.0", port, cert, key)  # noqa: S104 (--lan: the office network)
    out.print(f"HTTPS certificate {cert}", markup=False)
    out.print(f"Its SHA-256 fingerprint (staff check it when the browser first asks):\n  "
              f"{fingerprint(cert)}", markup=False)
    return listen


def _at_logon(state: State, port: int | None, lan: bool, cert: Path | None,
              install: bool) -> None:
    from exporter.config import default_log_dir
    from exporter.desk import logon

    if not install:
        out.print(logon.remove(), markup=False)
        return
    if cert is not None:
        raise click.UsageError("--install-at-logon uses the desk's own certificate; leave "
                               "out --cert and --key.")
    config = state.config
    if config.key_file is None or not config.key_file.exists():
        from exporter.errors import ConfigError

        raise ConfigError("The desk can start by itself only with a key file: set key_file "
                          "under [archive] in the config (as for 'exporter schedule').")
    log = (config.log_dir or default_log_dir()) / "exporter-desk.log"
    argv = logon.desk_argv(str(config.path.resolve()), port, lan)
    out.print(logon.install(argv, log), markup=False)


@click.command()
@click.option("--port", type=click.IntRange(1, 65535),
              help="The port to serve on (default: [desk] port, else 8765).")
@click.option("--lan", is_flag=True, help="Serve the office network too, over HTTPS only "
              "(a certificate made beside the archive, or --cert/--key).")
@click.option("--cert", type=click.Path(path_type=Path, dir_okay=False),
              help="With --lan: the office's own certificate (PEM).")
@click.option("--key", "key_path", type=click.Path(path_type=Path, dir_okay=False),
              help="With --lan: that certificate's private key (PEM).")
@click.option("--install-at-logon", is_flag=True, help="Start the desk by itself from now on "
              "(Windows and macOS: at logon; Linux: with the computer), with these options.")
@click.option("--remove-from-logon", is_flag=True,
              help="No longer start the desk by itself.")
@pass_state
@handle_errors
def desk(state: State, port: int | None, lan: bool, cert: Path | None,
         key_path: Path | None, install_at_logon: bool, remove_from_logon: bool) -> None:
    """Serve the care-plan desk: staff find a client and print, in their browser.

    The archive is unlocked here with the configured key (as the nightly job does); staff
    log in with their own accounts ('exporter staff add') and never see the key. By default
    only this computer can open it (http://localhost:8765/); with --lan the office network
    can, over HTTPS. Every search, view and print is in the audit log with the staff name.

    \b
    Example:
      exporter desk
      exporter desk --lan --port 8443
      exporter desk --install-at-logon
    """
    if install_at_logon or remove_from_logon:
        _at_logon(state, port, lan, cert, install_at_logon)
        return
    from exporter.archive import Archive
    from exporter.cli_print import _definition
    from exporter.desk.app import make_app
    from exporter.desk.data import DeskData
    from exporter.desk.guard import LoginGuard, Sessions
    from exporter.desk.server import bind, serve
    from exporter.desk.web import Desk

    settings = _desk_settings(state)
    config = state.config
    definition = _definition(state, None)
    listen = _listen(state, port or int(settings["port"]), lan, cert, key_path)
    credential = state.credential()
    sock = bind(listen)
    data = DeskData(lambda: Archive.open(config.archive, credential, pin=config.pin),
                    definition, config)
    try:
        data.run(data.start)
    except BaseException:
        sock.close()
        raise
    if not data.run(data.staff):
        err.print("No staff account yet: add one with 'exporter staff add NAME --role admin'.")
    app = make_app(Desk(data, LoginGuard(), Sessions(float(settings["session_minutes"])),
                        definition.organisation or "Care plans", https=listen.cert is not None))
    out.print(f"The care-plan desk is open at {listen.url} (Ctrl-C stops it).", markup=False)
    serve(app, listen, sock)
    out.print("The care-plan desk has stopped.")
