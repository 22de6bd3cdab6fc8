"""Sandbox benchmark: start-up time and records/s served to the real SDKs.

    python bench/emulators.py [--clients 5000]

Targets: start-up with 100 clients <= 2 s; >= 5,000 records/s when paging ~100k records,
so the sandbox is never the bottleneck of a sync benchmark. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import hubspot
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from simple_salesforce import Salesforce

from exporter.transport import LoopbackSession
from sandbox import CREDENTIALS, Sandbox

SF_OBJECTS = ["Account", "Care_Plan__c", "Medication__c", "Allergy__c", "Diagnosis__c",
              "Care_Task__c", "Emergency_Contact__c", "Physician__c"]
HS_OBJECTS = ["contacts", "companies", "deals", "notes", "tasks"]


def page_salesforce(sb: Sandbox) -> int:
    c = CREDENTIALS["salesforce"]
    sf = Salesforce(username=c["username"], password=c["password"],
                    security_token=c["security_token"],
                    session=LoopbackSession(sb.urls["salesforce"]))
    n = 0
    for obj in SF_OBJECTS:
        fields = [f["name"] for f in getattr(sf, obj).describe()["fields"]
                  if f["type"] not in ("address", "location", "base64")]
        soql = f"SELECT {', '.join(fields)} FROM {obj}"
        for _ in sf.query_all_iter(soql, include_deleted=True):
            n += 1
    return n


def page_hubspot(sb: Sandbox) -> int:
    client = hubspot.Client.create(access_token=CREDENTIALS["hubspot"]["access_token"],
                                   host=sb.urls["hubspot"])
    n = 0
    for obj in HS_OBJECTS:
        after = None
        while True:
            page = client.crm.objects.basic_api.get_page(
                obj, limit=100, after=after, properties=["hs_object_id", "createdate"])
            n += len(page.results)
            if not page.paging or not page.paging.next:
                break
            after = page.paging.next.after
    return n


def page_google(sb: Sandbox) -> int:
    creds = Credentials(token=CREDENTIALS["google"]["token"])
    cal = build("calendar", "v3", credentials=creds, static_discovery=True,
                client_options={"api_endpoint": sb.urls["google"] + "/calendar/v3/"})
    n, token = 0, None
    while True:
        resp = cal.events().list(calendarId="visits@sunrise-homecare.example", maxResults=2500,
                                 pageToken=token, showDeleted=True).execute()
        n += len(resp.get("items", []))
        token = resp.get("nextPageToken")
        if not token:
            return n


def timed(label: str, fn: Callable[[], int]) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = fn()
    dt = time.perf_counter() - t0
    print(f"  {label:<11} {n:>8,} records in {dt:6.2f} s = {n / dt:9,.0f} records/s")
    return n, dt


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=5000)
    args = parser.parse_args()

    t0 = time.perf_counter()
    with Sandbox(clients=100) as sb:
        startup = time.perf_counter() - t0
        print(f"start-up, 100 clients, all three vendors: {startup:.2f} s   (target <= 2 s)")
        print(f"BENCH sandbox.startup_100_clients {startup:.2f} s <=2")

    t0 = time.perf_counter()
    with Sandbox(clients=args.clients) as sb:
        print(f"start-up, {args.clients} clients: {time.perf_counter() - t0:.2f} s")
        print("paging every record through the real SDKs:")
        results = [timed("salesforce", lambda: page_salesforce(sb)),
                   timed("hubspot", lambda: page_hubspot(sb)),
                   timed("google", lambda: page_google(sb))]
        total = sum(n for n, _ in results)
        seconds = sum(d for _, d in results)
        print(f"  {'all':<11} {total:>8,} records in {seconds:6.2f} s = "
              f"{total / seconds:9,.0f} records/s   (target >= 5,000/s)")
        print(f"requests served: {sb.log.count():,}")
        print(f"BENCH sandbox.records_served {total / seconds:.0f} records/s >=5000")


if __name__ == "__main__":
    main()
