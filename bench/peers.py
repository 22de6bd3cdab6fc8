"""Peers side by side: our sync against Singer tap-salesforce, MeltanoLabs tap-hubspot, dlt's
HubSpot verified source and (where it installs) Airbyte source-salesforce, on the same sandbox.

    python bench/peers.py [--hubspot-clients 3000] [--salesforce-clients 1000] [--skip NAME]

Each peer is installed with pip into its own venv under ``.bench-peers/`` (git-ignored; never
into .venv, never by the tests or CI), so this needs the package index the first time. dlt's
HubSpot source is not on the index: it is copied at run time from a snapshot of
dlt-hub/verified-sources (``--dlt-sources``, a git directory or a checkout), or skipped.

The peers log in at fixed https addresses; they reach the loopback emulators through
bench/peers_proxy.py (HTTPS_PROXY and a throwaway CA). Every tool, ours included, runs as a
child process on the same data: its CPU is the child's user+sys (RUSAGE_CHILDREN), its
requests are the ones the emulator answered. Ours is bench/sync.py's sync child into a fresh
archive (interpreter start-up and imports counted, as for the peers). The peers only emit
records (Singer taps: JSON lines to a file; Airbyte: its messages to a file); dlt also loads
into DuckDB. Each peer is compared with ours on the same object types (ours on every stream,
associations and file bodies included, is shown too); ours writes the encrypted archive.
Records are compared per stream (distinct ids). Prints figures; asserts nothing.
Targets (issue 16): HubSpot full-sync CPU <= 0.8x MeltanoLabs tap-hubspot's and <= 0.5x
dlt's; Salesforce full-sync CPU kept near 0.13-0.17x tap-salesforce's (like for like);
Salesforce incremental requests <= tap-salesforce's on the same changes, plus our checks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if sys.path and Path(sys.path[0]).resolve() == BENCH:
    sys.path.pop(0)  # run as a script: bench/'s modules must not shadow the packages
sys.path.append(str(BENCH))  # last, for peers_proxy and sync only

from peers_proxy import ForwardProxy  # noqa: E402

from sandbox import CREDENTIALS, Sandbox  # noqa: E402

PEERS_DIR = ROOT / ".bench-peers"
PACKAGES = {"tap-salesforce": ["tap-salesforce"],
            "meltano-tap-hubspot": ["meltano-tap-hubspot"],
            "dlt": ["dlt[duckdb]"],
            "airbyte-source-salesforce": ["airbyte-source-salesforce"]}
MIRROR = Path("/work/.mirror/dlt-hub+verified-sources/repo")  # where a snapshot was fetched
HUBSPOT_TYPES = ["contacts", "companies", "deals", "notes", "tasks"]  # the Meltano tap's
DLT_TYPES = ["contacts", "companies", "deals"]  # the CRM objects dlt's source has
START = "2000-01-01T00:00:00Z"
OURS_ENV: dict[str, str] = {}  # --ours-from: another checkout's code for our runs


@dataclass
class Run:
    tool: str
    vendor: str
    phase: str
    cpu: float = 0.0
    wall: float = 0.0
    requests: int = 0
    records: dict[str, int] = field(default_factory=dict)
    note: str = ""
    ok: bool = True


def install(name: str) -> Path | None:
    """The venv's bin folder with ``name`` installed, installing it the first time."""
    venv = PEERS_DIR / name
    marker = venv / ".installed"
    if marker.exists():
        return venv / "bin"
    PEERS_DIR.mkdir(exist_ok=True)
    print(f"installing {name} into {venv} (once) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *PACKAGES[name]],
                       check=True, timeout=1200, capture_output=True)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"skipped {name}: it did not install ({exc})")
        return None
    marker.touch()
    return venv / "bin"


