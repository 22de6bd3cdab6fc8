"""Restore mappings: which archived stream becomes which target object, field by field.

A mapping is a TOML file (bundled ones are in ``exporter/restore/mappings/``):

    source = "salesforce"            # the archived source
    target = "hubspot"               # the target type it is written for

    [[objects]]
    stream = "Account"               # archived stream
    object = "contacts"              # target object
    key = "source_record_id"         # unique property to find restored records on a re-run
    where = { Status__c = ["Active", "Discharged"] }   # optional record filter
    unlisted = { code_status = "code_status_other" }  # values outside the options go here
    inactive = { medication_active = "false" }  # a record deleted from the source, in the target
    optional = true                  # no error when the archive lacks the stream
    attach = { stream = "files", field = "hs_attachment_ids", file = "content" }  # the
                                     # files it names, uploaded again (another portal)
    [objects.schema]                 # a custom object the restore creates when missing
    labels = { singular = "Medication", plural = "Medications" }
    primary = "medication_name"      # the property that names a record
    properties = { medication_name = "string", active = "bool" }
    associated = ["contacts"]        # objects its records are associated with
    [objects.fields]
    phone = "Phone"                                    # rename
    firstname = { from = "Name", split = " ", part = "first" }
    lifecyclestage = { from = "Status__c", map = { Active = "customer" }, default = "other" }
    date_of_birth = { from = "Birthdate__c", date = "%Y-%m-%d" }
    name = { join = ["FirstName", "LastName"], sep = " " }
    CloseDate = { first = ["closedate", "createdate"] }  # the first that is not empty
    client_number = { parent = "Client__c", stream = "Account", from = "Client_Number__c" }
    [[objects.links]]
    from = "Primary_Physician__c"    # source field holding the parent's archived id
    to = "Physician__c"              # the parent's stream (its mapping must exist)
    type_id = 279                    # HubSpot association type (Salesforce: field = "...")
    # or: via = "associations" (HubSpot's edges), with by/on for a second hop through the
    # associated record's field; through = "notes" + through_field = "hs_attachment_ids":
    # resolved from the record of that stream naming this one (see docs/restore.md)

    [client]                         # optional: names a record's client in the error report
    stream = "Account"
    name = "Name"                    # or a list of fields: ["firstname", "lastname"]
    number = "Client_Number__c"

Field paths are dotted (``BillingAddress.street``); with ``prefix = "properties."`` at the
top (HubSpot sources) plain names are looked up under ``properties`` and ``@id``,
``@createdAt`` reach the record's own keys. See docs/restore.md for every transform.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from exporter.errors import MappingError
from exporter.settings import did_you_mean
from exporter.writer import ObjectSchema

__all__ = [
    "FieldRule",
    "LinkRule",
    "MappingError",
    "Mapping_",
    "ObjectRule",
    "bundled_mappings",
    "load_mapping",
]

#: What a value outside a target field's options becomes (``unlisted_values``).
UNLISTED_VALUES = ("text", "add", "report")
#: The property types a schema declares (``create_fields``' types, and a long ``text``).
SCHEMA_TYPES = frozenset({"string", "text", "number", "date", "datetime", "bool"})
TRANSFORM_KEYS = {"from", "first", "join", "sep", "value", "split", "part", "map", "default",
                  "date", "parent", "stream", "type", "strip", "max_length", "prefix_text", "scale",
                  "file_extension", "optional"}





@dataclass(frozen=True)
class FieldRule:
    target: str
    paths: tuple[str, ...] = ()  # source paths read (one, or several for join)
    first: bool = False  # several paths: the first non-empty one, not all joined
    value: Any = None  # a constant, when no path
    sep: str = " "
    split: str | None = None
    part: str | int | None = None
    map: Mapping[str, Any] | None = None
    default: Any = None
    date: str | None = None
    parent: str | None = None  # reference field whose parent record supplies ``paths``
    parent_stream: str | None = None
    type: str | None = None  # string | number | bool: the value's type in the target
    max_length: int | None = None
    prefix_text: str | None = None  # a label put before a non-empty value ("Dose: ")
    scale: float | None = None  # a number multiplied, rounded to a whole one (ms -> s)
    #: a file name: given the extension of the file restored with the record (a Google
    #: Doc's "Care notes" uploaded as Word is "Care notes.docx")
    file_extension: bool = False
    #: the archive may lack the source fields (properties only a restore from another vendor
    #: makes): the field is then written empty, not a mistake in the mapping
    optional: bool = False


@dataclass(frozen=True)
class LinkRule:
    name: str  # the target lookup field (Salesforce) or a label for the association
    to_stream: str  # the parent's stream
    path: str | None = None  # source field holding the parent's archived id
    by: str | None = None  # or: join on this source field ...
    on: str | None = None  # ... equal to this field of the parent
    to_object: str | None = None  # the parent's target object when its stream maps to several
    type_id: int | None = None
    via: str | None = None  # or: an archived associations stream (HubSpot's edges)
    every: bool = False  # with via: every associated record, not the first (HubSpot target)
    label: str | None = None  # HubSpot target: the association's label ("Emergency contact")
    #: the record is reached through the records of this stream that name its id in
    #: ``through_field`` (a note's hs_attachment_ids): the link is resolved from them
    through: str | None = None
    through_field: str | None = None
    deferred: bool = False  # set by the planner for links that close a cycle
    #: ``to = "@target"``: the parent is looked up in the target itself (``to_object``
    #: records whose field ``on`` equals the value at ``by``), not restored by this mapping
    in_target: bool = False
    target_where: Mapping[str, Any] | None = None  # ... among those with these values
    normalise: str | None = None  # compare with a care-plan normaliser ("client_number")


@dataclass
class ObjectRule:
    stream: str
    object: str
    fields: list[FieldRule]
    links: list[LinkRule] = field(default_factory=list)
    key: str | None = None
    match: list[str] = field(default_factory=list)
    where: dict[str, list[Any]] = field(default_factory=dict)
    file: str | None = None  # the archived file link restored with each record
    create_fields: dict[str, str] = field(default_factory=dict)  # custom fields to create
    all_fields: bool = False  # any->CSV: every field of the record, flattened
    unique: dict[str, str] = field(default_factory=dict)  # unique field -> where repeats go
    #: option field -> text field for values outside the target's options (else left out)
    unlisted: dict[str, str] = field(default_factory=dict)
    #: the target's inactive state for a record deleted from the source: field -> value
    inactive: dict[str, Any] = field(default_factory=dict)
    #: same-vendor: every archived field the target can write, under its own name
    copy_fields: bool = False
    #: the custom object the restore creates when the target lacks it
    schema: ObjectSchema | None = None
    #: left out when the archive lacks the stream (a custom object some portals have)
    optional: bool = False
    #: only records with a value at each of these paths (a visit: one with a client number)
    require: list[str] = field(default_factory=list)
    #: the archived files of the records a field names (HubSpot's hs_attachment_ids):
    #: {stream, field, file}, uploaded again and the field set to the target's own ids
    attach: dict[str, str] | None = None

    @property
    def label(self) -> str:
        return f"{self.stream} -> {self.object}"


@dataclass
class Mapping_:
    path: Path
    source: str
    target: str | None
    prefix: str
    objects: list[ObjectRule]
    ignore: list[str] = field(default_factory=list)  # source fields never reported unmapped
    #: Where a record's client is read for the error report: {stream, name, number}.
    client: dict[str, Any] = field(default_factory=dict)
    #: Same vendor (``same = { created = "CreatedDate" }``): an archived record whose id
    #: the target still holds, created at the archived time, IS that record (a restore into
    #: its own source); the others (deleted since) are created again.
    same: dict[str, str] = field(default_factory=dict)
    #: A mapping for any source: a ``[client]`` table per source (``[clients.salesforce]``).
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: A value outside a target field's options (a picklist, an enumeration): "text" (the
    #: default) writes it to the rule's ``unlisted`` text field for that field, else leaves
    #: it out and reports it; "add" first adds it to the options where the target allows
    #: it (else as "text"); "report" always leaves it out and reports it.
    unlisted_values: str = "text"


def _fail(path: Path, where: str, message: str) -> MappingError:
    return MappingError(f"In the mapping {path.name}, {where}: {message}")


def _paths(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (raw,)
    return tuple(str(p) for p in raw)


def _field_rule(path: Path, where: str, target: str, spec: Any) -> FieldRule:
    if isinstance(spec, str):
        return FieldRule(target, (spec,))
    if not isinstance(spec, dict):
        raise _fail(path, where, f"field {target} must be a source field name or a table")
    unknown = set(spec) - TRANSFORM_KEYS
    if unknown:
        bad = sorted(unknown)[0]
        raise _fail(path, where, f"field {target} has an unknown transform '{bad}'"
                    + did_you_mean(bad, TRANSFORM_KEYS))
    sources = [k for k in ("from", "first", "join", "value") if k in spec]
    if len(sources) != 1:
        raise _fail(path, where,
                    f"field {target} needs exactly one of from, first, join or value")
    if "date" in spec:
        try:
            dt.date(2026, 1, 2).strftime(str(spec["date"]))
        except ValueError:
            raise _fail(path, where, f"field {target} has a bad date format") from None
    if "parent" in spec and "stream" not in spec:
        raise _fail(path, where, f"field {target} takes a parent's field: name its stream")
    if spec.get("type") not in (None, "string", "number", "bool"):
        raise _fail(path, where, f"field {target}: type must be string, number or bool")
    part = spec.get("part")
    if part is not None and not isinstance(part, int) and part not in ("first", "rest", "last"):
        raise _fail(path, where, f"field {target}: part must be first, rest, last or a number")
    return FieldRule(
        target=target, paths=_paths(spec.get("from", spec.get("first", spec.get("join")))),
        first="first" in spec, value=spec.get("value"),
        sep=str(spec.get("sep", " ")), split=spec.get("split"), part=part, map=spec.get("map"),
        default=spec.get("default"), date=spec.get("date"), parent=spec.get("parent"),
        parent_stream=spec.get("stream"), type=spec.get("type"),
        max_length=spec.get("max_length"), prefix_text=spec.get("prefix_text"),
        scale=spec.get("scale"), file_extension=bool(spec.get("file_extension", False)),
        optional=spec.get("optional") is True)


def _object_rule(path: Path, n: int, raw: Any) -> ObjectRule:
    if not isinstance(raw, dict) or not isinstance(raw.get("stream"), str) \
            or not isinstance(raw.get("object"), str):
        raise _fail(path, f"[[objects]] number {n}", "stream and object are required")
    where = f"[[objects]] {raw['stream']} -> {raw['object']}"
    known = {"stream", "object", "fields", "links", "key", "match", "where", "file",
             "create_fields", "all_fields", "unique", "unlisted", "inactive", "copy_fields",
             "schema", "optional", "require", "attach"}
    for k in raw:
        if k not in known:
            raise _fail(path, where, f"unknown setting '{k}'" + did_you_mean(k, known))
    fields_raw = raw.get("fields", {})
    if not isinstance(fields_raw, dict):
        raise _fail(path, where, "fields must be a table")
    fields = [_field_rule(path, where, t, s) for t, s in fields_raw.items()]
    links = []
    for link in raw.get("links", []):
        # via with by: the associated record's by field joined to the parent's on field
        kinds = sum(k in link for k in ("from", "by", "via")) if isinstance(link, dict) else 0
        if not isinstance(link, dict) or "to" not in link or not (
                kinds == 1 or (kinds == 2 and "via" in link and "by" in link)) or \
                ("through" in link) != ("through_field" in link):
            raise _fail(path, where, "each link needs to, and one of from (an id field), "
                        "by/on (a shared key) or via (an associations stream, with by/on "
                        "to join the associated record's field), and through with "
                        "through_field together")
        in_target = link["to"] == "@target"
        if in_target and not ("by" in link and "on" in link and "to_object" in link):
            raise _fail(path, where, 'a link to = "@target" needs by (the source field), '
                        "on (the target's field) and to_object")
        links.append(LinkRule(
            name=str(link.get("field") or link.get("name") or link.get("from") or link["to"]),
            to_stream=str(link["to"]), path=link.get("from"), by=link.get("by"),
            on=link.get("on", link.get("by")), to_object=link.get("to_object"),
            type_id=link.get("type_id"), via=link.get("via"),
            every=bool(link.get("every", False)), label=link.get("label"),
            in_target=in_target, target_where=link.get("where"),
            normalise=link.get("normalise"),
            through=link.get("through"), through_field=link.get("through_field")))
    where_raw = raw.get("where", {})
    filt = {k: (v if isinstance(v, list) else [v]) for k, v in where_raw.items()}
    return ObjectRule(stream=raw["stream"], object=raw["object"], fields=fields, links=links,
                      key=raw.get("key"), match=list(raw.get("match", [])), where=filt,
                      file=raw.get("file"), create_fields=dict(raw.get("create_fields", {})),
                      all_fields=bool(raw.get("all_fields", False)),
                      unique=dict(raw.get("unique", {})),
                      unlisted=dict(raw.get("unlisted", {})),
                      inactive=dict(raw.get("inactive", {})),
                      copy_fields=bool(raw.get("copy_fields", False)),
                      schema=_schema(path, where, raw.get("schema")),
                      optional=bool(raw.get("optional", False)),
                      require=[str(r) for r in raw.get("require", [])],
                      attach=_attach(path, where, raw.get("attach")))


def _attach(path: Path, where: str, raw: Any) -> dict[str, str] | None:
    """``attach = { stream, field, file }``: a record's attachments, by their archived ids."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"stream", "field", "file"} \
            or not all(isinstance(v, str) and v for v in raw.values()):
        raise _fail(path, where, 'attach must be { stream = "files", field = '
                    '"hs_attachment_ids", file = "content" }')
    return {k: str(v) for k, v in raw.items()}


