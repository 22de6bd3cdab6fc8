"""The agency's data spread over the HubSpot portal, and time travel.

:class:`Portal` is the store plus files, owners (the care coordinators) and the
per-client index time travel uses; :meth:`Portal.populate` generates contacts, companies,
deals, care recipients, engagements, tasks and files from the agency, and
:meth:`Portal.advance` applies one time-travel step.
"""

from __future__ import annotations

import base64
import random
import zlib
from typing import Any

from sandbox.agency import PRACTICES, REFERRALS, Agency, Client
from sandbox.hubspot.schema import CARE_LEVELS, CUSTOM_NAME, EPOCH_ISO, SERVICES
from sandbox.hubspot.store import Store, iso, to_ms

__all__ = ["Portal"]

HOURLY_RATE = {"Personal care": 34, "Companionship": 28, "Medication management": 38,
               "Respite": 32, "Meal preparation": 27, "Skilled nursing": 65}


OWNERS = [("Priya", "Raman"), ("Tomás", "Álvarez"), ("Grace", "O'Connell"),
          ("Dmitri", "Volkov"), ("Fatima", "Haddad"), ("Kenji", "Watanabe")]
VISIT_NOTES = [
    "Visit completed. Client in good spirits; ate most of lunch.",
    "Client reported mild knee pain; encouraged to rest and elevate.",
    "Medication reminder given at 08:00; all morning doses taken.",
    "Short walk to the mailbox with walker. No dizziness.",
    "Family call: daughter asked about adding a Sunday visit.",
    "Skin check done, no redness over heels or sacrum.",
    "Client seemed confused this afternoon; coordinator informed.",
    "<p>Blood sugar 142 before lunch. <strong>Recorded in log.</strong></p>",
]
TASK_SUBJECTS = ["Call family about schedule", "Renew service agreement", "Quarterly care review",
                 "Order incontinence supplies", "Confirm pharmacy delivery", "Update care plan"]


# -- the portal: generation from the agency and time travel ------------------------------------

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
BIG_FILE_SIZE = 6 * 1024 * 1024  # the signed consent PDF: several MB, generated on download


def owners() -> list[dict[str, Any]]:
    """The care coordinators (HubSpot users) who own records."""
    domain = "sunrise-homecare.example"
    return [{"id": str(70000001 + i),
             "email": f"{first.lower()}.{last.lower()}@{domain}".replace("'", ""),
             "firstName": first, "lastName": last, "userId": 9100001 + i,
             "userIdIncludingInactive": 9100001 + i, "type": "PERSON", "archived": False,
             "createdAt": EPOCH_ISO, "updatedAt": EPOCH_ISO,
             "teams": [{"id": "4100001", "name": "Care coordination", "primary": True}]}
            for i, (first, last) in enumerate(OWNERS)]


def _split_name(name: str) -> tuple[str, str]:
    first, _, last = name.partition(" ")
    return first, last


def _times(rng: random.Random, lo: int, hi: int) -> tuple[int, int]:
    """(created, updated) within [lo, hi]; a third of updates fall on the hour, so modified
    dates tie across records as they do in real portals."""
    created = rng.randint(lo, hi)
    updated = rng.randint(created, hi)
    if rng.random() < 0.3:
        updated = max(created, updated - updated % HOUR_MS)
    return created, updated