@contextlib.contextmanager
def certifi_trusts(bin_dir: Path, ca: Path) -> Iterator[None]:
    """The proxy's throwaway CA added to the peer venv's certifi bundle for one run, and
    taken out after: some peers (the Singer SDK's ``session.send``) verify against certifi's
    file and ignore REQUESTS_CA_BUNDLE, as behind any TLS-inspecting proxy."""
    where = "import certifi; print(certifi.where())"
    found = subprocess.run([str(bin_dir / "python"), "-c", where], capture_output=True,
                           text=True, check=False)
    bundle = Path(found.stdout.strip()) if found.returncode == 0 else None
    if bundle is None or not bundle.is_file():
        yield
        return
    original = bundle.read_bytes()
    bundle.write_bytes(original + b"\n" + ca.read_bytes())
    try:
        yield
    finally:
        bundle.write_bytes(original)


def measured(cmd: list[str], out: Path, env: dict[str, str] | None = None,
             cwd: Path | None = None) -> tuple[float, float, int, str]:
    """Run ``cmd`` (stdout to ``out``): its CPU (user+sys, its children included), wall
    seconds, exit code and the end of its stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with out.open("wb") as sink:
        proc = subprocess.run(cmd, stdout=sink, stderr=subprocess.PIPE, check=False,
                              env={**os.environ, **(env or {})}, cwd=cwd, timeout=3600)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, proc.returncode, proc.stderr.decode("utf-8", "replace")[-2000:]


def distinct(ids: dict[str, set[str]], sent: dict[str, int]) -> tuple[dict[str, int], str]:
    """Distinct records per stream, and a note of the ones sent more than once."""
    counts = {k: len(v) for k, v in ids.items()}
    again = {k: sent[k] - counts[k] for k in sent if sent[k] > counts[k]}
    return counts, ("sent again: " + ", ".join(f"{k} {n}" for k, n in sorted(again.items()))
                    if again else "")


def singer_output(path: Path) -> tuple[dict[str, int], dict[str, Any] | None, str]:
    """Distinct records per stream, the last STATE value and a note of the records sent
    more than once, in a Singer tap's output."""
    ids: dict[str, set[str]] = {}
    sent: dict[str, int] = {}
    state = None
    with path.open("rb") as f:
        for line in f:
            if line.startswith(b'{"type":"RECORD"') or b'"type": "RECORD"' in line[:40]:
                message = json.loads(line)
                stream, record = message["stream"], message["record"]
                ids.setdefault(stream, set()).add(str(record.get("id") or record.get("Id")))
                sent[stream] = sent.get(stream, 0) + 1
            elif b'"STATE"' in line[:40]:
                state = json.loads(line)["value"]
    counts, note = distinct(ids, sent)
    return counts, state, note


def ours(table: dict[str, Any], work: Path, vendor: str, phase: str, sb: Sandbox) -> Run:
    """bench/sync.py's sync child, as a measured child process."""
    sb.log.clear()
    cpu, wall, code, err = measured(
        [sys.executable, "-P", str(BENCH / "sync.py"), "--child", json.dumps(table), str(work),
         "1" if phase == "full" else "0"], work / f"ours-{phase}.json", OURS_ENV)
    run = Run("ours (exporter)", vendor, phase, cpu, wall, sb.log.count(vendor))
    if code != 0:
        return Run("ours (exporter)", vendor, phase, ok=False, note=f"failed: {err[-300:]}")
    result = json.loads((work / f"ours-{phase}.json").read_text().strip().splitlines()[-1])
    run.records = {k: v["new"] + v["changed"] for k, v in result["streams"].items()}
    return run


def select_streams(catalog: dict[str, Any], wanted: set[str]) -> list[str]:
    """Mark the catalog's streams in ``wanted`` selected and every other one not."""
    chosen = []
    for stream in catalog["streams"]:
        on = stream["tap_stream_id"] in wanted
        for entry in stream.get("metadata", []):
            if entry.get("breadcrumb") == []:
                meta = entry["metadata"]
                meta["selected"] = on
                keys = meta.get("valid-replication-keys")
                if keys and not meta.get("replication-key"):  # a Singer user's usual choice
                    meta.update({"replication-key": keys[0], "replication-method": "INCREMENTAL"})
        if on:
            chosen.append(stream["tap_stream_id"])
    return chosen