def _schema(path: Path, where: str, raw: Any) -> ObjectSchema | None:
    """``[objects.schema]``: the custom object the restore creates when it is missing."""
    if raw is None:
        return None
    known = {"labels", "primary", "properties", "associated", "required", "searchable"}
    labels, props = raw.get("labels") if isinstance(raw, dict) else None, None
    if isinstance(raw, dict):
        props = raw.get("properties")
        for k in raw:
            if k not in known:
                raise _fail(path, where, f"unknown schema setting '{k}'"
                            + did_you_mean(k, known))
    if not isinstance(labels, dict) or not labels.get("singular") or not labels.get("plural") \
            or not isinstance(props, dict) or raw.get("primary") not in props:
        raise _fail(path, where, "a schema needs labels = { singular, plural }, properties = "
                    "{ name = type } and primary (one of those properties)")
    bad = [f"{n} = {t!r}" for n, t in sorted(props.items()) if t not in SCHEMA_TYPES]
    if bad:
        raise _fail(path, where, f"schema properties {', '.join(bad)}: the type must be one "
                    f"of {', '.join(sorted(SCHEMA_TYPES))}")
    primary = str(raw["primary"])
    return ObjectSchema(
        singular=str(labels["singular"]), plural=str(labels["plural"]), primary=primary,
        properties={str(k): str(v) for k, v in props.items()},
        associated=tuple(str(a) for a in raw.get("associated", [])),
        required=tuple(str(a) for a in raw.get("required", [primary])),
        searchable=tuple(str(a) for a in raw.get("searchable", [primary])))


