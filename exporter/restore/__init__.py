"""Restore the archive into a new vendor: mappings, the id map, writers and reports.

    writer = build_writer("hubspot", config.raw["targets"]["hubspot"], config.path)
    report = run_restore(archive, writer, load_mapping("salesforce_to_hubspot"),
                         target="hubspot")
    check = verify_restore(archive, writer, mapping, target="hubspot")

docs/restore.md describes the mapping format and the guarantees.
"""

from exporter.restore.engine import ErrorRow, ObjectReport, RestoreReport, run_restore
from exporter.restore.mapping import MappingError, load_mapping
from exporter.restore.target import build_writer
from exporter.restore.verify import VerifyReport, verify_restore
from exporter.writer import Writer

__all__ = ["ErrorRow", "MappingError", "ObjectReport", "RestoreReport", "VerifyReport",
           "Writer", "build_writer", "load_mapping", "run_restore", "verify_restore"]
