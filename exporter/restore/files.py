"""The files a restore sends with a record: each archived file of it, named after the
record with the extension of its bytes, and the fields that name them."""

from __future__ import annotations

import mimetypes
from functools import partial
from pathlib import PurePosixPath
from typing import Any

from exporter.restore.mapping import ObjectRule
from exporter.restore.transforms import get_path
from exporter.writer import FileItem

__all__ = ["attached_files", "name_files", "record_files"]


def record_files(ctx: Any, rule: ObjectRule, rid: str) -> tuple[list[FileItem], str | None]:
    """The record's archived file (``file = NAME``), or every one (``"*"``: a Google Doc's
    PDF and Word versions), each named after the record with its own extension; and the
    hash the id map's digest covers."""
    if rule.file is None:
        return [], None
    files = ctx.archive.files_of(ctx.source, rule.stream, rid, ctx.as_of)
    chosen = sorted(files.items()) if rule.file == "*" else \
        [(rule.file, files[rule.file])] if rule.file in files else []
    if not chosen:
        return [], None
    base = f"{rid}-{rule.file}"
    for path in ("PathOnClient", "Name", "name", "properties.name", "Title"):
        value = get_path(ctx.parent(rule.stream, rid), path)
        if isinstance(value, str) and value:
            base = value
            break
    out = [_item(ctx, base, link, sha, several=len(chosen) > 1) for link, sha in chosen]
    return out, ",".join(sha for _l, sha in chosen)


def _item(ctx: Any, base: str, link: str, sha: str, several: bool) -> FileItem:
    """An archived file to send, named ``base`` with the extension of its bytes."""
    info = ctx.archive.file_info(sha)
    return FileItem(_with_extension(base, link, info.media_type, several), info.size,
                    partial(ctx.archive.read_file, sha), info.media_type)


def attached_files(ctx: Any, rule: ObjectRule, data: Any
                   ) -> tuple[list[FileItem], str | None, list[str]]:
    """``attach``: the archived file of each record the rule's field names (a HubSpot note's
    ``hs_attachment_ids``), in its order: another portal's file ids name nothing in the
    target, so the bytes are uploaded again. Also the ids no archived file answers for."""
    assert rule.attach is not None
    spec = rule.attach
    value = get_path(data, spec["field"], ctx.mapping.prefix)
    ids = [i.strip() for i in str(value).split(";") if i.strip()] \
        if isinstance(value, str | int) else []
    out, shas, missing = [], [], []
    for fid in ids:
        sha = ctx.archive.files_of(ctx.source, spec["stream"], fid, ctx.as_of).get(spec["file"])
        if sha is None:
            missing.append(fid)
            continue
        name = get_path(ctx.parent(spec["stream"], fid), "name")
        base = name if isinstance(name, str) and name else f"{fid}-{spec['file']}"
        out.append(_item(ctx, base, spec["file"], sha, several=False))
        shas.append(sha)
    return out, ",".join(shas) or None, missing


def _with_extension(base: str, link: str, media_type: str | None, several: bool) -> str:
    """``base`` with the file's extension: the archived link's ("export.docx"), else the
    media type's; several files of one record each get their own."""
    ext = PurePosixPath(link).suffix or (mimetypes.guess_extension(media_type or "") or "")
    own = PurePosixPath(base).suffix
    if mimetypes.guess_type(base)[0] is None:
        own = ""  # "Notes v1.2" has a dot, not an extension
    if not ext or own.lower() == ext.lower() or (own and not several):
        return base  # "plan.pdf" keeps its own
    return base + ext


def name_files(rule: ObjectRule, uploaded: str, fields: dict[str, Any]) -> None:
    """Fields that name the record's file (``file_extension``: Salesforce's PathOnClient)
    end in the extension of the bytes uploaded, else the target cannot tell what they are."""
    ext = PurePosixPath(uploaded).suffix
    for f in rule.fields:
        value = fields.get(f.target)
        if f.file_extension and ext and isinstance(value, str) and value \
                and not value.lower().endswith(ext.lower()):
            fields[f.target] = value + ext
