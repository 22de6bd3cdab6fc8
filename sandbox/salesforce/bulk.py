"""Bulk API 2.0 query jobs: create, poll (``bulk_polls`` polls answer InProgress first),
list, abort, delete, and CSV results paged by ``Sforce-Locator``. Compound fields fail
the job, as on Salesforce.
"""

from __future__ import annotations

import base64
import csv
import io
from typing import Any

from sandbox.http import Request, Response
from sandbox.salesforce.org import USER_ID, sf_error
from sandbox.salesforce.records import RecordReader
from sandbox.salesforce.soql import SoqlError
from sandbox.salesforce.store import make_id

__all__ = ["BulkQueryAPI"]

MAX_JOBS = 200  # Bulk query jobs kept (each holds its result rows)


class BulkQueryAPI(RecordReader):
    """Bulk 2.0 query jobs over the same SOQL as REST."""

    def _bulk_create(self, request: Request) -> Response:
        body = self._body(request)
        operation, text = body.get("operation"), body.get("query")
        if operation not in ("query", "queryAll") or not isinstance(text, str):
            raise sf_error(400, "INVALIDJOB", "operation must be query or queryAll, with a query")
        delimiter = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^",
                     "BACKQUOTE": "`"}.get(body.get("columnDelimiter", "COMMA"))
        if delimiter is None or body.get("lineEnding", "LF") not in ("LF", "CRLF"):
            raise sf_error(400, "INVALIDJOB", "invalid columnDelimiter or lineEnding")
        try:
            obj, fields, rows, _ = self._run_soql(text, operation == "queryAll",
                                                  request.params["ver"])
        except SoqlError as exc:
            raise sf_error(400, "INVALIDJOB", exc.render()) from None
        self._serial += 1
        job_id = make_id("750", self._serial)
        now = self.store.write_stamp()
        job: dict[str, Any] = {
            "id": job_id, "operation": operation, "object": obj.name,
            "createdById": USER_ID, "createdDate": now, "systemModstamp": now,
            "state": "UploadComplete", "concurrencyMode": "Parallel", "contentType": "CSV",
            "apiVersion": float(request.params["ver"]), "lineEnding": body.get("lineEnding", "LF"),
            "columnDelimiter": body.get("columnDelimiter", "COMMA"),
        }
        compound = [c.name for c in fields if c.field.type in ("address", "base64")]
        self.jobs[job_id] = {"info": job, "fields": fields, "rows": rows, "polls": 0,
                             "delimiter": delimiter, "error": None if not compound else
                             "FUNCTIONALITY_NOT_ENABLED: Selecting compound data not supported "
                             f"in Bulk Query ({', '.join(compound)})"}
        while len(self.jobs) > MAX_JOBS:  # oldest first: dicts keep insertion order
            del self.jobs[next(iter(self.jobs))]
        return Response.json(job)

    def _job(self, request: Request) -> dict[str, Any]:
        job = self.jobs.get(request.params["job"])
        if job is None:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def _bulk_job(self, request: Request) -> Response:
        job = self._job(request)
        info = job["info"]
        if info["state"] not in ("Aborted", "Failed", "JobComplete"):
            job["polls"] += 1
            info["state"] = "InProgress" if job["polls"] <= self.bulk_polls else (
                "Failed" if job["error"] else "JobComplete")
        out = dict(info, jobType="V2Query", retries=0, totalProcessingTime=0,
                   numberRecordsProcessed=len(job["rows"]) if info["state"] == "JobComplete"
                   else 0)
        if job["error"] and info["state"] == "Failed":
            out["errorMessage"] = job["error"]
        return Response.json(out)

    def _bulk_list(self, request: Request) -> Response:
        return Response.json({"done": True, "nextRecordsUrl": None,
                              "records": [j["info"] for j in self.jobs.values()]})

    def _bulk_abort(self, request: Request) -> Response:
        job = self._job(request)
        if self._body(request).get("state") == "Aborted":
            job["info"]["state"] = "Aborted"
        return Response.json(job["info"])

    def _bulk_delete(self, request: Request) -> Response:
        self._job(request)
        del self.jobs[request.params["job"]]
        return Response(204)

    def _bulk_results(self, request: Request) -> Response:
        job = self._job(request)
        if job["info"]["state"] != "JobComplete":
            raise sf_error(400, "INVALIDJOB", f"Job is not complete: {job['info']['state']}")
        size = max(1, int(request.arg("maxRecords") or 50000))
        locator = request.arg("locator") or ""
        offset = int(base64.b64decode(locator).decode()) if locator else 0
        rows = job["rows"][offset: offset + size]
        nxt = offset + size if offset + size < len(job["rows"]) else None
        info = job["info"]
        out = io.StringIO()
        writer = csv.writer(out, delimiter=job["delimiter"], quoting=csv.QUOTE_ALL,
                            lineterminator="\r\n" if info["lineEnding"] == "CRLF" else "\n")
        writer.writerow([c.name for c in job["fields"]])
        for rec in rows:
            writer.writerow([_csv_value(c.get(rec)) for c in job["fields"]])
        headers = {"Sforce-NumberOfRecords": str(len(rows)), "Sforce-Locator":
                   "null" if nxt is None else base64.b64encode(str(nxt).encode()).decode()}
        return Response.raw(out.getvalue().encode("utf-8"), "text/csv; charset=UTF-8",
                            headers=headers)


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