def bundled_mappings() -> dict[str, Path]:
    """The mappings shipped with exporter, by name (file name without .toml)."""
    folder = resources.files("exporter.restore").joinpath("mappings")
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir()
            if str(p).endswith(".toml")}


def load_mapping(name_or_path: str | Path) -> Mapping_:
    """A mapping from a file, or a bundled one by name (``salesforce_to_hubspot``)."""
    path = Path(name_or_path)
    if not path.exists():
        bundled = bundled_mappings()
        if str(name_or_path) in bundled:
            path = bundled[str(name_or_path)]
        else:
            raise MappingError(f"There is no mapping file {path}; bundled mappings: "
                               f"{', '.join(sorted(bundled))}" + did_you_mean(str(name_or_path),
                                                                         bundled))
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"The mapping {path} cannot be read ({exc}).") from exc
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"The mapping {path} has a mistake: {exc}.") from exc
    if not isinstance(raw.get("source"), str):
        raise _fail(path, "the top", 'source = "NAME" (the archived source) is required')
    objects = raw.get("objects")
    if not isinstance(objects, list) or not objects:
        raise _fail(path, "the top", "at least one [[objects]] table is required")
    rules = [_object_rule(path, n, o) for n, o in enumerate(objects, 1)]
    client = raw.get("client", {})
    if not isinstance(client, dict) or (client and "stream" not in client):
        raise _fail(path, "[client]", "name the client stream: stream = \"Account\"")
    clients = raw.get("clients", {})
    if not isinstance(clients, dict) or not all(
            isinstance(c, dict) and "stream" in c for c in clients.values()):
        raise _fail(path, "[clients]", "one table per source, each naming its client stream: "
                    "[clients.salesforce] stream = \"Account\"")
    same = raw.get("same", {})
    if not isinstance(same, dict) or (same and not isinstance(same.get("created"), str)):
        raise _fail(path, "same", 'name the creation time field: same = { created = '
                    '"CreatedDate" }')
    unlisted_values = raw.get("unlisted_values", "text")
    if unlisted_values not in UNLISTED_VALUES:
        raise _fail(path, "unlisted_values", "use one of " + ", ".join(
            f'"{v}"' for v in UNLISTED_VALUES) + did_you_mean(str(unlisted_values),
                                                                UNLISTED_VALUES))
    return Mapping_(path=path, source=raw["source"], target=raw.get("target"),
                    prefix=str(raw.get("prefix", "")), objects=rules,
                    ignore=[str(i) for i in raw.get("ignore", [])],
                    client=dict(client), same={k: str(v) for k, v in same.items()},
                    clients={k: dict(v) for k, v in clients.items()},
                    unlisted_values=str(unlisted_values))
