"""The synthetic home-care agency the sandbox serves.

One deterministic core (seeded) describes the agency's clients and their care: this module.
Each vendor emulator spreads that core over its own objects the way a real agency would
(Salesforce: clients and clinical objects; HubSpot: families, referrals, deals, notes, tasks;
Google: visit calendar, care-task sheet, Drive documents).

Time travel: :meth:`Agency.advance` moves the sandbox clock and changes the core (new clients,
discharges, medication and allergy edits); it returns a :class:`ChangeSet` that each emulator
applies to its own store, adding its vendor-specific changes (soft and hard deletes, archived
records, cancelled visits, edited sheets and documents).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Agency", "ChangeSet", "Client", "Medication"]

FIRST_NAMES = [
    "Margaret", "Dorothy", "Harold", "Walter", "Eleanor", "Frances", "George", "Ruth",
    "José", "María", "Zoë", "Björn", "Renée", "Łukasz", "Siobhán", "Nguyễn", "Ingrid",
    "Chidi", "Aiko", "François", "Mildred", "Edna", "Arthur", "Bernice", "Çağla", "Søren",
    "Gloria", "Leonard", "Agnes", "Thelma", "Raúl", "Hélène",
]
LAST_NAMES = [
    "Whitaker", "O'Brien", "García", "Müller", "Kowalski", "Nguyen", "Johansson", "Okafor",
    "Thompson", "Dubois", "Van der Berg", "Møller", "Sánchez", "Fitzgerald", "Brennan",
    "Yamamoto", "Haddad", "Ó Súilleabháin", "Abernathy", "Pérez-Llorca", "Schröder",
    "Delacroix", "Castellanos", "Lindqvist", "Ibáñez", "Kim", "Patel", "Rossi",
]
STREETS = ["Maple Ave", "Elm St", "Harbor View Rd", "Old Mill Ln", "Cedar Ct", "Church St",
           "Willow Way", "Lakeshore Dr", "Rue Saint-Denis", "Orchard Rd"]
CITIES = [("Springfield", "IL", "62701"), ("Portland", "OR", "97205"), ("Salem", "MA", "01970"),
          ("Burlington", "VT", "05401"), ("Madison", "WI", "53703"), ("Asheville", "NC", "28801")]
CODE_STATUS = ["Full Code", "DNR", "DNR/DNI", "Comfort Care Only"]
ALLERGENS = [("Penicillin", "Hives", "Moderate"), ("Sulfa drugs", "Rash", "Mild"),
             ("Peanuts", "Anaphylaxis", "Severe"), ("Latex", "Contact dermatitis", "Mild"),
             ("Shellfish", "Swelling of lips", "Severe"), ("Codeine", "Nausea", "Mild"),
             ("Aspirin", "Wheezing", "Moderate"), ("Iodine contrast", "Hives", "Moderate")]
DIAGNOSES = [("E11.9", "Type 2 diabetes mellitus"), ("I10", "Essential hypertension"),
             ("F03.90", "Dementia, unspecified"), ("M17.11", "Osteoarthritis, right knee"),
             ("I50.9", "Heart failure"), ("J44.9", "COPD"), ("G20", "Parkinson's disease"),
             ("N18.3", "Chronic kidney disease, stage 3"), ("F32.9", "Depression"),
             ("Z96.641", "Presence of right artificial hip joint")]
DRUGS = [("Metformin", "500 mg", "Oral"), ("Lisinopril", "10 mg", "Oral"),
         ("Donepezil", "5 mg", "Oral"), ("Atorvastatin", "20 mg", "Oral"),
         ("Furosemide", "40 mg", "Oral"), ("Levothyroxine", "50 mcg", "Oral"),
         ("Insulin glargine", "12 units", "Subcutaneous"), ("Albuterol", "2 puffs", "Inhaled"),
         ("Carbidopa/Levodopa", "25/100 mg", "Oral"), ("Sertraline", "50 mg", "Oral"),
         ("Acetaminophen", "650 mg", "Oral"), ("Warfarin", "5 mg", "Oral"),
         ("Timolol eye drops", "1 drop each eye", "Ophthalmic"), ("Vitamin D3", "1000 IU", "Oral"),
         ("Omeprazole", "20 mg", "Oral"), ("Tamsulosin", "0.4 mg", "Oral")]
TIMES = ["08:00", "12:00", "18:00", "21:00"]
TASKS = ["Assist with bathing", "Medication reminder", "Prepare breakfast", "Prepare lunch",
         "Light housekeeping", "Laundry", "Escort on short walk", "Blood sugar check",
         "Skin check for pressure areas", "Compression stockings on", "Companionship and cards",
         "Grocery shopping", "Check weight and record"]
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
RELATIONSHIPS = ["Daughter", "Son", "Spouse", "Niece", "Nephew", "Neighbour", "Friend", "Grandson"]
DIETS = ["Diabetic, low sugar", "Low sodium", "Soft foods, thickened liquids", "Regular",
         "Vegetarian", "Renal diet, fluid limit 1.5 L/day"]
FALL_RISK = ["Low", "Moderate", "High"]
PRACTICES = ["Riverside Family Medicine", "Northgate Clinic", "St. Anne's Geriatrics",
             "Lakeside Internal Medicine"]
PHARMACIES = ["Main Street Pharmacy", "CareRx Downtown", "Walgreens #4412", "Apotheke Müller"]
REFERRALS = ["Mercy Hospital Discharge Planning", "Area Agency on Aging", "Dr. Patel's office",
             "Family referral", "Sunrise Senior Center", "VA Caregiver Program"]
LONG_NOTE = (
    "Client prefers to be addressed by her first name. Enter through the side door; the front "
    "steps are icy in winter. The daughter visits on Sundays and should be called before any "
    "change of medication. " * 12
).strip()


@dataclass
class Medication:
    key: str  # stable id within the agency, e.g. "C-00001-M1"
    name: str
    dose: str
    route: str
    times: list[str]
    prescriber: str
    as_needed: str = ""  # PRN instructions; empty for scheduled medications
    active: bool = True


@dataclass
class Client:
    number: str  # the agency's client number, the join key across vendors: "C-00001"
    first_name: str
    last_name: str
    birthdate: dt.date
    gender: str
    language: str
    street: str
    city: str
    state: str
    postal_code: str
    phone: str
    email: str
    access_notes: str
    code_status: str
    advance_directive: str
    diet: str
    fall_risk: str
    safety_notes: str
    goals: str
    services: list[str]
    start_date: dt.date
    allergies: list[dict[str, str]]
    diagnoses: list[dict[str, str]]
    medications: list[Medication]
    emergency_contacts: list[dict[str, str]]
    physician: dict[str, str]
    pharmacy: dict[str, str]
    care_tasks: list[dict[str, str]]
    referral_source: str
    status: str = "Active"
    discharge_date: dt.date | None = None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass
class ChangeSet:
    """What one :meth:`Agency.advance` changed in the core, for the emulators to apply."""

    days: int
    now: dt.datetime
    new_clients: list[str] = field(default_factory=list)
    discharged: list[str] = field(default_factory=list)
    edited_clients: list[str] = field(default_factory=list)  # demographics/care fields
    edited_medications: list[str] = field(default_factory=list)  # medication keys
    new_medications: list[str] = field(default_factory=list)
    stopped_medications: list[str] = field(default_factory=list)
    edited_allergies: list[str] = field(default_factory=list)  # client numbers


def _phone(rng: random.Random) -> str:
    return f"({rng.randint(201, 989)}) 555-{rng.randint(0, 9999):04d}"


class Agency:
    """The deterministic agency: ``Agency(clients=100, seed=1)``.

    ``start`` is the sandbox clock's starting instant (default: today, 00:00 UTC); the data
    depends only on ``clients`` and ``seed``, and dates are relative to ``start``.
    """

    def __init__(self, clients: int = 100, seed: int = 1, start: dt.datetime | None = None):
        if start is None:
            today = dt.datetime.now(dt.UTC).date()
            start = dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC)
        self.seed = seed
        self.start = start
        self.now = start
        self.rng = random.Random(seed)
        self.clients: dict[str, Client] = {}
        self._next_number = 1
        for _ in range(clients):
            self._new_client(history=True)

    # -- generation ---------------------------------------------------------------------

    def _new_client(self, history: bool) -> Client:
        rng = self.rng
        number = f"C-{self._next_number:05d}"
        self._next_number += 1
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, state, postal = rng.choice(CITIES)
        age = rng.randint(68, 101)
        birthdate = (self.now - dt.timedelta(days=age * 365 + rng.randint(0, 364))).date()
        start_date = (self.now - dt.timedelta(days=rng.randint(30, 1500) if history else 0)).date()
        doctor = rng.choice(["Anita", "Samuel", "Ewa", "Kwame"])
        prescriber = f"Dr. {doctor} {rng.choice(LAST_NAMES)}"
        meds = []
        n_meds = 25 if self._next_number == 4 else rng.randint(2, 8)  # C-00003 spans pages
        for i in range(n_meds):
            name, dose, route = DRUGS[(i + rng.randint(0, len(DRUGS) - 1)) % len(DRUGS)]
            prn = ""
            if rng.random() < 0.15:
                prn = "As needed for pain, at most 4 doses in 24 hours"
            meds.append(Medication(
                key=f"{number}-M{i + 1}", name=name, dose=dose, route=route,
                times=[] if prn else sorted(rng.sample(TIMES, rng.randint(1, 2))),
                prescriber=prescriber, as_needed=prn,
            ))
        allergies = [dict(zip(("substance", "reaction", "severity"), a, strict=True))
                     for a in rng.sample(ALLERGENS, rng.randint(0, 3))]
        diagnoses = [dict(zip(("code", "description"), d, strict=True))
                     for d in rng.sample(DIAGNOSES, rng.randint(1, 4))]
        contacts = []
        for _ in range(rng.randint(1, 3)):
            cf, cl = rng.choice(FIRST_NAMES), rng.choice([last, rng.choice(LAST_NAMES)])
            contacts.append({
                "name": f"{cf} {cl}", "relationship": rng.choice(RELATIONSHIPS),
                "phone": _phone(rng),
                "email": f"{cf.lower()}.{number.lower()}@example.org".replace(" ", ""),
            })
        tasks = []
        for day in rng.sample(DAYS, rng.randint(2, 7)):
            for t in sorted(rng.sample(["08:00", "10:00", "13:00", "17:00"], rng.randint(1, 2))):
                tasks.append({"day": day, "time": t, "task": rng.choice(TASKS),
                              "notes": rng.choice(["", "", "Use shower chair",
                                                   "Prefers tea, no sugar"])})
        access = rng.choice([
            "Key safe by the back door, code given by phone. Small dog (friendly).",
            "Ring twice; client is hard of hearing. Cat must not go outside.",
            "Apartment 3B, elevator to the left. Parking behind the building.",
            "", LONG_NOTE,
        ])
        client = Client(
            number=number, first_name=first, last_name=last, birthdate=birthdate,
            gender=rng.choice(["Female", "Male"]), language=rng.choice(
                ["English", "English", "Spanish", "Polish", "Vietnamese", "French"]),
            street=f"{rng.randint(1, 9999)} {rng.choice(STREETS)}", city=city, state=state,
            postal_code=postal, phone=_phone(rng),
            email="" if rng.random() < 0.2 else f"{number.lower()}@clients.example.org",
            access_notes=access, code_status=rng.choice(CODE_STATUS),
            advance_directive=rng.choice(["POLST on fridge", "Living will on file",
                                          "None on file"]),
            diet=rng.choice(DIETS), fall_risk=rng.choice(FALL_RISK),
            safety_notes=rng.choice(["Uses walker at all times", "Grab bars in bathroom",
                                     "Oxygen in use: no open flames", ""]),
            goals=rng.choice(["Stay at home safely", "Walk to the mailbox daily",
                              "Manage blood sugar", "Keep weekly bridge club"]),
            services=sorted(rng.sample(["Personal care", "Companionship", "Medication management",
                                        "Respite", "Meal preparation", "Skilled nursing"],
                                       rng.randint(1, 3))),
            start_date=start_date, allergies=allergies, diagnoses=diagnoses, medications=meds,
            emergency_contacts=contacts,
            physician={"name": prescriber, "practice": rng.choice(PRACTICES), "phone": _phone(rng)},
            pharmacy={"name": rng.choice(PHARMACIES), "phone": _phone(rng)},
            care_tasks=tasks, referral_source=rng.choice(REFERRALS),
        )
        self.clients[number] = client
        return client

    # -- time travel --------------------------------------------------------------------

    def advance(self, days: int) -> ChangeSet:
        """Move the clock ``days`` forward and change the agency as that many days would."""
        if days < 1:
            raise ValueError("days must be at least 1")
        rng = self.rng
        self.now += dt.timedelta(days=days)
        changes = ChangeSet(days=days, now=self.now)
        active = [c for c in self.clients.values() if c.status == "Active"]
        for _ in range(days):
            if rng.random() < 0.5:
                changes.new_clients.append(self._new_client(history=False).number)
            if active and rng.random() < 0.2:
                client = active.pop(rng.randrange(len(active)))
                client.status = "Discharged"
                client.discharge_date = self.now.date()
                changes.discharged.append(client.number)
            for client in rng.sample(active, min(len(active), 2)):
                client.phone = _phone(rng)
                client.fall_risk = rng.choice(FALL_RISK)
                changes.edited_clients.append(client.number)
            for client in rng.sample(active, min(len(active), 2)):
                if not client.medications:
                    continue
                med = rng.choice(client.medications)
                if med.active and rng.random() < 0.3:
                    med.active = False
                    changes.stopped_medications.append(med.key)
                else:
                    med.dose = rng.choice(["5 mg", "10 mg", "20 mg", "250 mg", "1 tablet"])
                    changes.edited_medications.append(med.key)
                if rng.random() < 0.3:
                    name, dose, route = rng.choice(DRUGS)
                    new = Medication(key=f"{client.number}-M{len(client.medications) + 1}",
                                     name=name, dose=dose, route=route, times=["08:00"],
                                     prescriber=client.physician["name"])
                    client.medications.append(new)
                    changes.new_medications.append(new.key)
            if active and rng.random() < 0.3:
                client = rng.choice(active)
                substance, reaction, severity = rng.choice(ALLERGENS)
                if all(a["substance"] != substance for a in client.allergies):
                    client.allergies.append(
                        {"substance": substance, "reaction": reaction, "severity": severity})
                    changes.edited_allergies.append(client.number)
        return changes

    # -- persistence (``--state``) -------------------------------------------------------

    def dump_state(self) -> dict[str, Any]:
        """The whole agency (clients, clock, random state) as JSON-serialisable data."""
        version, internal, gauss = self.rng.getstate()
        clients = []
        for c in self.clients.values():
            d = asdict(c)
            for key in ("birthdate", "start_date", "discharge_date"):
                d[key] = d[key].isoformat() if d[key] else None
            clients.append(d)
        return {"seed": self.seed, "start": self.start.isoformat(), "now": self.now.isoformat(),
                "next_number": self._next_number, "rng": [version, list(internal), gauss],
                "clients": clients}

    def load_state(self, state: dict[str, Any]) -> None:
        self.seed = state["seed"]
        self.start = dt.datetime.fromisoformat(state["start"])
        self.now = dt.datetime.fromisoformat(state["now"])
        self._next_number = state["next_number"]
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        self.clients = {}
        for d in state["clients"]:
            d = dict(d)
            for key in ("birthdate", "start_date", "discharge_date"):
                d[key] = dt.date.fromisoformat(d[key]) if d[key] else None
            d["medications"] = [Medication(**m) for m in d["medications"]]
            self.clients[d["number"]] = Client(**d)

    def to_dict(self) -> dict[str, Any]:
        """A summary for logs and the CLI."""
        return {"clients": len(self.clients), "seed": self.seed, "now": self.now.isoformat()}
