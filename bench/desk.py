"""Care-plan desk benchmark: search and client-page times over HTTP, at 10,000 clients.

    python bench/desk.py [--clients 10000] [--searches 200] [--pages 60]

A synthetic archive (written with put_batch directly: accounts, care plans, allergies,
medications, care tasks, emergency contacts, diagnoses; names with accents) is served by the
real desk application under uvicorn on loopback; a logged-in requests session searches (POST
/search: partial names, names without accents, typos, client numbers, dates of birth) and
opens client pages (GET /client/<token>: the care plan built from the archive, and its
audit entry sealed and copied into the audit log). Prints figures; asserts nothing.
Targets: search p95 <= 100 ms, client page p95 <= 300 ms. Then the stored-PDF figures, at
--pdf-clients clients (bench/desk_pdfs.py, run from here: one stored PDF p95 <= 200 ms, the
100-client binder from stored PDFs <= 5 s, the nightly pre-render when 1% changed).
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from exporter.archive import Archive, Record
from exporter.careplan.definition import load_definition
from exporter.config import load_config
from exporter.desk.app import make_app
from exporter.desk.data import DeskData
from exporter.desk.guard import LoginGuard, Sessions
from exporter.desk.server import Listen, bind
from exporter.desk.staff import add_staff
from exporter.desk.web import Desk
from exporter.keys import KeyFile

FIRST = ["Zoë", "José", "Agnes", "Chidi", "Thelma", "Walter", "Renée", "Aiko", "Mildred",
         "François", "Nguyễn", "George", "Fatima", "Emeka", "Beatrice", "Ana", "Chen", "Danuta",
         "Ingrid", "Søren", "Łucja", "Ömer", "Marta", "Hiroshi", "Oluwaseun", "Patrick"]
LAST = ["Müller", "Møller", "Abernathy", "García", "Johansson", "Rossi", "Kim", "Brennan",
        "Nowak", "Haddad", "O'Connor", "Kowalski", "Dubois", "Åberg", "Papadopoulos", "Singh",
        "Fernández", "Novák", "Yilmaz", "Okafor", "Larsen", "Schröder", "Moreau", "Ivanova"]
PASSWORD = "copper kettle meadow"


def _client(i: int, rng: random.Random) -> dict[str, Any]:
    born = f"{rng.randint(1925, 1960)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return {"Id": f"001B{i:014d}", "Name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "Client_Number__c": f"C-{i:05d}", "Birthdate__c": born, "Status__c": rng.choice(
                ["Active"] * 9 + ["Discharged"]), "Phone": f"(555) 555-{i % 10000:04d}",
            "Gender__c": rng.choice(["Female", "Male"]), "Preferred_Language__c": "English",
            "BillingAddress": {"street": f"{i} Main St", "city": "Springfield",
                               "state": "IL", "postalCode": "62701"},
            "Pharmacy_Name__c": "Corner Pharmacy", "Pharmacy_Phone__c": "(555) 555-0100",
            "IsDeleted": False}


def _children(acc: dict[str, Any], rng: random.Random) -> dict[str, list[Record]]:
    aid, n = acc["Id"], acc["Id"][-6:]
    rows: dict[str, list[Record]] = {
        "Care_Plan__c": [Record(f"a01{n}", {"Client__c": aid, "Code_Status__c": rng.choice(
            ["Full Code", "DNR", "Comfort Care Only"]), "Advance_Directive__c": "On file",
            "Access_Notes__c": "Key safe by the side door.", "IsDeleted": False})],
        "Allergy__c": [Record(f"a03{n}{k}", {"Client__c": aid, "Name": rng.choice(
            ["Penicillin", "Codeine", "Latex", "Peanuts", "Iodine contrast"]),
            "Reaction__c": "Hives", "Severity__c": "Moderate", "IsDeleted": False})
            for k in range(2)],
        "Medication__c": [Record(f"a04{n}{k}", {"Client__c": aid, "Name": rng.choice(
            ["Metformin", "Lisinopril", "Atorvastatin", "Amlodipine", "Levothyroxine"]),
            "Dose__c": "10 mg", "Route__c": "Oral", "Times__c": "08:00;20:00",
            "Active__c": True, "IsDeleted": False}) for k in range(3)],
        "Care_Task__c": [Record(f"a05{n}{k}", {"Client__c": aid, "Day__c": day,
                                               "Time__c": "09:00", "Task__c": "Breakfast",
                                               "IsDeleted": False})
                         for k, day in enumerate(["Monday", "Wednesday", "Friday"])],
        "Emergency_Contact__c": [Record(f"a06{n}", {"Client__c": aid, "Name": "Family member",
                                                     "Relationship__c": "Daughter",
                                                     "Phone__c": "(555) 555-0199",
                                                     "IsDeleted": False})],
        "Diagnosis__c": [Record(f"a07{n}", {"Client__c": aid, "Name": "Hypertension",
                                            "ICD10_Code__c": "I10", "IsDeleted": False})],
    }
    return rows


def build_archive(tmp: Path, clients: int) -> tuple[Path, list[dict[str, Any]]]:
    rng = random.Random(13)
    archive, _ = Archive.create(tmp / "a.db", key_file=tmp / "a.key")
    accounts = [_client(i, rng) for i in range(1, clients + 1)]
    with archive:
        run = archive.begin_run()
        streams: dict[str, list[Record]] = {"Account": [Record(a["Id"], a) for a in accounts]}
        for acc in accounts:
            for stream, recs in _children(acc, rng).items():
                streams.setdefault(stream, []).extend(recs)
        for stream, recs in streams.items():
            for i in range(0, len(recs), 5000):
                archive.put_batch(run, "salesforce", stream, recs[i:i + 5000])
        archive.finish_run(run, "ok", stats={"sources": {"salesforce": {"status": "ok"}}})
        add_staff(archive, "bench", "admin", PASSWORD)
    (tmp / "config.toml").write_text(f'[archive]\npath = "{tmp / "a.db"}"\n'
                                     f'key_file = "{tmp / "a.key"}"\n[log]\ndir = "{tmp}"\n',
                                     encoding="utf-8")
    return tmp / "config.toml", accounts


def serve(config_path: Path) -> tuple[str, Any, float]:
    import uvicorn

    config = load_config(config_path)
    data = DeskData(lambda: Archive.open(config.archive, KeyFile(config.key_file)),
                    load_definition(), config)
    t0 = time.perf_counter()
    data.run(data.start)
    started = time.perf_counter() - t0
    app = make_app(Desk(data, LoginGuard(), Sessions(15), "Bench"))
    sock = bind(Listen("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{sock.getsockname()[1]}/", server, started


def _queries(accounts: list[dict[str, Any]], n: int) -> list[str]:
    import unicodedata

    rng = random.Random(7)
    out = []
    for _ in range(n):
        acc = rng.choice(accounts)
        first, last = acc["Name"].split(" ", 1)
        plain = unicodedata.normalize("NFKD", last).encode("ascii", "ignore").decode()
        kind = len(out) % 5
        out.append([last[:4].lower(), f"{first} {plain}".lower(),
                    plain[:2] + plain[3:] if len(plain) > 4 else plain,  # a letter left out
                    acc["Client_Number__c"].replace("-", "").lower(),
                    "/".join(reversed(acc["Birthdate__c"].split("-")))][kind])
    return out


def _p(times: list[float], q: float) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[int(q) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--pdf-clients", type=int, default=100,
                        help="clients for the stored-PDF figures (0: skip them)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        t0 = time.perf_counter()
        config, accounts = build_archive(Path(tmpdir), args.clients)
        print(f"synthetic archive of {args.clients} clients written in "
              f"{time.perf_counter() - t0:.1f} s (not counted)")
        url, server, started = serve(config)
        print(f"desk start (archive opened; search index and plan data of {args.clients} clients "
              "prepared, as after each sync): "
              f"{started:.2f} s")
        s = requests.Session()
        s.trust_env = False
        form = s.get(url + "login", timeout=30)
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        home = s.post(url + "login", data={"name": "bench", "password": PASSWORD,
                                           "csrf": token.group(1) if token else ""})
        csrf = re.search(r'name="csrf" value="([^"]+)"', home.text)
        assert csrf, "login failed"
        searches, links = [], []
        for q in _queries(accounts, args.searches):
            t = time.perf_counter()
            page = s.post(url + "search", data={"q": q, "csrf": csrf.group(1)}, timeout=30)
            searches.append(time.perf_counter() - t)
            links += re.findall(r'href="/client/([^"]+)"', page.text)[:1]
        print(f"search over HTTP, {len(searches)} queries: p50 {_p(searches, 50):.0f} ms, "
              f"p95 {_p(searches, 95):.0f} ms (target <= 100 ms)")
        print(f"BENCH desk_search_p95 {_p(searches, 95):.0f} ms <=100")
        pages = []
        for client in random.Random(3).sample(links, min(args.pages, len(links))):
            t = time.perf_counter()
            got = s.get(url + f"client/{client}", timeout=60)
            pages.append(time.perf_counter() - t)
            assert got.status_code == 200
        print(f"client page over HTTP (plan built from the archive, view audited), "
              f"{len(pages)} pages: p50 {_p(pages, 50):.0f} ms, p95 {_p(pages, 95):.0f} ms "
              f"(target <= 300 ms); the first one after the start: {pages[0] * 1000:.0f} ms")
        print(f"BENCH desk_client_page_p95 {_p(pages, 95):.0f} ms <=300")
        server.should_exit = True
        time.sleep(0.5)
    if args.pdf_clients:
        sys.stdout.flush()
        subprocess.run([sys.executable, "-P", str(Path(__file__).with_name("desk_pdfs.py")),
                        "--clients", str(args.pdf_clients)], check=True)


if __name__ == "__main__":
    main()