def singer_tap(bin_dir: Path, exe: str, config: dict[str, Any], wanted: set[str], work: Path,
               sb: Sandbox, env: dict[str, str], vendor: str, phase: str,
               state: dict[str, Any] | None = None,
               catalog_flag: str = "--catalog") -> tuple[Run, dict[str, Any] | None]:
    """Discover (not measured), select ``wanted``, then one measured sync."""
    tool = f"{exe} ({bin_dir.parent.name})"
    conf = work / f"{exe}-config.json"
    conf.write_text(json.dumps(config))
    cat = work / f"{exe}-catalog.json"
    if not cat.exists():
        cpu, _, code, err = measured([str(bin_dir / exe), "--config", str(conf), "--discover"],
                                     cat, env)
        if code != 0:
            return Run(tool, vendor, phase, ok=False, note=f"discover failed: {err[-400:]}"), None
        catalog = json.loads(cat.read_text())
        if not select_streams(catalog, wanted):
            return Run(tool, vendor, phase, ok=False, note="none of our streams listed"), None
        cat.write_text(json.dumps(catalog))
    cmd = [str(bin_dir / exe), "--config", str(conf), catalog_flag, str(cat)]
    if state is not None:
        (work / f"{exe}-state.json").write_text(json.dumps(state))
        cmd += ["--state", str(work / f"{exe}-state.json")]
    sb.log.clear()
    out = work / f"{exe}-{phase}.jsonl"
    cpu, wall, code, err = measured(cmd, out, env)
    counts, new_state, note = singer_output(out)
    run = Run(tool, vendor, phase, cpu, wall, sb.log.count(vendor), counts, note)
    if code != 0:
        run.ok, run.note = False, f"exit {code}: {err[-400:]}"
    return run, new_state


DLT_SCRIPT = """
import json, sys
import dlt
sys.path.insert(0, sys.argv[1])
from hubspot import hubspot
pipeline = dlt.pipeline(pipeline_name="peers", destination=dlt.destinations.duckdb(sys.argv[2]),
                        dataset_name="hubspot", pipelines_dir=sys.argv[3])
source = hubspot(api_key=sys.argv[4], soft_delete=True).with_resources(*sys.argv[5].split(","))
pipeline.run(source)
print(json.dumps(pipeline.last_trace.last_normalize_info.row_counts))
"""


