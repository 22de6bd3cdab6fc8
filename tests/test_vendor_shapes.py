"""A vendor answer of an unexpected shape (a list where an id should be, a string where a
count should be) fails that stream with a plain message, never an "unexpected problem"; and a
copy's manifest with a size that is no integer is reported, not a crash (found by the
reliability campaign: hypothesis-made responses through the sandbox's ``rewrite`` fault, and
manifest tamperings)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from sandbox import Sandbox
from sandbox.cli import merge_sources_into_config
from tests.conftest import Cli


def _set_everywhere(key: str, value: object) -> Callable[[bytes], bytes]:
    def walk(doc: object) -> object:
        if isinstance(doc, dict):
            return {k: (value if k == key else walk(v)) for k, v in doc.items()}
        if isinstance(doc, list):
            return [walk(v) for v in doc]
        return doc

    def rewrite(body: bytes) -> bytes:
        try:
            return json.dumps(walk(json.loads(body))).encode()
        except ValueError:
            return body
    return rewrite


@pytest.fixture
def agency(run_cli: Cli) -> Iterator[Sandbox]:
    with Sandbox(clients=4, seed=9) as sb:
        run_cli.init(passphrase=None)
        tables = sb.source_configs(run_cli.tmp / "secrets")
        for table in tables.values():
            table.update(retry_attempts=2, retry_base_delay=0.01)
        merge_sources_into_config(run_cli.config, tables)
        yield sb


@pytest.mark.parametrize(("vendor", "key", "value"), [
    ("salesforce", "totalSize", "many"),
    ("hubspot", "toObjectId", [1, 2, 3]),
    ("google", "sheets", ["not a sheet"]),  # read for the stream's schema, before its rows
])
def test_an_answer_of_an_unexpected_shape_fails_the_stream_plainly(
        run_cli: Cli, agency: Sandbox, vendor: str, key: str, value: object) -> None:
    agency.faults.add(vendor, "rewrite", times=-1, rewrite=_set_everywhere(key, value))
    result = run_cli("sync", "--source", vendor)
    assert result.exit_code in (11, 12), result.output
    assert "unexpected problem" not in result.output
    assert "unexpected shape" in result.output
    agency.faults.clear()
    assert run_cli("sync", "--source", vendor).exit_code == 0
    assert run_cli("verify").exit_code == 0


def test_a_manifest_size_that_is_no_integer_is_listed_not_a_crash(run_cli: Cli) -> None:
    run_cli.init(passphrase=None)
    dest = run_cli.tmp / "usb"
    dest.mkdir()
    assert run_cli("copy", "--to", str(dest)).exit_code == 0
    (manifest,) = dest.glob("*/MANIFEST.json")
    doc = json.loads(manifest.read_text())
    doc["files"][0]["size"] = float("inf")
    manifest.write_text(json.dumps(doc))
    result = run_cli("copy", "--list", "--check", "--to", str(dest))
    assert "unexpected problem" not in result.output
    assert result.exit_code in (6, 14), result.output


def test_a_record_id_no_vendor_would_send_is_never_archived(run_cli: Cli,
                                                           agency: Sandbox) -> None:
    """A spoiled search answer put a 100,000-character id where a note's id was: it was
    archived as a record of its own, with the cursor moved past the real note, which the
    next nights did not read again (found by the campaign's malformed responses)."""
    assert run_cli("sync", "--source", "hubspot").exit_code == 0
    agency.advance(1)
    agency.faults.add("hubspot", "rewrite", path="/search", times=-1,
                      rewrite=_set_everywhere("id", "Ω" * 100_000))
    result = run_cli("sync", "--source", "hubspot")
    assert result.exit_code in (11, 12), result.output
    assert "unexpected problem" not in result.output
    from exporter.archive import Archive
    from exporter.keys import KeyFile

    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        longest = arc.conn.execute("SELECT max(length(record_id)) FROM versions").fetchone()[0]
    assert longest < 1024


def test_an_empty_answer_never_reads_as_no_associations(run_cli: Cli, agency: Sandbox) -> None:
    """HubSpot answered an association read with an empty 200 body: read as "no results", it
    marked live edges deleted, and the next nights (which read the edges of changed records
    only) never brought them back (found by the campaign's malformed responses)."""
    from exporter.archive import Archive
    from exporter.keys import KeyFile

    def live_edges() -> int:
        with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
            return int(arc.conn.execute(
                "SELECT count(*) FROM versions v JOIN streams s ON s.id = v.stream_id "
                "WHERE s.source = 'hubspot' AND s.stream = 'associations' "
                "AND v.superseded_run IS NULL AND v.deleted = 0").fetchone()[0])

    assert run_cli("sync", "--source", "hubspot").exit_code == 0
    before = live_edges()
    agency.advance(1)
    agency.faults.add("hubspot", "rewrite", path="associations", times=-1,
                      rewrite=lambda body: b"")
    result = run_cli("sync", "--source", "hubspot")
    assert result.exit_code in (11, 12), result.output
    assert "unexpected problem" not in result.output
    assert live_edges() >= before  # no live edge marked deleted on an empty answer


def test_half_an_emoji_from_a_vendor_is_archived_not_a_failed_night(
        run_cli: Cli, agency: Sandbox) -> None:
    """A vendor that cut an emoji in half sends a lone surrogate ("\\ud83d") in a JSON
    string: valid JSON, but no UTF-8 text. The record is archived with that escape kept
    (read back equal), and the night is not lost over it (before: UnicodeEncodeError for
    the whole sync, 'unexpected problem')."""
    def cut(body: bytes) -> bytes:
        return body.replace(b'"firstname":"', b'"firstname":"\\ud83d', 1).replace(
            b'"firstname": "', b'"firstname": "\\ud83d', 1)
    agency.faults.add("hubspot", "rewrite", path="/crm/v3/objects/contacts", times=-1,
                      rewrite=cut)
    result = run_cli("sync", "--source", "hubspot")
    assert result.exit_code == 0, result.output
    from exporter.archive import Archive
    from exporter.keys import KeyFile
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        names = [str((d or {}).get("properties", {}).get("firstname"))
                 for _rid, d in arc.records("hubspot", "contacts")]
    assert any(n.startswith("\ud83d") for n in names), names[:5]
    assert run_cli("verify").exit_code == 0