class Portal:
    """The sandbox portal: the store plus files, owners and the per-client index that time
    travel uses (client number -> ids of the client's contact, deal, care recipient, ...)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.store = Store()
        self.owners = owners()
        self.files: dict[str, dict[str, Any]] = {}  # id -> metadata (+ "data" when uploaded)
        self.clients: dict[str, dict[str, Any]] = {}  # client number -> ids
        self.companies: dict[str, int] = {}  # company name -> id
        self.products: dict[str, int] = {}  # service -> product id
        self.advanced_to = 0  # the sandbox clock at the last advance, epoch millis

    # -- generation -------------------------------------------------------------------------

    def populate(self, agency: Agency) -> None:
        start = to_ms(agency.start)
        self.advanced_to = start
        if not agency.clients:
            return  # an empty portal: a restore target
        rng = random.Random(f"hubspot:{self.seed}:catalog")
        floor = start - 1600 * DAY_MS
        for name, category in [*((r, "Referral source") for r in REFERRALS),
                               *((p, "Physician practice") for p in PRACTICES)]:
            created, updated = _times(rng, floor, start)
            domain = "".join(ch for ch in name.lower() if ch.isalnum())[:20] + ".example.com"
            rec = self.store.create("companies", {"name": name, "company_category": category,
                                                  "domain": domain}, updated, created)
            self.companies[name] = rec.id
        for service in SERVICES:
            created, updated = _times(rng, floor, start)
            sku = "SVC-" + "".join(w[0] for w in service.split()).upper()
            rec = self.store.create("products", {
                "name": f"{service} (per hour)", "price": f"{HOURLY_RATE[service]:.2f}",
                "hs_sku": sku, "description": f"{service} visit, billed per hour"},
                updated, created)
            self.products[service] = rec.id
        for client in agency.clients.values():
            lo = to_ms(client.start_date) + rng.randint(8, 17) * HOUR_MS
            self.add_client(client, min(lo, start), start)

    def _rng(self, *salt: object) -> random.Random:
        return random.Random(":".join(["hubspot", str(self.seed), *map(str, salt)]))

    def _create(self, type_name: str, props: dict[str, str], rng: random.Random, lo: int,
                hi: int, tie: int | None = None) -> int:
        created, updated = _times(rng, lo, hi)
        if tie is not None:  # saved together with another record: the same modified stamp
            created = min(created, tie)
            updated = tie
        if type_name in ("notes", "tasks", "calls", "meetings", "emails"):
            props.setdefault("hs_timestamp", iso(created))
        return self.store.create(type_name, props, updated, created).id

    def add_client(self, client: Client, lo: int, hi: int) -> None:
        """Create the client's contacts, deal, line items, care recipient, engagements and
        intake-form file, created within [lo, hi]."""
        rng = self._rng(client.number)
        st = self.store
        owner = rng.choice(self.owners)["id"]
        ids: dict[str, Any] = {"family": [], "owner": owner}
        props = {"firstname": client.first_name, "lastname": client.last_name,
                 "phone": client.phone, "relationship": "Client", "client_number": client.number,
                 "date_of_birth": client.birthdate.isoformat(), "address": client.street,
                 "city": client.city, "state": client.state, "zip": client.postal_code,
                 "lifecyclestage": "customer", "hs_language": client.language,
                 "access_notes": client.access_notes,  # "" kept as "", long text as is
                 "client_status": client.status, "hubspot_owner_id": owner}
        if client.email:  # no email: the property is absent (null), as in HubSpot
            props["email"] = client.email
        contact = ids["contact"] = self._create("contacts", props, rng, lo, hi)
        client_updated = st.types["contacts"].records[contact].updated
        for ref in (client.referral_source, client.physician["practice"]):
            if ref in self.companies:
                st.associate("contacts", contact, "companies", self.companies[ref])
        if client.referral_source in self.companies:
            primary = self.companies[client.referral_source]
            st.associate("contacts", contact, "companies", primary, 1)
        for ec in client.emergency_contacts:
            first, last = _split_name(ec["name"])
            email = ec["email"]
            while st.types["contacts"].unique["email"].get(email.lower()):
                email = "x" + email  # HubSpot keeps contact emails unique
            fam = self._create("contacts", {
                "firstname": first, "lastname": last, "email": email, "phone": ec["phone"],
                "relationship": ec["relationship"], "client_number": client.number,
                "hubspot_owner_id": owner}, rng, lo, hi,
                tie=client_updated if rng.random() < 0.5 else None)
            ids["family"].append(fam)
        hours = rng.randint(4, 40)
        amount = sum(HOURLY_RATE[s] for s in client.services) * hours * 52 / len(client.services)
        deal = ids["deal"] = self._create("deals", {
            "dealname": f"{client.full_name} - {', '.join(client.services)}",
            "amount": f"{amount:.2f}", "dealstage": "closedwon", "pipeline": "default",
            "closedate": iso(to_ms(client.start_date)), "client_number": client.number,
            "services": ";".join(client.services), "hubspot_owner_id": owner}, rng, lo, hi)
        for fam_or_client in (contact, *ids["family"]):
            st.associate("deals", deal, "contacts", fam_or_client)
        if client.referral_source in self.companies:
            st.associate("deals", deal, "companies", self.companies[client.referral_source])
        for service in client.services:
            qty = max(1, hours // len(client.services)) * 52
            item = self._create("line_items", {
                "name": f"{service} (hours per year)", "quantity": str(qty),
                "price": f"{HOURLY_RATE[service]:.2f}",
                "amount": f"{qty * HOURLY_RATE[service]:.2f}",
                "hs_product_id": str(self.products.get(service, "")),
                "client_number": client.number}, rng, lo, hi)
            st.associate("deals", deal, "line_items", item)
        level = (CARE_LEVELS[2] if "Skilled nursing" in client.services else
                 CARE_LEVELS[1] if "Personal care" in client.services else CARE_LEVELS[0])
        care = ids["care"] = self._create(CUSTOM_NAME, {
            "client_number": client.number, "client_name": client.full_name,
            "code_status": client.code_status, "care_level": level,
            "fall_risk": client.fall_risk, "diet": client.diet}, rng, lo, hi)
        st.associate(CUSTOM_NAME, care, "contacts", contact)
        file_id = self.add_file(client.number, f"{client.number} intake form.pdf", "Intake forms",
                                rng.randint(40_000, 250_000), lo)
        if client.number == "C-00001":
            self.add_file(client.number, f"{client.number} consent to care (signed).pdf",
                          "Consents", BIG_FILE_SIZE, lo)
        self._engagements(client, ids, rng, lo, hi, file_id)
        self.clients[client.number] = ids

    def _engagements(self, client: Client, ids: dict[str, Any], rng: random.Random, lo: int,
                     hi: int, file_id: str) -> None:
        st, contact, deal, owner = self.store, ids["contact"], ids["deal"], ids["owner"]
        first = client.first_name
        for i in range(rng.randint(6, 12)):
            body = ("Intake form received and filed." if i == 0 else
                    rng.choice(VISIT_NOTES).replace("Client", first, rng.random() < 0.5))
            props = {"hs_note_body": body, "hubspot_owner_id": owner}
            if i == 0:
                props["hs_attachment_ids"] = file_id
            note = self._create("notes", props, rng, lo, hi)
            st.associate("notes", note, "contacts", contact)
            st.associate("notes", note, "deals", deal)
            if "Family call" in body and ids["family"]:
                st.associate("notes", note, "contacts", ids["family"][0])
        for _ in range(rng.randint(2, 4)):
            self.add_task(client, ids, rng, lo, hi)
        family = ids["family"][0] if ids["family"] else contact
        if rng.random() < 0.5:
            call = self._create("calls", {
                "hs_call_title": "Call with family", "hs_call_body": f"Discussed {first}'s week.",
                "hs_call_duration": str(rng.randint(60, 1800) * 1000),
                "hs_call_direction": rng.choice(["INBOUND", "OUTBOUND"]),
                "hs_call_status": "COMPLETED", "hubspot_owner_id": owner}, rng, lo, hi)
            st.associate("calls", call, "contacts", family)
            st.associate("calls", call, "deals", deal)
        if rng.random() < 0.5:
            begin = rng.randint(lo, hi)
            meeting = self._create("meetings", {
                "hs_meeting_title": "Quarterly care review",
                "hs_meeting_body": "Care plan reviewed.",
                "hs_meeting_start_time": iso(begin), "hs_meeting_end_time": iso(begin + HOUR_MS),
                "hs_meeting_outcome": "COMPLETED", "hubspot_owner_id": owner}, rng, lo, hi)
            st.associate("meetings", meeting, "contacts", contact)
            st.associate("meetings", meeting, "deals", deal)
        if rng.random() < 0.5:
            email = self._create("emails", {
                "hs_email_subject": "Schedule for next week",
                "hs_email_text": f"Hello, here is {first}'s visit schedule for next week.",
                "hs_email_direction": "EMAIL", "hs_email_status": "SENT",
                "hubspot_owner_id": owner}, rng, lo, hi)
            st.associate("emails", email, "contacts", family)
            st.associate("emails", email, "deals", deal)
        if rng.random() < 0.05 or client.number.endswith("07"):  # every portal has some
            ticket = self._create("tickets", {
                "subject": rng.choice(["Caregiver arrived late", "Missed visit on Sunday",
                                       "Billing question"]),
                "content": "Family called to complain; coordinator following up.",
                "hs_pipeline": "0", "hs_pipeline_stage": rng.choice("1234"),
                "hs_ticket_priority": rng.choice(["LOW", "MEDIUM", "HIGH"]),
                "client_number": client.number, "hubspot_owner_id": owner}, rng, lo, hi)
            st.associate("tickets", ticket, "contacts", contact)
            st.associate("tickets", ticket, "deals", deal)

    def add_task(self, client: Client, ids: dict[str, Any], rng: random.Random, lo: int,
                 hi: int) -> int:
        task = self._create("tasks", {
            "hs_task_subject": rng.choice(TASK_SUBJECTS),
            "hs_task_body": f"For {client.full_name} ({client.number}).",
            "hs_task_status": rng.choice(["COMPLETED", "COMPLETED", "NOT_STARTED", "IN_PROGRESS"]),
            "hs_task_priority": rng.choice(["NONE", "LOW", "MEDIUM", "HIGH"]),
            "hs_task_type": "TODO", "hubspot_owner_id": ids["owner"]}, rng, lo, hi)
        self.store.associate("tasks", task, "contacts", ids["contact"])
        self.store.associate("tasks", task, "deals", ids["deal"])
        return task

    def add_file(self, client_number: str, name: str, folder: str, size: int, when: int,
                 data: bytes | None = None) -> str:
        fid = str(self.store.new_id())
        ext = name.rpartition(".")[2].lower() if "." in name else ""
        self.files[fid] = {
            "id": fid, "name": name.rpartition(".")[0] if ext else name, "extension": ext,
            "type": "DOCUMENT" if ext in ("pdf", "doc", "docx", "txt", "") else "OTHER",
            "size": size, "path": f"/{folder}/{name}",
            "parentFolderId": str(zlib.crc32(folder.encode()) % 10**8), "access": "PRIVATE",
            "created": when,
            "updated": when, "archived": False, "client_number": client_number,
        }
        if data is not None:
            self.files[fid]["data"] = data
        return fid

    # -- time travel --------------------------------------------------------------------------

    def advance(self, agency: Agency, changes: Any) -> None:
        """Apply an agency ChangeSet, then HubSpot's own churn (notes, tasks, deal edits,
        archived records). Archiving leaves the last-modified date alone, as HubSpot does."""
        st = self.store
        hi = to_ms(changes.now)
        lo = max(self.advanced_to, st.clock) + 1
        rng = self._rng("advance", hi)
        tie = hi - HOUR_MS  # edits of one step share this stamp: ties on the cursor value
        for number in changes.new_clients:
            self.add_client(agency.clients[number], lo, hi)
        for number in changes.discharged:
            ids = self.clients.get(number)
            if ids:
                client = agency.clients[number]
                date = (client.discharge_date or changes.now.date()).isoformat()
                self._edit("deals", ids["deal"], {"dealstage": "closedlost",
                                                  "discharge_date": date}, tie)
                self._edit("contacts", ids["contact"], {"client_status": "Discharged",
                                                        "lifecyclestage": "other"}, tie)
        for number in changes.edited_clients:
            ids = self.clients.get(number)
            if ids:
                client = agency.clients[number]
                self._edit("contacts", ids["contact"], {"phone": client.phone}, tie)
                self._edit(CUSTOM_NAME, ids["care"], {"fall_risk": client.fall_risk}, tie)
        active = [n for n, c in agency.clients.items()
                  if c.status == "Active" and n in self.clients]
        for _ in range(changes.days):
            for number in rng.sample(active, min(len(active), 3)):
                ids = self.clients[number]
                note = self._create("notes", {"hs_note_body": rng.choice(VISIT_NOTES),
                                              "hubspot_owner_id": ids["owner"]}, rng, lo, hi)
                st.associate("notes", note, "contacts", ids["contact"])
                st.associate("notes", note, "deals", ids["deal"])
            for number in rng.sample(active, min(len(active), 1)):
                self.add_task(agency.clients[number], self.clients[number], rng, lo, hi)
            for number in rng.sample(active, min(len(active), 1)):
                deal = st.types["deals"].records[self.clients[number]["deal"]]
                amount = float(deal.props.get("amount") or 0) * rng.choice([0.9, 1.1, 1.25])
                self._edit("deals", deal.id, {"amount": f"{amount:.2f}"}, rng.randint(lo, hi))
            self._archive_some(rng, hi)
        self.advanced_to = hi

    def _edit(self, type_name: str, rid: int, props: dict[str, str], when: int) -> None:
        rec = self.store.types[type_name].records.get(rid)
        if rec is not None and rec.archived_at is None:
            self.store.update(type_name, rec, props, when)

    def _archive_some(self, rng: random.Random, when: int) -> None:
        """Archive a note and sometimes a task or a family contact (someone moved away)."""
        for type_name, chance in (("notes", 1.0), ("tasks", 0.5), ("contacts", 0.3)):
            ts = self.store.types[type_name]
            if not ts.order or rng.random() >= chance:
                continue
            rec = ts.records[rng.choice(ts.order)]
            if type_name == "contacts" and rec.props.get("relationship") == "Client":
                continue  # the client's own contact stays
            self.store.archive(type_name, rec, when - rng.randint(0, DAY_MS // 2))

    # -- state ---------------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        files = {fid: {k: v for k, v in meta.items() if k != "data"}
                 for fid, meta in self.files.items()}
        uploads = {fid: base64.b64encode(meta["data"]).decode()
                   for fid, meta in self.files.items() if "data" in meta}
        return {"store": self.store.dump(), "files": files, "uploads": uploads,
                "clients": self.clients, "companies": self.companies, "products": self.products,
                "advanced_to": self.advanced_to}

    def load(self, state: dict[str, Any]) -> None:
        self.store.load(state["store"])
        self.files = state["files"]
        for fid, data in state["uploads"].items():
            self.files[fid]["data"] = base64.b64decode(data)
        self.clients, self.companies = state["clients"], state["companies"]
        self.products, self.advanced_to = state["products"], state["advanced_to"]