def dlt_hubspot_source(work: Path, sources: Path) -> Path | None:
    """dlt's HubSpot verified source, copied at run time from a snapshot of
    dlt-hub/verified-sources (a bare git directory or a checkout): the folder to import from."""
    dest = work / "dlt-sources"
    dest.mkdir(exist_ok=True)
    if (sources / "sources" / "hubspot").is_dir():
        subprocess.run(["cp", "-r", str(sources / "sources" / "hubspot"), str(dest)], check=True)
        return dest
    if not (sources / "HEAD").exists():
        return None
    archive = subprocess.run(["git", f"--git-dir={sources}", "archive", "HEAD", "sources/hubspot"],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        return None
    subprocess.run(["tar", "-x", "-C", str(dest), "--strip-components=1"], input=archive.stdout,
                   check=True)
    return dest


def dlt_hubspot(bin_dir: Path, work: Path, sb: Sandbox, env: dict[str, str],
                sources: Path) -> Run:
    """dlt's HubSpot source (objects it has: contacts, companies, deals; archived ones too)
    into DuckDB, one measured run."""
    tool = "dlt hubspot -> duckdb"
    folder = dlt_hubspot_source(work, sources)
    if folder is None:
        return Run(tool, "hubspot", "full", ok=False,
                   note=f"no snapshot of dlt-hub/verified-sources at {sources} "
                   "(give one with --dlt-sources)")
    script = work / "dlt_run.py"
    script.write_text(DLT_SCRIPT)
    resources = DLT_TYPES
    sb.log.clear()
    out = work / "dlt.out"
    cpu, wall, code, err = measured(
        [str(bin_dir / "python"), str(script), str(folder), str(work / "dlt.duckdb"),
         str(work / "dlt-pipelines"), CREDENTIALS["hubspot"]["access_token"], ",".join(resources)],
        out, {**env, "RUNTIME__DLTHUB_TELEMETRY": "false", "DLT_DATA_DIR": str(work / "dlt-data")},
        cwd=work)
    run = Run(tool, "hubspot", "full", cpu, wall, sb.log.count("hubspot"))
    if code != 0:
        run.ok, run.note = False, f"exit {code}: {err[-400:]}"
        return run
    counts = json.loads(out.read_text().strip().splitlines()[-1])
    run.records = {k: v for k, v in counts.items() if k in resources}
    return run


def ours_hubspot(table: dict[str, Any], work: Path, sb: Sandbox,
                 objects: list[str] | None) -> Run:
    """Ours on every stream (``objects`` None), or on just a peer's object types with no
    associations, owners or files, so that the CPU compared is for the same records."""
    if objects is not None:
        table = {**table, "objects": objects, "associations": False, "owners": False,
                 "files": False}
    label = "all" if objects is None else "-".join(objects)
    folder = work / f"ours-{label}"
    folder.mkdir()
    run = ours(table, folder, "hubspot", "full", sb)
    run.tool = "ours, every stream" if objects is None else f"ours, {len(objects)} types only"
    return run


def hubspot_stub(method: str, path: str) -> bytes | None:
    """Standard object types the emulator does not model (communications, postal mail, leads,
    goals, ...) answer an empty property list, as a portal that has none of them: the
    MeltanoLabs tap reads every type's properties at discovery. Counted as requests."""
    from sandbox.hubspot.schema import ALIASES

    match = re.fullmatch(r"/crm/v3/properties/([^/?]+)(\?.*)?", path)
    if method == "GET" and match and match.group(1) not in ALIASES:
        return b'{"results": []}'
    return None


def hubspot_part(clients: int, sources: Path, skip: set[str]) -> list[Run]:
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as d, Sandbox(clients=clients, vendors=["hubspot"]) as sb, \
            ForwardProxy({"api.hubapi.com": sb.urls["hubspot"]}, Path(d),
                         hubspot_stub) as proxy:
        work = Path(d)
        print(f"HubSpot sandbox, {clients} clients", flush=True)
        table = sb.source_configs(work / "secrets")["hubspot"]
        runs.append(ours_hubspot(table, work, sb, None))
        # ours on each peer's object types runs even when the peer is skipped (--ours-from)
        runs.append(ours_hubspot(table, work, sb, HUBSPOT_TYPES))
        if "meltano-tap-hubspot" not in skip and (bin_dir := install("meltano-tap-hubspot")):
            config = {"access_token": CREDENTIALS["hubspot"]["access_token"], "start_date": START}
            with certifi_trusts(bin_dir, proxy.ca):
                run, _ = singer_tap(bin_dir, "tap-hubspot", config, set(HUBSPOT_TYPES), work, sb,
                                    proxy.env(), "hubspot", "full")
            run.tool = "MeltanoLabs tap-hubspot"
            run.requests += proxy.stubbed
            runs.append(run)
        runs.append(ours_hubspot(table, work, sb, DLT_TYPES))
        if "dlt" not in skip and (bin_dir := install("dlt")):
            with certifi_trusts(bin_dir, proxy.ca):
                runs.append(dlt_hubspot(bin_dir, work, sb, proxy.env(), sources))
        if proxy.refused:
            print(f"the proxy refused: {sorted(set(proxy.refused))}")
    return runs


def refresh_token(base_url: str) -> str:
    """A refresh token from the emulator's web server flow (PKCE), as a peer's setup gets."""
    import base64
    import hashlib
    import secrets
    from urllib.parse import parse_qs, urlsplit

    import requests

    c = CREDENTIALS["salesforce"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    redirect = "http://127.0.0.1:9/callback"
    answer = requests.get(f"{base_url}/services/oauth2/authorize", allow_redirects=False,
                          timeout=30, params={
                              "response_type": "code", "client_id": c["client_id"],
                              "redirect_uri": redirect, "code_challenge_method": "S256",
                              "code_challenge": challenge.decode().rstrip("=")})
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    token = requests.post(f"{base_url}/services/oauth2/token", timeout=30, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
        "client_id": c["client_id"], "client_secret": c["client_secret"],
        "code_verifier": verifier})
    return str(token.json()["refresh_token"])


CHECK = re.compile(r"SELECT Id(, [\w, ]+)? FROM \w+")
# the calculated-field rule's re-read of the children of changed parents (Id lists)
FOLLOW = re.compile(r" WHERE \w+ IN \('")


def our_checks(sb: Sandbox) -> int:
    """Requests of our nightly checks (deletions: ``SELECT Id``; calculated fields:
    ``SELECT Id, <calculated>``, or the counts five to a Composite call, and their next
    pages; the re-read of the children whose formulas follow a changed parent)."""
    return sum(1 for e in sb.log.entries if e.vendor == "salesforce"
               and ("composite" in e.endpoint or CHECK.fullmatch(_soql(e))
                    or FOLLOW.search(_soql(e)) or _check_page(sb, e)))


def _check_page(sb: Sandbox, entry: Any) -> bool:
    """A next page of a check query: its open query locator (kept by the emulator) lists
    only Id and calculated fields, never the SystemModstamp every read selects."""
    if entry.endpoint != "query_more":
        return False
    cursor = entry.path.rstrip("/").rsplit("/", 1)[-1].rpartition("-")[0]
    state = sb.salesforce.cursors.get(cursor)
    return state is not None and "SystemModstamp" not in {c.name for c in state["fields"]}


def _soql(entry: Any) -> str:
    return str((entry.query.get("q") or [""])[0])


def airbyte_salesforce(bin_dir: Path, config: dict[str, Any], wanted: set[str], work: Path,
                       sb: Sandbox, env: dict[str, str]) -> Run:
    """Airbyte source-salesforce: discover (not measured), then one measured full read of
    ``wanted``; records counted from its RECORD messages."""
    tool = "Airbyte source-salesforce"
    conf = work / "airbyte-config.json"
    conf.write_text(json.dumps(config))
    exe = str(bin_dir / "source-salesforce")
    _, _, code, err = measured([exe, "discover", "--config", str(conf)],
                               work / "airbyte-discover.jsonl", env)
    catalog = None
    for line in (work / "airbyte-discover.jsonl").read_text().splitlines():
        if line.startswith("{") and '"CATALOG"' in line[:40]:
            catalog = json.loads(line)["catalog"]
    if code != 0 or catalog is None:
        return Run(tool, "salesforce", "full", ok=False, note=f"discover failed: {err[-400:]}")
    configured = {"streams": [
        {"stream": st, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
        for st in catalog["streams"] if st["name"] in wanted]}
    (work / "airbyte-catalog.json").write_text(json.dumps(configured))
    sb.log.clear()
    out = work / "airbyte-full.jsonl"
    cpu, wall, code, err = measured([exe, "read", "--config", str(conf), "--catalog",
                                     str(work / "airbyte-catalog.json")], out, env)
    ids: dict[str, set[str]] = {}
    sent: dict[str, int] = {}
    with out.open("rb") as f:
        for raw in f:
            if raw.startswith(b'{"type":"RECORD"') or b'"type": "RECORD"' in raw[:40]:
                record = json.loads(raw)["record"]
                ids.setdefault(record["stream"], set()).add(str(record["data"].get("Id")))
                sent[record["stream"]] = sent.get(record["stream"], 0) + 1
    counts, note = distinct(ids, sent)
    run = Run(tool, "salesforce", "full", cpu, wall, sb.log.count("salesforce"), counts, note)
    if code != 0:
        run.ok, run.note = False, f"exit {code}: {err[-400:]}"
    return run


FILE_OBJECTS = ["Attachment", "ContentVersion"]


def like_for_like(bin_dir: Path, tap_config: dict[str, Any], table: dict[str, Any],
                  objects: list[str], work: Path, sb: Sandbox, proxy: ForwardProxy) -> list[Run]:
    """Ours and tap-salesforce without the objects that hold files: ours downloads every
    file body (a request each), tap-salesforce reads none."""
    plain = [o for o in objects if o not in FILE_OBJECTS]
    (work / "plain").mkdir()
    (work / "plain" / "ours").mkdir()
    mine = ours({**table, "exclude": FILE_OBJECTS}, work / "plain" / "ours", "salesforce",
                "full", sb)
    mine.tool = "ours, no file objects"
    with certifi_trusts(bin_dir, proxy.ca):
        run, _ = singer_tap(bin_dir, "tap-salesforce", tap_config, set(plain), work / "plain",
                            sb, proxy.env(), "salesforce", "full", catalog_flag="--properties")
    run.tool = "tap-salesforce, no file objects"
    return [mine, run]


def salesforce_part(clients: int, skip: set[str]) -> list[Run]:
    import sync as sync_bench  # bench/sync.py: the same 1% of changes as its own figure

    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as d, \
            Sandbox(clients=clients, vendors=["salesforce"]) as sb, \
            ForwardProxy({"login.salesforce.com": sb.urls["salesforce"],
                          "test.salesforce.com": sb.urls["salesforce"]}, Path(d)) as proxy:
        work = Path(d)
        print(f"Salesforce sandbox, {clients} clients", flush=True)
        print("skipped dlt's Salesforce source: its resources are fixed standard objects (User, "
              "Opportunity, Lead, ...); of the agency's objects only Account is among them")
        table = sb.source_configs(work / "secrets")["salesforce"]
        (work / "ours").mkdir()
        mine = ours(table, work / "ours", "salesforce", "full", sb)
        runs.append(mine)
        objects = sorted(mine.records)
        c = CREDENTIALS["salesforce"]
        config = {"client_id": c["client_id"], "client_secret": c["client_secret"],
                  "refresh_token": refresh_token(sb.urls["salesforce"]), "start_date": START}
        tap_state = None
        bin_dir = None if "tap-salesforce" in skip else install("tap-salesforce")
        if bin_dir:
            tap_config = {**config, "api_type": "REST", "select_fields_by_default": True}
            with certifi_trusts(bin_dir, proxy.ca):
                run, tap_state = singer_tap(bin_dir, "tap-salesforce", tap_config, set(objects),
                                            work, sb, proxy.env(), "salesforce", "full",
                                            catalog_flag="--properties")
            run.tool = "Singer tap-salesforce"
            runs.append(run)
        if "airbyte-source-salesforce" not in skip and (ab := install("airbyte-source-salesforce")):
            with certifi_trusts(ab, proxy.ca):
                runs.append(airbyte_salesforce(ab, config, set(objects), work, sb, proxy.env()))
        if bin_dir:
            runs += like_for_like(bin_dir, tap_config, table, objects, work, sb, proxy)
        changed = sync_bench.change_one_percent(sb, objects, sum(mine.records.values()))
        print(f"changed {sum(changed.values())} records (1%): {changed}")
        inc = ours(table, work / "ours", "salesforce", "incremental", sb)
        checks = our_checks(sb)
        print(f"ours, incremental: {sync_bench.endpoints(sb, 'salesforce')}")
        runs.append(inc)
        if bin_dir and tap_state is not None:
            with certifi_trusts(bin_dir, proxy.ca):
                run, _ = singer_tap(bin_dir, "tap-salesforce", tap_config, set(objects), work,
                                    sb, proxy.env(), "salesforce", "incremental", tap_state,
                                    catalog_flag="--properties")
            run.tool = "Singer tap-salesforce"
            runs.append(run)
            print(f"tap-salesforce, incremental: {sync_bench.endpoints(sb, 'salesforce')}")
            if run.ok and inc.ok:
                print(f"Salesforce incremental requests: ours {inc.requests} ({checks} of them "
                      f"our nightly checks, {inc.requests - checks} without), tap-salesforce "
                      f"{run.requests}")
                print(f"BENCH peers.salesforce_incremental_requests_less_checks "
                      f"{inc.requests - checks} requests <={run.requests}")
                print(f"BENCH peers.salesforce_incremental_requests_with_checks "
                      f"{inc.requests} requests -")
    return runs


def print_table(runs: list[Run]) -> None:
    print(f"\n{'vendor':<11}{'phase':<13}{'tool':<32}{'CPU s':>8}{'wall s':>8}{'requests':>10}"
          f"{'records':>9}  records per stream")
    for r in runs:
        if not r.ok:
            print(f"{r.vendor:<11}{r.phase:<13}{r.tool:<32}  not measured: {r.note}")
            continue
        per = ", ".join(f"{k} {v}" for k, v in sorted(r.records.items()))
        print(f"{r.vendor:<11}{r.phase:<13}{r.tool:<32}{r.cpu:>8.2f}{r.wall:>8.1f}"
              f"{r.requests:>10}{sum(r.records.values()):>9}  {per}"
              + (f"  ({r.note})" if r.note else ""))


def same_data(mine: Run, peer: Run) -> str:
    """Per stream both have: ours against the peer's record count."""
    shared = sorted(set(mine.records) & set(peer.records))
    return ", ".join(f"{s} {mine.records[s]}/{peer.records[s]}" for s in shared) or "none shared"


def ratios(runs: list[Run], vendor: str, targets: dict[str, tuple[str, str]]) -> None:
    """Our CPU against each peer's; ``targets``: tool -> (figure name, BENCH target)."""
    mine = None  # each peer follows ours on the same streams
    for peer in runs:
        if peer.vendor != vendor or peer.phase != "full":
            continue
        if peer.tool.startswith("ours"):
            mine = peer
            continue
        if not peer.ok or mine is None or not mine.ok:
            continue
        ratio = mine.cpu / peer.cpu if peer.cpu else float("inf")
        print(f"{vendor} full sync CPU, ours / {peer.tool}: {ratio:.2f}x   "
              f"(records ours/theirs: {same_data(mine, peer)})")
        if peer.tool in targets:
            name, target = targets[peer.tool]
            print(f"BENCH {name} {ratio:.2f} x {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hubspot-clients", type=int, default=3000, help="0 skips HubSpot")
    parser.add_argument("--salesforce-clients", type=int, default=1000,
                        help="0 skips Salesforce")
    parser.add_argument("--dlt-sources", type=Path, default=MIRROR,
                        help="a snapshot of dlt-hub/verified-sources (git dir or checkout)")
    parser.add_argument("--ours-from", type=Path,
                        help="run our sync from another checkout (its exporter and connectors "
                        "first on PYTHONPATH), e.g. this issue's starting point")
    parser.add_argument("--skip", action="append", default=[], choices=sorted(PACKAGES),
                        help="leave this peer out (repeatable)")
    args = parser.parse_args()
    skip = set(args.skip)
    if args.ours_from:
        OURS_ENV["PYTHONPATH"] = str(args.ours_from.resolve())
        subprocess.run([sys.executable, "-m", "compileall", "-q", "exporter", "connectors"],
                       cwd=args.ours_from, check=True, stdout=subprocess.DEVNULL)
    # Installed software runs from bytecode (pip compiled the peers'); where this checkout's
    # never was (PYTHONDONTWRITEBYTECODE), ours would pay for compiling it on every run.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "exporter", "connectors",
                    "sandbox"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    runs: list[Run] = []
    if args.hubspot_clients:
        runs += hubspot_part(args.hubspot_clients, args.dlt_sources, skip)
    if args.salesforce_clients:
        runs += salesforce_part(args.salesforce_clients, skip)
    print_table(runs)
    ratios(runs, "salesforce", {
        # with the file objects ours also downloads every body and the peer none: no target
        "Singer tap-salesforce": ("peers.salesforce_cpu_vs_tap_salesforce_with_files", "-"),
        "tap-salesforce, no file objects": (
            "peers.salesforce_cpu_vs_tap_salesforce_no_file_objects", "<=0.2")})
    ratios(runs, "hubspot", {"MeltanoLabs tap-hubspot": ("peers.hubspot_cpu_vs_meltano", "<=0.8"),
                             "dlt hubspot -> duckdb": ("peers.hubspot_cpu_vs_dlt", "<=0.5")})


if __name__ == "__main__":
    main()
