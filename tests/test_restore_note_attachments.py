"""A HubSpot -> HubSpot copy into another portal carries each note's attachments (intake
forms, signed consents) as files of that portal: a note's ``hs_attachment_ids`` copied as
it was named the source portal's files, which the target does not hold (or holds as some
other file), while ``--verify`` said 100%.

Both portals are read only through the HubSpot SDK and the files' signed URLs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import requests

from exporter.archive import Archive
from exporter.keys import KeyFile
from exporter.restore import load_mapping, run_restore, verify_restore
from sandbox import Sandbox
from tests.restore_support import hubspot_client, synced_archive, target_writer
from tests.target_census import KEY_HS, hubspot_rows


def _bytes_of(sb: Sandbox, file_id: str) -> bytes:
    url = hubspot_client(sb).files.files_api.get_signed_url(file_id).url
    return requests.get(url, timeout=30).content


def _attachments(sb: Sandbox) -> dict[str, list[str]]:
    """Note id (or the source id it carries, when it carries one) -> the SHA-256 of each
    file it attaches, in order ('missing' for an id the portal has no file for)."""
    files = hubspot_client(sb).files.files_api
    out = {}
    for n in hubspot_rows(sb, "notes", ["hs_attachment_ids", KEY_HS]):
        ids = [i for i in str(n["properties"].get("hs_attachment_ids") or "").split(";") if i]
        if not ids:
            continue
        shas = []
        for fid in ids:
            try:
                files.get_by_id(fid)
            except Exception:  # the SDK's ApiException: no such file in this portal
                shas.append("missing")
                continue
            shas.append(hashlib.sha256(_bytes_of(sb, fid)).hexdigest())
        key = n["properties"].get(KEY_HS) or f"hubspot/notes/{n['id']}"
        out[key] = shas
    return out


def _file_count(sb: Sandbox) -> int:
    return len(hubspot_client(sb).files.files_api.do_search(limit=100).results)


def test_notes_copied_to_another_portal_carry_their_attached_files(tmp_path: Path) -> None:
    with Sandbox(clients=3, seed=91, vendors=("hubspot",)) as src, \
            Sandbox(clients=0, seed=92, vendors=("hubspot",)) as dst:
        # the target portal already holds a file of its own, as a portal in use does
        hubspot_client(dst).files.files_api.upload(
            file=str(_scratch(tmp_path)), folder_path="/Office",
            options='{"access": "PRIVATE", "overwrite": false}')
        source = _attachments(src)
        assert len(source) >= 3 and all("missing" not in v for v in source.values())
        mapping = load_mapping("hubspot_to_hubspot")
        with synced_archive(tmp_path, src, "hubspot") as archive:
            report = run_restore(archive, target_writer(tmp_path, dst, "hubspot"), mapping,
                                 target="t")
            assert report.status == "ok", report.errors[:3]
            check = verify_restore(archive, target_writer(tmp_path, dst, "hubspot"), mapping,
                                   target="t")
        assert check.record_rate == 100.0 and not check.mismatches, check.mismatches[:3]

        copied = _attachments(dst)
        assert {k: v for k, v in copied.items() if k in source} == source
        uploaded = _file_count(dst)
        assert uploaded == 1 + sum(len(v) for v in source.values())

        # a re-run sends nothing and uploads nothing
        with Archive.open(tmp_path / "a.db", KeyFile(tmp_path / "a.key"),
                          write=True) as archive:
            again = run_restore(archive, target_writer(tmp_path, dst, "hubspot"), mapping,
                                target="t")
        assert (again.total("created"), again.total("updated")) == (0, 0)
        assert _file_count(dst) == uploaded

        # a note pointed back at the source portal's file id: verify sees the bytes missing
        note = next(n for n in hubspot_rows(dst, "notes", [KEY_HS])
                    if n["properties"][KEY_HS] in source)
        foreign = next(n for n in hubspot_rows(src, "notes", ["hs_attachment_ids"])
                       if f"hubspot/notes/{n['id']}" == note["properties"][KEY_HS])
        hubspot_client(dst).crm.objects.notes.basic_api.update(note["id"], {
            "properties": {"hs_attachment_ids": foreign["properties"]["hs_attachment_ids"]}})
        with Archive.open(tmp_path / "a.db", KeyFile(tmp_path / "a.key")) as archive:
            lost = verify_restore(archive, target_writer(tmp_path, dst, "hubspot"), mapping,
                                  target="t")
        assert [(m.target_id, m.field) for m in lost.mismatches] == [
            (note["id"], "(file bytes)")]


def _scratch(tmp: Path) -> Path:
    path = tmp / "office-letterhead.pdf"
    path.write_bytes(b"%PDF-1.4\n% the office's own file\n%%EOF\n")
    return path


def test_an_attach_setting_of_the_wrong_shape_is_named(tmp_path: Path) -> None:
    import pytest

    from exporter.errors import MappingError

    path = tmp_path / "mine.toml"
    path.write_text('source = "hubspot"\ntarget = "hubspot"\n[[objects]]\nstream = "notes"\n'
                    'object = "notes"\nattach = { stream = "files", field = '
                    '"hs_attachment_ids" }\n', encoding="utf-8")
    with pytest.raises(MappingError, match="attach must be"):
        load_mapping(str(path))
