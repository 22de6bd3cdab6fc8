"""A vendor response that is not UTF-8 (another encoding, or bytes that are no text at all)
is a vendor problem handled like any other unreadable answer (retried; the source fails
alone if it persists), never an "unexpected problem" (found by the reliability campaign's
malformed-response family, through the sandbox's ``rewrite`` fault)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from sandbox import Sandbox
from sandbox.cli import merge_sources_into_config
from tests.conftest import Cli


def _utf32(body: bytes) -> bytes:
    return body.decode("utf-8", errors="replace").encode("utf-32")


def _garbage(body: bytes) -> bytes:
    return b"\x8d\x81\xd0X\x8a\x9c\x99:\x8c\xdc"


@pytest.fixture
def agency(run_cli: Cli) -> Iterator[Sandbox]:
    with Sandbox(clients=4, seed=9) as sb:
        run_cli.init(passphrase=None)
        tables = sb.source_configs(run_cli.tmp / "secrets")
        for table in tables.values():  # a lasting fault fails fast
            table.update(retry_attempts=2, retry_base_delay=0.01)
        merge_sources_into_config(run_cli.config, tables)
        yield sb


@pytest.mark.parametrize("vendor", ["google", "hubspot", "salesforce"])
@pytest.mark.parametrize("rewrite", [_utf32, _garbage], ids=["utf-32", "garbage"])
def test_an_undecodable_response_is_a_handled_vendor_problem(
        run_cli: Cli, agency: Sandbox, vendor: str, rewrite: Callable[[bytes], bytes]) -> None:
    agency.faults.add(vendor, "rewrite", after=0, times=-1, rewrite=rewrite)
    result = run_cli("sync", "--source", vendor)
    assert agency.faults.faults[0].fired >= 1
    assert result.exit_code in (11, 12), result.output
    assert "unexpected problem" not in result.output
    assert "Traceback" not in result.output
    agency.faults.clear()
    result = run_cli("sync", "--source", vendor)
    assert result.exit_code == 0, result.output
    assert run_cli("verify").exit_code == 0


def test_the_rewrite_fault_sends_the_rewritten_body() -> None:
    import requests

    with Sandbox(clients=1, seed=1, vendors=["hubspot"]) as sb:
        sb.faults.add("hubspot", "rewrite", rewrite=lambda body: b"[" + body + b"]")
        url = sb.urls["hubspot"] + "/crm/v3/objects/contacts"
        headers = {"Authorization": "Bearer nothing"}
        first = requests.get(url, headers=headers, timeout=10)
        second = requests.get(url, headers=headers, timeout=10)
        assert first.content.startswith(b"[{") and first.content.endswith(b"}]")
        assert second.content.startswith(b"{")
    with pytest.raises(ValueError):
        sb.faults.add("hubspot", "rewrite")
