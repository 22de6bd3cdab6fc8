"""What a reader shows of the clients is in the archive's audit log, like a print: ``exporter
clients`` lists every client's name, status and discharge or deletion date, so it appends a
``clients`` entry (the filter and how many were listed; never the names). The real command
line on an archive synced from the sandbox over loopback."""

from __future__ import annotations

from exporter.archive import Archive
from exporter.keys import KeyFile
from sandbox import Sandbox
from tests.conftest import Cli
from tests.test_drill import synced  # noqa: F401 (the fixture: 3 clients, synced)


def _entries(cli_: Cli, action: str) -> list[dict[str, object]]:
    with Archive.open(cli_.archive, KeyFile(cli_.key_file)) as arc:
        return [e for e in arc.audit_entries(action) if e["action"] == action]


def test_listing_the_clients_is_audited_without_their_names(
        synced: tuple[Cli, Sandbox]) -> None:  # noqa: F811
    cli_, sb = synced
    result = cli_("clients")
    assert result.exit_code == 0, result.output
    assert "3 client(s)." in result.output
    result = cli_("clients", "--status", "deleted")
    assert result.exit_code == 0 and "0 client(s)." in result.output
    entries = _entries(cli_, "clients")
    assert [e["detail"]["status"] for e in entries] == ["all", "deleted"]  # type: ignore[index]
    assert [e["detail"]["clients"] for e in entries] == [3, 0]  # type: ignore[index]
    for client in sb.agency.clients.values():
        assert client.full_name in cli_("clients").output
        assert all(client.full_name not in str(e["detail"]) for e in entries)
