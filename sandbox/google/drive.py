"""Drive v3: files.list (the ``q`` parser in ``query``), files.get (metadata with
partial-response ``fields``; ``alt=media`` with Range), files.export, files.create
(metadata, multipart, media and resumable uploads), files.update (rename, trash),
files.delete, changes.getStartPageToken and changes.list.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from typing import Any

from sandbox.google.content import make_docx, make_pdf, make_xlsx
from sandbox.google.query import apply_mask, parse_fields, parse_q
from sandbox.google.store import DOC, FOLDER, OFFICE_CAL, SHEET, parse_time, rfc3339
from sandbox.google.workspace import (
    WorkspaceAPI,
    bool_arg,
    decode_token,
    encode_token,
    fail,
    int_arg,
)
from sandbox.http import Request, Response

__all__ = ["DriveAPI"]

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

OWNER = {"kind": "drive#user", "displayName": "Sunrise Home Care Office", "me": True,
         "permissionId": "00000000000000000001", "emailAddress": OFFICE_CAL}
DRIVE_DEFAULTS = {
    "list": "kind,incompleteSearch,nextPageToken,files(kind,id,name,mimeType)",
    "file": "kind,id,name,mimeType",
    "changes": "kind,nextPageToken,newStartPageToken,"
               "changes(kind,changeType,time,removed,fileId,file(kind,id,name,mimeType))",
}


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes, str]:
    """(metadata, media bytes, media type) of a multipart/related upload."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise fail(400, "Missing multipart boundary.", "badContent")
    delim = b"--" + match.group(1).encode()
    parts = []
    for chunk in body.split(delim)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n")
        sep = b"\r\n\r\n" if b"\r\n\r\n" in chunk else b"\n\n"
        head, _, data = chunk.partition(sep)
        data = data[:-2] if data.endswith(b"\r\n") else data[:-1] if data.endswith(b"\n") else data
        ctype = ""
        for line in head.decode("latin-1").splitlines():
            if line.lower().startswith("content-type:"):
                ctype = line.split(":", 1)[1].strip()
        parts.append((ctype, data))
    if len(parts) != 2:
        raise fail(400, "Multipart upload needs metadata and media parts.", "badContent")
    try:
        meta = json.loads(parts[0][1] or b"{}")
    except ValueError:
        raise fail(400, "Invalid JSON metadata.", "parseError") from None
    return meta, parts[1][1], parts[1][0]


