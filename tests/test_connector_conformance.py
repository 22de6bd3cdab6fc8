"""Conformance: every installed connector, against the sandbox, with its real SDK.

Primary keys present, records valid against the declared schema, cursors advance, and a
second run with no changes adds nothing. Parametrized over the entry-point group, so a
connector that fails to load fails here too.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from exporter.archive import Archive
from exporter.plugin import CONNECTORS, load_plugins
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox

LOADED = load_plugins(CONNECTORS)
BUILT_IN = ("salesforce", "hubspot", "google")


def test_built_in_connectors_load() -> None:
    assert LOADED.problems == {}
    assert set(BUILT_IN) <= set(LOADED.classes)


@pytest.mark.parametrize("type_name", sorted(set(LOADED.classes) | set(BUILT_IN)))
def test_connector_conformance(type_name: str, tmp_path: Path) -> None:
    if type_name not in BUILT_IN:
        pytest.fail(f"{type_name}: no sandbox knows this connector; add one before installing it")
    archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    with Sandbox(clients=8, seed=11) as sb, archive:
        table = sb.source_configs(tmp_path / "secrets")[type_name]
        connector = build_connector(type_name, table, tmp_path / "config.toml")
        assert all(r.ok for r in connector.check()), connector.check()
        streams = {s.name: s for s in connector.streams()}
        assert streams, "a connector has at least one stream"

        first = run_sync(archive, {type_name: connector})
        assert first.status == "ok", first.stats()
        total = 0
        for name, stream in streams.items():
            assert stream.primary_key, f"{name} declares a primary key"
            validator = (jsonschema.Draft202012Validator(dict(stream.schema))
                         if stream.schema else None)
            for rid, data in archive.records(type_name, name, include_deleted=True):
                total += 1
                if data is None:
                    continue
                assert stream.primary_key in data, f"{name} {rid} lacks {stream.primary_key}"
                assert str(data[stream.primary_key]) == rid
                if validator is not None:
                    errors = sorted(validator.iter_errors(data), key=str)
                    assert not errors, f"{name} {rid}: {errors[0].message}"
        assert total > 0
        cursors = {n: archive.get_cursor(type_name, n) for n, s in streams.items()
                   if s.cursor_field}
        assert any(c is not None for c in cursors.values())

        # Nothing changed: nothing new.
        connector = build_connector(type_name, table, tmp_path / "config.toml")
        again = run_sync(archive, {type_name: connector})
        assert again.status == "ok"
        for s in again.sources[0].streams:
            assert (s.new, s.changed, s.deleted) == (0, 0, 0), s.summary()

        # Time passes: cursors advance.
        sb.advance(2)
        connector = build_connector(type_name, table, tmp_path / "config.toml")
        later = run_sync(archive, {type_name: connector})
        assert later.status == "ok"
        assert sum(s.new + s.changed + s.deleted for s in later.sources[0].streams) > 0
        moved = [n for n in cursors if archive.get_cursor(type_name, n) != cursors[n]]
        assert moved, "some cursor moved after changes"
