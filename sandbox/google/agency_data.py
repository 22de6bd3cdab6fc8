"""The agency's data spread over the Google sandbox, and time travel.

:class:`GoogleStore` builds the Drive folders and files (care notes, signed PDFs, the care
spreadsheet), the visits and office calendars and the caregiver roster from the agency, and
:meth:`GoogleStore.advance` applies one time-travel step to Drive, Sheets and Calendar.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import hashlib
import random
import unicodedata
from typing import Any

from sandbox.agency import DAYS, Agency, ChangeSet, Client
from sandbox.google.store import (
    DAYS_AFTER,
    DAYS_BEFORE,
    DOC,
    FOLDER,
    OFFICE_CAL,
    PDF,
    SHEET,
    TZ,
    VISITS_CAL,
    WorkspaceStore,
    parse_time,
    rfc3339,
)

__all__ = ["GoogleStore"]

CAREGIVERS = [
    ("Ana López", "(312) 555-0101", "English, Spanish"), ("Beatrice Owens", "(312) 555-0102", ""),
    ("Chen Wei", "(312) 555-0103", "English, Mandarin"),
    ("Danuta Nowak", "(312) 555-0104", "Polish"),
    ("Emeka Obi", "(312) 555-0105", "English"), ("Fatima Haddad", "(312) 555-0106", "Arabic"),
    ("Grace Kim", "(312) 555-0107", "English, Korean"),
    ("Hoa Tran", "(312) 555-0108", "Vietnamese"),
    ("Isabel Ruiz", "(312) 555-0109", "Spanish"), ("Janet Moore", "(312) 555-0110", "English"),
    ("Kofi Mensah", "(312) 555-0111", "English, Twi"), ("Léa Martin", "(312) 555-0112", "French"),
]
TASK_HEADER = ["Client Number", "Client", "Day", "Time", "Task", "Notes"]
MED_HEADER = ["Client Number", "Client", "Medication", "Dose", "Route", "Times", "Prescriber",
              "As needed"]
ROSTER_HEADER = ["Name", "Email", "Phone", "Languages", "Clients"]


@functools.lru_cache(maxsize=256)
def caregiver_email(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return ascii_name.lower().replace(" ", ".") + "@sunrise-homecare.example"


class GoogleStore(WorkspaceStore):
    """The Google side of the agency; not thread-safe (the emulator holds its lock)."""

    def __init__(self, agency: Agency) -> None:
        super().__init__(agency)
        gc.disable()  # hundreds of thousands of small dicts: collection passes only cost time
        try:
            self._build()
        finally:
            gc.enable()

    def _build(self) -> None:
        ag = self.agency
        old = ag.start - dt.timedelta(days=400)
        root = self.root_id
        self.files[root] = self.new_file(root, "My Drive", FOLDER, [], old, "folder")
        clients_id = self.fid("folder:Clients")
        office_id = self.fid("folder:Office")
        self.files[clients_id] = self.new_file(clients_id, "Clients", FOLDER, [self.root_id], old,
                                            "folder")
        self.files[office_id] = self.new_file(office_id, "Office", FOLDER, [self.root_id], old,
                                           "folder")
        for calendar_id, summary in ((VISITS_CAL, "Client visits"), (OFFICE_CAL, "Office")):
            self.calendars[calendar_id] = {"summary": summary, "events": {}}
        first = (ag.now - dt.timedelta(days=DAYS_BEFORE)).date()
        for index, client in enumerate(ag.clients.values()):
            when = ag.start - dt.timedelta(days=1 + index % 300, hours=index % 24)
            self._client_files(client, index, when)
            self._client_visits(client, max(first, client.start_date), self.visits_until,
                                ag.start - dt.timedelta(days=20 + index % 40))
        self._office_events(first, self.visits_until, ag.start - dt.timedelta(days=60))
        self._build_sheets(office_id, ag.start - dt.timedelta(days=2))

    def _client_files(self, client: Client, index: int, when: dt.datetime) -> None:
        folder = self.fid(f"folder:{client.number}")
        name = f"{client.full_name} ({client.number})"
        self.files[folder] = self.new_file(folder, name, FOLDER, [self.fid("folder:Clients")], when,
                                        "folder", client=client.number)
        self._add_pdf(client.number, f"Signed care plan {client.number}.pdf", when, big=(
            index % 50 == 7 and index < 500))
        doc = self.fid(f"doc:{client.number}")
        self.files[doc] = self.new_file(doc, f"Care notes {client.number}", DOC, [folder], when,
                                     "doc", client=client.number)

    def _add_pdf(self, number: str, name: str, when: dt.datetime, big: bool = False) -> str:
        file_id = self.fid(f"pdf:{number}:{name}")
        h = int.from_bytes(hashlib.sha256(file_id.encode()).digest()[:4], "big")
        # A few several-MB scans; the rest small, so md5 over a full listing stays cheap.
        size = 2_000_000 + h % 4_000_000 if big else 3_000 + h % 17_000
        self.files[file_id] = self.new_file(file_id, name, PDF, [self.fid(f"folder:{number}")],
                                         when, "pdf", size=size, client=number)
        return file_id

    def _visit(self, client: Client, day: dt.date, task: dict[str, str],
               updated: dt.datetime) -> dict[str, Any]:
        hh, mm = (int(x) for x in task["time"].split(":"))
        start = dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=TZ)
        # Base32hex ids, as Calendar requires: v<client digits>d<yyyymmdd>t<hhmm>.
        ymd = f"{day.year:04d}{day.month:02d}{day.day:02d}"
        event_id = f"v{client.number[2:]}d{ymd}t{hh:02d}{mm:02d}"
        caregiver = CAREGIVERS[int(client.number[2:]) % len(CAREGIVERS)][0]
        description = task["task"] + (f"\nNotes: {task['notes']}" if task["notes"] else "")
        return self.add_event(VISITS_CAL, event_id, {
            "summary": f"Visit: {client.full_name} ({client.number})",
            "location": f"{client.street}, {client.city}, {client.state} {client.postal_code}",
            "description": description,
            "attendees": [{"email": caregiver_email(caregiver), "displayName": caregiver,
                           "responseStatus": "accepted"}],
            "extendedProperties": {"private": {"client_number": client.number}},
        }, start, start + dt.timedelta(hours=1), updated)

    def _client_visits(self, client: Client, first: dt.date, last: dt.date,
                       updated: dt.datetime) -> None:
        by_day: dict[str, list[dict[str, str]]] = {}
        for task in client.care_tasks:
            by_day.setdefault(task["day"], []).append(task)
        day = first
        while day <= last:
            for task in by_day.get(DAYS[day.weekday()], []):
                self._visit(client, day, task, updated)
            day += dt.timedelta(days=1)
        self._by_client = None

    def _office_events(self, first: dt.date, last: dt.date, updated: dt.datetime) -> None:
        staff = [{"email": caregiver_email(n), "displayName": n, "responseStatus": "needsAction"}
                 for n, _, _ in CAREGIVERS]
        day = first
        while day <= last:
            if day.weekday() == 0:
                start = dt.datetime(day.year, day.month, day.day, 9, tzinfo=TZ)
                self.add_event(OFFICE_CAL, f"m{day:%Y%m%d}", {
                    "summary": "Staff meeting", "location": "Office, 2nd floor",
                    "description": "Weekly schedule review.", "attendees": staff,
                }, start, start + dt.timedelta(minutes=45), updated)
            if day.weekday() == 2 and day.day <= 7:
                start = dt.datetime(day.year, day.month, day.day, 14, tzinfo=TZ)
                self.add_event(OFFICE_CAL, f"tr{day:%Y%m%d}", {
                    "summary": "Caregiver training: safe transfers", "attendees": staff,
                }, start, start + dt.timedelta(hours=2), updated)
            day += dt.timedelta(days=1)

    def _build_sheets(self, office_id: str, when: dt.datetime) -> None:
        care_id, roster_id = self.fid("sheet:care"), self.fid("sheet:roster")
        self.files[care_id] = self.new_file(care_id, "Care Tasks and MAR", SHEET, [office_id], when,
                                         "sheet")
        self.files[roster_id] = self.new_file(roster_id, "Caregiver Roster", SHEET, [office_id],
                                           when, "sheet")
        tasks: dict[str, Any] = {"sheetId": 0, "title": "Care Tasks", "rows": [TASK_HEADER],
                                 "keys": ["header"]}
        meds: dict[str, Any] = {"sheetId": 1, "title": "Medications", "rows": [MED_HEADER],
                                "keys": ["header"]}
        self.sheets[care_id] = {"title": "Care Tasks and MAR", "tabs": [tasks, meds]}
        for client in self.agency.clients.values():
            if client.status == "Active":
                self._add_client_rows(client)
        roster_rows = [ROSTER_HEADER]
        for i, (name, phone, languages) in enumerate(CAREGIVERS):
            clients = [c.number for c in self.agency.clients.values()
                       if int(c.number[2:]) % len(CAREGIVERS) == i][:5]
            roster_rows.append([name, caregiver_email(name), phone, languages, ", ".join(clients)])
        self.sheets[roster_id] = {"title": "Caregiver Roster", "tabs": [
            {"sheetId": 0, "title": "Roster", "rows": roster_rows,
             "keys": ["header"] + [c[0] for c in CAREGIVERS]}]}

    def _add_client_rows(self, client: Client) -> None:
        tasks, meds = self.care_sheet["tabs"]
        for t in client.care_tasks:
            tasks["rows"].append([client.number, client.full_name, t["day"], t["time"],
                                  t["task"], t["notes"]])
            tasks["keys"].append(f"{client.number}:{t['day']}:{t['time']}")
        for med in client.medications:
            if med.active:
                meds["rows"].append(self._med_row(client, med.key))
                meds["keys"].append(med.key)

    def _med_row(self, client: Client, key: str) -> list[str]:
        med = next(m for m in client.medications if m.key == key)
        # An empty Times cell sits mid-row for as-needed medications, as in the real sheet.
        return [client.number, client.full_name, med.name, med.dose, med.route,
                ", ".join(med.times), med.prescriber, med.as_needed]

    def advance(self, changes: ChangeSet) -> None:
        ag = self.agency
        rng = random.Random(f"google:{ag.seed}:{changes.now.isoformat()}")
        now_ts = changes.now.timestamp()
        visits = self.calendars[VISITS_CAL]["events"]
        for number in changes.discharged:  # their future visits are cancelled
            for event_id in self.client_events().get(number, []):
                ev = visits[event_id]
                if ev["_start"] >= now_ts and ev["status"] != "cancelled":
                    ev["status"] = "cancelled"
                    ev["sequence"] += 1
                    self.touch_event(VISITS_CAL, ev, self.stamp())
        # Some upcoming visits get rescheduled (one hour later) or cancelled.
        upcoming = [ev for ev in visits.values()
                    if ev["_start"] >= now_ts and ev["status"] == "confirmed"]
        for ev in rng.sample(upcoming, min(len(upcoming), 3 * changes.days)):
            if rng.random() < 0.25:
                ev["status"] = "cancelled"
            else:
                for edge in ("start", "end"):
                    t = dt.datetime.fromisoformat(ev[edge]["dateTime"]) + dt.timedelta(hours=1)
                    ev[edge]["dateTime"] = t.isoformat()
                    ev["_" + edge] = t.timestamp()
            ev["sequence"] += 1
            self.touch_event(VISITS_CAL, ev, self.stamp())
        # The visit window moves with the clock: new days for everyone active.
        old_until = self.visits_until
        self.visits_until = (changes.now + dt.timedelta(days=DAYS_AFTER)).date()
        new_first = old_until + dt.timedelta(days=1)
        for client in ag.clients.values():
            if client.status != "Active":
                continue
            first = changes.now.date() if client.number in changes.new_clients else new_first
            self._client_visits(client, first, self.visits_until, self.stamp())
        self._office_events(new_first, self.visits_until, self.stamp())
        self._advance_drive(changes, rng)
        self._advance_sheets(changes)

    def _advance_drive(self, changes: ChangeSet, rng: random.Random) -> None:
        ag = self.agency
        # Trash and delete candidates: PDFs that existed before this step.
        pdfs = [r for r in self.files.values() if r["_gen"] == "pdf" and not r["trashed"]]
        picked = rng.sample(pdfs, min(len(pdfs), 1 + changes.days // 2 + max(1, changes.days // 3)))
        for number in changes.new_clients:
            client = ag.clients[number]
            when = self.stamp()
            before = set(self.files)
            self._client_files(client, 10_000, when)
            for file_id in self.files:
                if file_id not in before:
                    self.record_change(file_id, False, when)
        for number in dict.fromkeys(changes.edited_clients + changes.discharged):
            doc = self.files.get(self.fid(f"doc:{number}"))
            if doc is not None and not doc["trashed"]:
                self.modify_file(doc)
        ordered = [k.rsplit("-M", 1)[0] for k in changes.new_medications]
        for number in dict.fromkeys(ordered + changes.edited_allergies):
            if self.fid(f"folder:{number}") in self.files:
                name = f"Physician order {number} {changes.now:%Y-%m-%d}.pdf"
                file_id = self._add_pdf(number, name, self.stamp())
                self.record_change(file_id, False, parse_time(self.files[file_id]["modifiedTime"]))
        n_trash = 1 + changes.days // 2
        for rec in picked[:n_trash]:  # moved to the trash (still listed, trashed=true)
            rec["trashed"] = rec["explicitlyTrashed"] = True
            rec["trashedTime"] = rfc3339(self.stamp())
            self.modify_file(rec, content_changed=False)
        for rec in picked[n_trash:]:  # deleted for good: the changes feed says removed=true
            self.delete_file(rec["id"])

    def _advance_sheets(self, changes: ChangeSet) -> None:
        ag = self.agency
        tasks, meds = self.care_sheet["tabs"]
        changed = False
        for number in changes.discharged:
            for tab in (tasks, meds):
                keep = [i for i, k in enumerate(tab["keys"]) if not k.startswith(number)]
                if len(keep) != len(tab["keys"]):
                    tab["rows"] = [tab["rows"][i] for i in keep]
                    tab["keys"] = [tab["keys"][i] for i in keep]
                    changed = True
        for number in changes.new_clients:
            self._add_client_rows(ag.clients[number])
            changed = True
        # A medication may be added, edited and stopped within one step: sync to its end state.
        touched = changes.new_medications + changes.edited_medications + changes.stopped_medications
        for key in dict.fromkeys(touched):
            client = ag.clients[key.rsplit("-M", 1)[0]]
            med = next(m for m in client.medications if m.key == key)
            present = key in meds["keys"]
            if med.active and client.status == "Active":
                if present:
                    meds["rows"][meds["keys"].index(key)] = self._med_row(client, key)
                else:
                    meds["rows"].append(self._med_row(client, key))
                    meds["keys"].append(key)
            elif present:
                i = meds["keys"].index(key)
                del meds["rows"][i], meds["keys"][i]
            changed = True
        if changed:
            self.modify_file(self.files[self.fid("sheet:care")])
