"""Salesforce emulator (placeholder until built)."""

from __future__ import annotations

from typing import Any

from exporter.sandbox.agency import Agency, ChangeSet
from exporter.sandbox.faults import FaultPlan
from exporter.sandbox.http import Emulator


class SalesforceEmulator(Emulator):
    vendor = "salesforce"

    def __init__(self, agency: Agency, faults: FaultPlan | None = None) -> None:
        super().__init__(faults)
        self.agency = agency

    def advance(self, changes: ChangeSet) -> None:
        pass

    def dump_state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        pass
