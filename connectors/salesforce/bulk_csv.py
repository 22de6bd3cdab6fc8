"""Bulk API 2.0 CSV rows typed back into the records the REST API would have returned.

Bulk sends every value as text and refuses compound fields (addresses, locations) and
binary (base64) fields. The describe types the values back (``""`` is null, booleans,
numbers, ``Z`` datetimes as REST's ``+0000``), compound fields are rebuilt from their
component fields, and base64 fields get the URL REST gives, so a Bulk read and a REST read
archive equal records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["INT_TYPES", "NUMBER_TYPES", "BulkRows"]

INT_TYPES = {"int", "long"}
NUMBER_TYPES = {"double", "currency", "percent"}
_ADDRESS_KEYS = ("city", "country", "geocodeAccuracy", "latitude", "longitude", "postalCode",
                 "state", "street")


@dataclass
class BulkRows:
    """Bulk CSV rows to the records REST would have returned."""

    obj: str
    version: str
    fields: list[Mapping[str, Any]]

    def __post_init__(self) -> None:
        self.kinds = {f["name"]: f.get("type") for f in self.fields}
        self.compound: dict[str, list[str]] = {}
        for f in self.fields:
            parent = f.get("compoundFieldName")
            if parent and parent in self.kinds:
                self.compound.setdefault(parent, []).append(f["name"])

    def bulk_columns(self) -> list[str]:
        return [f["name"] for f in self.fields if f.get("type") not in
                ("address", "location", "base64")]

    def value(self, name: str, text: str) -> Any:
        if text == "":
            return None
        kind = self.kinds.get(name)
        if kind == "boolean":
            return text == "true"
        if kind in INT_TYPES:
            return int(text)
        if kind in NUMBER_TYPES:
            return float(text)
        if kind == "datetime" and text.endswith("Z"):
            return text[:-1] + "+0000"  # Bulk writes Z where REST writes +0000
        return text

    @staticmethod
    def _component_key(parent: str, name: str) -> str:
        """BillingAddress/BillingPostalCode -> postalCode; Home__c/Home__Street__s -> street."""
        if name.endswith("__s"):
            key = name.removesuffix("__s").rsplit("__", 1)[-1]
        else:
            key = name.removeprefix(parent.removesuffix("Address"))
        return key[:1].lower() + key[1:]

    def record(self, row: Mapping[str, str]) -> dict[str, Any]:
        data = {name: self.value(name, text) for name, text in row.items()}
        out: dict[str, Any] = {}
        for f in self.fields:  # REST's field order
            name, kind = f["name"], f.get("type")
            if kind == "base64":
                out[name] = (None if data.get("Id") is None else
                             f"/services/data/v{self.version}/sobjects/{self.obj}/"
                             f"{data['Id']}/{name}")
            elif kind in ("address", "location"):
                out[name] = self._compound(name, data)
            else:
                out[name] = data.get(name)
        return out

    def _compound(self, name: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
        parts = {self._component_key(name, c): data.get(c) for c in self.compound.get(name, [])}
        if all(v is None for v in parts.values()):
            return None
        keys = _ADDRESS_KEYS if self.kinds[name] == "address" else ("latitude", "longitude")
        return {**dict.fromkeys(keys), **parts}
