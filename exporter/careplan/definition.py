"""Care-plan view definitions: TOML files that say where each section of a care plan lives
in the archived streams and how records of different vendors join on a client key.

    definition = load_definition(path)        # DefinitionError on a mistake, with the line's place
    problems = check_against(definition, archive)   # unknown streams/fields, nearest names

The sections a care plan can have, in the order they are printed, are :data:`SECTIONS`.
docs/careplan.md describes the format with a worked example.
"""

from __future__ import annotations

from exporter.careplan.check import check_against
from exporter.careplan.model import (
    CLIENT_PREFIX,
    FORMATS,
    NORMALISERS,
    SECTIONS,
    ClientSource,
    Column,
    Definition,
    Join,
    Section,
    Via,
    field_paths,
    get_path,
    has_path,
    normaliser,
    suggest,
)
from exporter.careplan.parse import default_definition_text, load_definition, parse_definition
from exporter.errors import DefinitionError

__all__ = [
    "CLIENT_PREFIX",
    "FORMATS",
    "NORMALISERS",
    "SECTIONS",
    "ClientSource",
    "Column",
    "Definition",
    "DefinitionError",
    "Join",
    "Section",
    "Via",
    "check_against",
    "default_definition_text",
    "field_paths",
    "get_path",
    "has_path",
    "load_definition",
    "normaliser",
    "parse_definition",
    "suggest",
]
