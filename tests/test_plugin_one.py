"""A sync of one source imports only that source's connector (bench/peers.py: importing
every installed connector cost a HubSpot-only night a third of a second of CPU)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
from exporter.errors import ConfigError
from exporter.plugin import CONNECTORS, plugin_class
cls = plugin_class(CONNECTORS, "hubspot")
loaded = sorted(m for m in sys.modules if m.split(".")[:2] in
                (["connectors", "google"], ["connectors", "salesforce"]))
try:
    plugin_class(CONNECTORS, "hubspott")
    unknown = ""
except ConfigError as exc:
    unknown = str(exc)
print(json.dumps({"cls": cls.__name__, "others": loaded, "unknown": unknown}))
"""


def test_one_connector_is_imported_for_its_source() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True, timeout=110)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["cls"] == "HubSpotConnector"
    assert got["others"] == []
    # a type that is not installed still names every installed one
    assert "hubspot" in got["unknown"] and "salesforce" in got["unknown"]
    assert "did you mean" in got["unknown"].lower()
