"""Run every bench/ script and print one table: each figure beside its target.

    python bench/report.py            # every script at its own default size (`make bench`)
    python bench/report.py --quick    # smaller sizes, for a busy machine
    python bench/report.py --only sync --only archive
    python bench/report.py --only peers   # opt-in: installs the peers from the package index

Each script keeps its own output (passed through) and also prints machine-readable lines,
``BENCH name value unit target``, with target ``>=X``, ``<=X``, ``flat(<=X)`` or ``-`` (no
target, a figure to watch). A script that fails is reported in the table; the exit code is
1 then, and also when a target is not met."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Not scripts of the default set: helpers, night.py (bench/sync.py runs the same part), and
# peers.py, which installs other tools from the network (into .bench-peers/) and so runs only
# when asked for by name.
NOT_DEFAULT = {"report", "__init__", "desk_pdfs", "peers", "peers_proxy", "night"}
QUICK = {
    "archive": ["--records", "20000", "--file-mb", "100", "--repeat", "5"],
    "careplan": ["--clients", "30"],
    "desk": ["--clients", "2000", "--pdf-clients", "30"],
    "objectstore": ["--file-mb", "64"],
    "restore": ["--clients", "100"],
    "emulators": ["--clients", "1000"],
    "startup": ["--runs", "5"],
    "sync": ["--clients", "1000", "--big-clients", "5000", "--night-clients", "100"],
    "peers": ["--hubspot-clients", "1000", "--salesforce-clients", "1000"],
}


def met(value: float, target: str) -> str:
    bound = target.removeprefix("flat(").removesuffix(")")
    if bound.startswith(">="):
        return "met" if value >= float(bound[2:]) else "NOT MET"
    if bound.startswith("<="):
        return "met" if value <= float(bound[2:]) else "NOT MET"
    return ""


def run_script(name: str, args: list[str]) -> tuple[list[tuple[str, ...]], int, float]:
    started = time.monotonic()
    # -P: the repository's packages, not bench/'s own modules, come first on sys.path.
    proc = subprocess.Popen([sys.executable, "-P", str(HERE / f"{name}.py"), *args],
                            stdout=subprocess.PIPE, text=True, cwd=HERE.parent)
    assert proc.stdout is not None
    rows: list[tuple[str, ...]] = []
    for line in proc.stdout:
        print(line, end="", flush=True)
        if line.startswith("BENCH "):
            _, figure, value, unit, target = line.split(maxsplit=4)
            rows.append((figure, value, unit, target.strip()))
    return rows, proc.wait(), time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (see QUICK)")
    parser.add_argument("--only", action="append", help="only this script (repeatable)")
    opts = parser.parse_args()
    names = opts.only or sorted(p.stem for p in HERE.glob("*.py") if p.stem not in NOT_DEFAULT)
    table: list[tuple[str, ...]] = []
    failed = False
    for name in names:
        print(f"\n=== bench/{name}.py", flush=True)
        rows, code, seconds = run_script(name, QUICK.get(name, []) if opts.quick else [])
        table += [(*row, met(float(row[1]), row[3])) for row in rows]
        if code != 0 or not rows:
            table.append((f"{name} (script)", "-", "-", "-", f"FAILED (exit {code})"))
            failed = True
        print(f"=== bench/{name}.py took {seconds:.0f} s", flush=True)
    width = max([len(r[0]) for r in table] + [6])
    print(f"\n{'figure':<{width}}  {'value':>10}  {'unit':<10}  {'target':<10}  result")
    print("-" * (width + 48))
    for figure, value, unit, target, result in table:
        print(f"{figure:<{width}}  {value:>10}  {unit:<10}  {target:<10}  {result}")
    failed = failed or any(r[4] == "NOT MET" for r in table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