class DriveAPI(WorkspaceAPI):
    """Drive files and the changes feed."""

    #: Drive exports at most 10 MB of converted content; a larger export answers 403
    #: exportSizeLimitExceeded. Tests lower it to make one document too large.
    export_limit = 10 * 1024 * 1024

    def _file(self, file_id: str) -> dict[str, Any]:
        rec = self.store.files.get(self.store.root_id if file_id == "root" else file_id)
        if rec is None:
            raise fail(404, f"File not found: {file_id}.", "notFound", location="fileId")
        return rec

    def render_file(self, rec: dict[str, Any], md5: bool) -> dict[str, Any]:
        out = {k: v for k, v in rec.items() if not k.startswith("_")}
        out.update(kind="drive#file", version=str(rec["version"]), starred=False,
                   spaces=["drive"], ownedByMe=True, owners=[OWNER], shared=False,
                   webViewLink=f"https://drive.google.com/file/d/{rec['id']}/view",
                   iconLink=f"https://drive-thirdparty.googleusercontent.com/16/type/"
                            f"{rec['mimeType']}")
        if rec["_size"] is not None and not rec["mimeType"].startswith("application/vnd.google"):
            name = rec["name"]
            ext = name.rsplit(".", 1)[1] if "." in name else ""
            out.update(size=str(rec["_size"]), quotaBytesUsed=str(rec["_size"]),
                       originalFilename=name, fileExtension=ext, fullFileExtension=ext,
                       headRevisionId=f"0B{rec['id'][1:12]}r{rec['_rev']}")
            if md5:
                out["md5Checksum"] = self.store.md5(rec)
        else:
            out["quotaBytesUsed"] = "0"
        return out

    @staticmethod
    def _wants_md5(req: Request) -> bool:
        fields = req.arg("fields") or ""
        return "md5Checksum" in fields or "*" in fields

    def files_list(self, req: Request) -> Response:
        try:
            pred = parse_q(req.arg("q") or "", self.store.root_id)
        except ValueError as exc:
            raise fail(400, f"Invalid Value: {exc}", "invalid", location="q") from None
        size = int_arg(req, "pageSize", 100, 1, 1000)
        token = req.arg("pageToken")
        offset = 0
        if token:
            decoded = decode_token(token)
            if not isinstance(decoded, dict) or "o" not in decoded:
                raise fail(400, "Invalid Value", "invalid", location="pageToken")
            offset = int(decoded["o"])
        root = self.store.root_id
        items = [r for r in self.store.files.values() if r["id"] != root and pred(r)]
        for key in reversed([k.strip() for k in (req.arg("orderBy") or "").split(",") if k]):
            name, _, desc = key.partition(" ")
            if name not in ("name", "modifiedTime", "createdTime", "folder"):
                raise fail(400, f"Invalid Value: orderBy {key}", "invalid", location="orderBy")
            items.sort(key=self._sort_key(name), reverse=desc.strip() == "desc")
        md5 = self._wants_md5(req)
        out: dict[str, Any] = {"kind": "drive#fileList", "incompleteSearch": False,
                               "files": [self.render_file(r, md5)
                                         for r in items[offset:offset + size]]}
        if offset + size < len(items):
            out["nextPageToken"] = encode_token({"o": offset + size})
        return self._mask(req, out, DRIVE_DEFAULTS["list"])

    @staticmethod
    def _sort_key(name: str) -> Callable[[dict[str, Any]], Any]:
        if name == "folder":  # folders first
            return lambda r: r["mimeType"] != FOLDER
        return lambda r: str(r[name])

    def files_get(self, req: Request) -> Response:
        rec = self._file(req.params["fid"])
        if req.arg("alt") != "media":
            return self._mask(req, self.render_file(rec, self._wants_md5(req)),
                              DRIVE_DEFAULTS["file"])
        if rec["mimeType"].startswith("application/vnd.google-apps"):
            raise fail(403, "Only files with binary content can be downloaded. Use Export with "
                       "Docs Editors files.", "fileNotDownloadable", location="alt")
        data = self.store.content(rec)
        rng = re.fullmatch(r"bytes=(\d+)-(\d*)", req.headers.get("range", ""))
        if rng:  # MediaIoBaseDownload fetches in chunks with Range
            start = int(rng.group(1))
            end = min(int(rng.group(2)) if rng.group(2) else len(data) - 1, len(data) - 1)
            return Response.raw(data[start:end + 1], rec["mimeType"], status=206, headers={
                "Content-Range": f"bytes {start}-{end}/{len(data)}"})
        return Response.raw(data, rec["mimeType"])

    def files_export(self, req: Request) -> Response:
        rec = self._file(req.params["fid"])
        target = req.arg("mimeType") or ""
        if rec["mimeType"] == DOC:
            text = self.store.doc_text(rec)
            makers: dict[str, Callable[[], bytes]] = {
                "text/plain": lambda: text.encode("utf-8"),
                "application/pdf": lambda: make_pdf(text.splitlines()),
                DOCX: lambda: make_docx(text),
            }
        elif rec["mimeType"] == SHEET:
            tabs = [(t["title"], t["rows"]) for t in self.store.sheets[rec["id"]]["tabs"]]
            makers = {"text/csv": lambda: self._csv(tabs[0][1]), XLSX: lambda: make_xlsx(tabs)}
        else:
            raise fail(403, "Export only supports Docs Editors files.", "fileNotExportable",
                       location="fileId")
        if target not in makers:
            raise fail(400, "The requested conversion is not supported.", "badRequest",
                       location="convertTo")
        body = makers[target]()
        if len(body) > self.export_limit:
            raise fail(403, "This file is too large to be exported.", "exportSizeLimitExceeded")
        return Response.raw(body, target)

    @staticmethod
    def _csv(rows: list[list[str]]) -> bytes:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n").writerows(rows)
        return buf.getvalue().encode("utf-8")

    def _create(self, meta: dict[str, Any], data: bytes | None, media_type: str) -> dict[str, Any]:
        """A new Drive file from upload metadata (+ bytes); what restore writes."""
        store = self.store
        mime = meta.get("mimeType") or media_type or "application/octet-stream"
        parents = meta.get("parents") or [store.root_id]
        parents = [store.root_id if p == "root" else p for p in parents]
        for parent in parents:
            if parent not in store.files:
                raise fail(404, f"File not found: {parent}.", "notFound", location="parents")
        file_id = store.fid(f"upload:{store.next_id('u')}")
        when = store.stamp()
        gen = "folder" if mime == FOLDER else "sheet" if mime == SHEET else "blob"
        native = mime.startswith("application/vnd.google-apps")
        rec = store.new_file(file_id, str(meta.get("name") or "Untitled"), mime, parents, when, gen,
                          size=None if native else len(data or b""))
        for key in ("description", "properties", "appProperties"):
            if key in meta:
                rec[key] = meta[key]
        for key in ("createdTime", "modifiedTime"):  # Drive lets a restore keep these
            if meta.get(key):
                try:
                    rec[key] = rfc3339(parse_time(meta[key]))
                except ValueError:
                    raise fail(400, f"Invalid value for {key}.", "invalid") from None
        if gen == "sheet":
            text = (data or b"").decode("utf-8-sig")
            rows = [r for r in csv.reader(io.StringIO(text))] or [[]]
            store.sheets[file_id] = {"title": rec["name"], "tabs": [
                {"sheetId": 0, "title": "Sheet1", "rows": rows,
                 "keys": [str(i) for i in range(len(rows))]}]}
        elif data is not None:
            store.blobs[file_id] = data
        store.add_file(rec)
        return rec

    def files_create(self, req: Request) -> Response:
        meta = req.json() or {}
        data = b"" if meta.get("mimeType") == DOC else None
        return self._mask(req, self.render_file(self._create(meta, data, ""), True),
                          DRIVE_DEFAULTS["file"])

    def files_upload(self, req: Request) -> Response:
        kind = req.arg("uploadType") or "media"
        ctype = req.headers.get("content-type", "")
        if kind == "multipart":
            meta, data, media_type = _parse_multipart(ctype, req.body)
        elif kind == "media":
            meta, data, media_type = {}, req.body, ctype
        elif kind == "resumable":
            upload_id = self.store.next_id("up")
            self._uploads[upload_id] = {
                "meta": req.json() or {}, "data": b"",
                "type": req.headers.get("x-upload-content-type", ""),
                "fields": req.arg("fields")}
            location = f"{self.base_url}/upload/drive/v3/files?uploadType=resumable" \
                       f"&upload_id={upload_id}"
            return Response(200, b"", {"Location": location, "X-GUploader-UploadID": upload_id})
        else:
            raise fail(400, f"Invalid upload type {kind}.", "invalid", location="uploadType")
        rec = self._create(meta, data, media_type)
        return self._mask(req, self.render_file(rec, True), DRIVE_DEFAULTS["file"])

    def files_upload_chunk(self, req: Request) -> Response:
        session = self._uploads.get(req.arg("upload_id") or "")
        if session is None:
            raise fail(404, "Upload session not found.", "notFound", location="upload_id")
        span = re.fullmatch(r"bytes (\*|(\d+)-(\d+))/(\d+|\*)",
                            req.headers.get("content-range", f"bytes 0-0/{len(req.body)}"))
        if span is None:
            raise fail(400, "Invalid Content-Range.", "badContent")
        if span.group(2) is not None and int(span.group(2)) == len(session["data"]):
            session["data"] += req.body
        total = span.group(4)
        got = len(session["data"])
        if total == "*" or got < int(total):
            headers = {"Range": f"bytes=0-{got - 1}"} if got else {}
            return Response(308, b"", headers)
        del self._uploads[req.arg("upload_id") or ""]
        rec = self._create(session["meta"], session["data"], session["type"])
        out = self.render_file(rec, True)
        if session["fields"]:
            out = apply_mask(out, parse_fields(session["fields"]))
        elif not req.arg("fields"):
            out = apply_mask(out, parse_fields(DRIVE_DEFAULTS["file"]))
        return Response.json(out)

    def files_update(self, req: Request) -> Response:
        rec = self._file(req.params["fid"])
        meta = req.json() or {}
        if "name" in meta:
            rec["name"] = str(meta["name"])
        if "trashed" in meta:
            rec["trashed"] = rec["explicitlyTrashed"] = bool(meta["trashed"])
            if rec["trashed"]:
                rec["trashedTime"] = rfc3339(self.store.stamp())
            else:
                rec.pop("trashedTime", None)
        for key in ("description", "properties"):
            if key in meta:
                rec[key] = meta[key]
        self.store.modify_file(rec, content_changed="name" in meta)
        return self._mask(req, self.render_file(rec, self._wants_md5(req)),
                          DRIVE_DEFAULTS["file"])

    def files_delete(self, req: Request) -> Response:
        rec = self._file(req.params["fid"])
        self.store.delete_file(rec["id"])
        return Response(204, b"", {})

    def changes_start(self, req: Request) -> Response:
        return self._mask(req, {"kind": "drive#startPageToken",
                                "startPageToken": str(len(self.store.changes) + 1)}, None)

    def changes_list(self, req: Request) -> Response:
        store = self.store
        token = req.arg("pageToken")
        if not token:
            raise fail(400, "Required parameter: pageToken", "required", location="pageToken")
        if not token.isdigit() or not 1 <= int(token) <= len(store.changes) + 1:
            raise fail(400, f"Invalid Value: pageToken {token}", "invalid", location="pageToken")
        size = int_arg(req, "pageSize", 100, 1, 1000)
        removed_too = bool_arg(req, "includeRemoved", True)
        md5 = self._wants_md5(req)
        items: list[dict[str, Any]] = []
        i = int(token) - 1
        while i < len(store.changes) and len(items) < size:
            change = store.changes[i]
            i += 1
            if store.latest_change.get(change["fileId"]) != change["seq"]:
                continue  # superseded by a newer change of the same file
            if change["removed"] and not removed_too:
                continue
            item = {"kind": "drive#change", "changeType": "file", "type": "file",
                    "time": change["time"], "removed": change["removed"],
                    "fileId": change["fileId"]}
            rec = store.files.get(change["fileId"])
            if not change["removed"] and rec is not None:
                item["file"] = self.render_file(rec, md5)
            items.append(item)
        out: dict[str, Any] = {"kind": "drive#changeList", "changes": items}
        if i < len(store.changes):
            out["nextPageToken"] = str(i + 1)
        else:
            out["newStartPageToken"] = str(len(store.changes) + 1)
        return self._mask(req, out, DRIVE_DEFAULTS["changes"])
