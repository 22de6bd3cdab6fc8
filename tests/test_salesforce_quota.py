"""Reading and restoring share one Salesforce quota account: the org's daily API counter.

A sync (the streams) and a restore (the writer) into the same org go through the one
client, ``connectors.salesforce.client.SalesforceClient``, which reads the org's counter from
``Sforce-Limit-Info`` on every answer. So the restore's count continues where the sync's
ended, and both stop by the same reserve rule: a call is made only while the usage it brings
(used + 1) stays within ``api_share_limit`` of the daily limit. The limits below are odd on
purpose: the share then falls between two calls, where the two clients the connector had
before disagreed by one call.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.salesforce import SalesforceConnector, SalesforceWriter
from exporter.archive import Archive
from exporter.errors import QuotaExhausted
from exporter.restore import load_mapping, run_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox

FAST_RETRY = {"base_delay": 0.01, "max_delay": 5.0}


def test_a_restore_after_a_sync_continues_its_quota_count_and_stops_by_the_same_rule(
        tmp_path: Path) -> None:
    archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    config = tmp_path / "config.toml"
    with archive, Sandbox(clients=3, seed=5) as sb:
        org = sb.salesforce
        tables = sb.source_configs(tmp_path / "secrets")
        sources = {v: build_connector(v, tables[v], config) for v in ("salesforce", "hubspot")}
        synced = run_sync(archive, sources)
        assert synced.status == "ok", synced.stats()
        used = org.api_usage
        assert used > 10
        reading = next(s for s in synced.sources if s.name == "salesforce").usage
        assert (reading["api_used"], reading["api_limit"]) == (used, 15000)  # the org's count

        # Today the org allows few calls; exporter takes half: the reserve is used + 6.5.
        org.daily_limit = 2 * (used + 6) + 1
        writer = build_writer("sf", {**tables["salesforce"], "api_share_limit": 0.5,
                                     "retry": FAST_RETRY}, config)
        assert isinstance(writer, SalesforceWriter)
        assert writer.objects()
        # The writer's first answer continues the count the sync left.
        assert (writer.client.used, writer.client.total) == (used + 1, org.daily_limit)
        with pytest.raises(QuotaExhausted, match="api_share_limit") as stop:
            run_restore(archive, writer, load_mapping("hubspot_to_salesforce"), target="sf")
        assert "run it again tomorrow" in str(stop.value)
        assert org.api_usage == used + 6  # the last call the share allowed, and no other
        assert writer.client.used == used + 6
        writer.close()

        # Reading stops by the same rule, from where the restore left the count.
        org.daily_limit = 2 * (used + 10) + 1  # reserve: used + 10.5
        table = {**tables["salesforce"], "api_share_limit": 0.5}
        reader = build_connector("salesforce", table, config)
        assert isinstance(reader, SalesforceConnector)
        again = run_sync(archive, {"salesforce": reader})
        source = again.sources[0]
        assert again.status != "ok" and "api_share_limit" in (source.error or "")
        assert org.api_usage == used + 10
        assert (source.usage["api_used"], source.usage["api_limit"]) == (used + 10,
                                                                         org.daily_limit)


def test_the_usage_header_is_read_with_a_per_app_part(tmp_path: Path) -> None:
    """Salesforce may add the connected app's own count after the org's
    (``api-usage=25/5000; per-app-api-usage=17/250(appName=...)``): the org's count is the
    quota, read by the SDK's own parser."""
    import logging

    import requests

    from connectors.salesforce.client import SalesforceClient
    from exporter.retry import RetryPolicy

    client = SalesforceClient({"base_url": "http://127.0.0.1:9"}, {}, RetryPolicy(),
                              logging.getLogger("test"))
    answer = requests.Response()
    answer.status_code = 200
    answer.headers["Sforce-Limit-Info"] = \
        "api-usage=3999/5000; per-app-api-usage=17/250(appName=exporter)"
    client.session.hooks["response"][-1](answer)
    assert (client.used, client.total) == (3999, 5000)
    client.check_share()  # the next call brings 4000, the 80% share: allowed
    answer.headers["Sforce-Limit-Info"] = "api-usage=4000/5000"
    client.session.hooks["response"][-1](answer)
    with pytest.raises(QuotaExhausted, match="4000 of 5000"):
        client.check_share()  # it would bring 4001: over the share
    client.close()
