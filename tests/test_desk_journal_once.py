"""The desk's audit journal copies each entry into the audit log exactly once, even when the
desk is killed between the transaction that copied the entries and the emptying of the
journal file (the journal's own docstring admitted that the next desk copied that batch
again; the reliability campaign's desk kills require none lost and none twice). The state
such a kill leaves on disk is made here as it is: the journal's bytes as they were before
the emptying, beside an audit log that already holds them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from exporter.archive import Archive
from exporter.desk.journal import Journal, journal_path_for
from exporter.keys import KeyFile


def _entry_ids(archive: Archive) -> list[str]:
    return [e["detail"]["entry"] for e in archive.audit_entries("desk")]


def test_a_journal_copied_but_not_emptied_is_not_copied_again(archive_path: Path,
                                                                key_path: Path) -> None:
    Archive.create(archive_path, key_file=key_path)[0].close()
    with Archive.open(archive_path, KeyFile(key_path)) as archive:
        journal = Journal(archive)
        for n in range(3):
            journal.add("desk.view", "nora", {"client": f"C-0000{n}"})
        left = journal.path.read_bytes()  # what a kill after the commit leaves
        assert journal.flush() == 3
        journal.path.write_bytes(left)

    with Archive.open(archive_path, KeyFile(key_path)) as archive:  # the next desk
        journal = Journal(archive)
        journal.flush()
        ids = _entry_ids(archive)
        assert len(ids) == 3 and len(set(ids)) == 3, Counter(ids)
        assert journal_path_for(archive_path).read_bytes() == b""

        # A later batch after the same mishap: its new entries are copied, the old ones not.
        journal.add("desk.print", "nora", {"client": "C-00001"})
        left = journal.path.read_bytes()
        assert journal.flush() == 1
        journal.path.write_bytes(left)
        journal.add("desk.view", "olga", {"client": "C-00002"})
        journal.flush()
        ids = _entry_ids(archive)
        assert len(ids) == 5 and len(set(ids)) == 5, Counter(ids)
        assert [e["actor"] for e in archive.audit_entries("desk")][-1] == "desk:olga"
