"""Care-plan view definitions: parsing, validation messages with the nearest names, joins,
value formats. No archive needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.careplan.build import (
    REF_COLUMN,
    TABLE_CHARS,
    Row,
    SectionView,
    format_value,
    html_to_text,
)
from exporter.careplan.definition import (
    SECTIONS,
    DefinitionError,
    default_definition_text,
    get_path,
    load_definition,
    parse_definition,
)
from exporter.careplan.render import css_str

MINIMAL = '''
[client]
stream = "crm/Client"
key = "Number"
name = "Name"
'''


def test_the_default_definition_maps_every_section_in_order() -> None:
    d = load_definition()
    assert [s.id for s in d.sections] == list(SECTIONS)
    assert d.client.stream == "salesforce/Account" and d.normalise == "client_number"


def test_a_minimal_definition_maps_nothing_but_the_client() -> None:
    d = parse_definition(MINIMAL)
    assert d.sections == () and d.streams() == ["crm/Client"]


@pytest.mark.parametrize("change,expected", [
    ("[sections.medication]\nstream = 'crm/Meds'\njoin = { field = 'c', to = 'key' }\n"
     "fields = [{ label = 'x', field = 'y' }]",
     "no care-plan section 'medication' (did you mean: medications?)"),
    ("[sections.diet]\nstream = 'crm/Client'\nfeilds = []",
     "unknown key 'feilds' (did you mean: fields"),
    ("[sections.diet]\nstream = 'crm/Client'\nfields = [{ label = 'x', field = 'y', "
     "format = 'dat' }]", "format 'dat' is not one of"),
    ("[sections.visits]\nstream = 'g/events'\njoin = { field = 'c' }\nwindow_days = 14\n"
     "fields = [{ label = 'x', field = 'y' }]", "has window_days but no date_field"),
    ("[sections.notes]\nstream = 'crm/Notes'\nfields = [{ label = 'x', field = 'y' }]",
     "not the client stream: it needs join"),
    ("[sections.notes]\nstream = 'Notes'\njoin = { field = 'c' }\n"
     "fields = [{ label = 'x', field = 'y' }]", "must be written source/stream"),
    ("[sections.notes]\nstream = 'crm/Notes'\njoin = { field = 'c', to = 'crm/Client' }\n"
     "fields = [{ label = 'x', field = 'y' }]", "join.to must be \"key\" or source/stream.field"),
    ("[sections.notes]\nstream = 'crm/Notes'\njoin = { field = 'c', normalise = 'mail' }\n"
     "fields = [{ label = 'x', field = 'y' }]", "(did you mean: email?)"),
])
def test_mistakes_are_named_with_the_nearest_names(change: str, expected: str) -> None:
    with pytest.raises(DefinitionError) as info:
        parse_definition(MINIMAL + change, "mine.toml")
    assert "mine.toml" in str(info.value) and expected in str(info.value)


def test_every_problem_is_reported_at_once() -> None:
    mistakes = r"has 4 problem\(s\): .*'streem' \(did you mean: stream\?\)"
    with pytest.raises(DefinitionError, match=mistakes):
        parse_definition("[client]\nstreem = 'a/b'\n", "x.toml")


def test_toml_syntax_errors_and_missing_files_are_definition_errors(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="has a mistake"):
        parse_definition("[client\n")
    with pytest.raises(DefinitionError, match="cannot be read"):
        load_definition(tmp_path / "missing.toml")


def test_an_edited_copy_of_the_default_loads(tmp_path: Path) -> None:
    path = tmp_path / "agency.toml"
    path.write_text(default_definition_text().replace(
        'organisation = "Sunrise Home Care"', 'organisation = "Harbour Care"'), encoding="utf-8")
    assert load_definition(path).organisation == "Harbour Care"


def test_paths_walk_into_nested_objects_and_lists() -> None:
    data = {"a": {"b": [{"c": 1}, {"c": 2}, {"d": 3}]}, "Client Number": "C-1", "n": None}
    assert get_path(data, "a.b.c") == [1, 2]
    assert get_path(data, "Client Number") == ["C-1"]
    assert get_path(data, "n") == [] and get_path(data, "a.x.c") == []


@pytest.mark.parametrize("value,fmt,shown", [
    ("1942-10-22", "date", "22 Oct 1942"),
    ("2026-12-01T08:00:00-06:00", "datetime", "Tue 1 Dec 2026, 08:00"),
    ("2026-12-01T08:00:00-06:00", "day", "Tue 1 Dec 2026"),
    ("2026-12-01T08:00:00.000+0000", "time", "08:00"),
    ("08:00;18:00", "list", "08:00, 18:00"),
    ("Mon", "weekday", "Monday"),
    (True, "text", "Yes"),
    (84.0, "text", "84"),
    ("first\nsecond", "firstline", "first"),
    ("not a date", "date", "not a date"),
])
def test_value_formats(value: object, fmt: str, shown: str) -> None:
    assert format_value(value, fmt) == shown


def test_html_note_bodies_become_plain_text() -> None:
    body = '<p>Fell &amp; <b>bruised</b> knee</p><script>alert(1)</script><img src=x>'
    assert html_to_text(body) == "Fell & bruised knee"
    assert html_to_text("Line one<br>line two") == "Line one\nline two"


def test_css_strings_cannot_escape_the_style_element() -> None:
    text = css_str('Zoë "O\'Brien" </style><script>\nx')
    assert "</" not in text and "<" not in text and text.startswith('"') and text.endswith('"')
    assert '\\"' in text and "\\A " in text


# -- the worked example of docs/careplan.md: another organisation's objects -------------------

HARBOUR = '''
name = "Harbour care plan"
organisation = "Harbour Home Health"

[client]
stream = "hubspot/patients"
key = "properties.mrn"
normalise = "client_number"
name = ["properties.first_name", "properties.last_name"]
birthdate = "properties.date_of_birth"
binder = { "properties.status" = "Admitted" }

[sections.code_status]
stream = "hubspot/patients"
fields = [
  { label = "Code status", field = "properties.code_status", emphasis = true },
  { label = "Advance directive", field = "properties.polst_location" },
]

[sections.allergies]
stream = "hubspot/allergies"
join = { field = "properties.patient_mrn", to = "key" }
fields = [{ label = "Substance", field = "properties.substance" }]

[sections.emergency_contacts]
stream = "hubspot/contacts"
fields = [
  { label = "Name", field = ["properties.firstname", "properties.lastname"], sep = " " },
  { label = "Relationship", field = "properties.relationship" },
  { label = "Phone", field = "properties.phone" },
]

[sections.emergency_contacts.join]
field = "id"
to = "hubspot/patients.id"

[sections.emergency_contacts.join.via]
stream = "hubspot/associations"
from = "toObjectId"       # the link's field holding a section record's value
to = "fromObjectId"       # the link's field holding the client's value
where = { fromObjectType = "patients", toObjectType = "contacts" }

[sections.medications]
stream = "hubspot/medications_list"
join = { field = "properties.patient_mrn", to = "key" }
exclude = { "properties.discontinued" = "true" }
sort = ["properties.drug"]
fields = [
  { label = "Medication", field = "properties.drug", emphasis = true },
  { label = "Dose", field = "properties.strength" },
  { label = "Times", field = "properties.schedule", format = "list" },
  { label = "As needed (PRN)", field = "properties.prn_note", below = true },
]

[sections.signoff]
lines = ["Nurse"]
'''


def _obj(oid: str, **props: str) -> tuple[str, dict[str, object]]:
    return oid, {"id": oid, "properties": props, "archived": False}


def test_the_worked_example_prints_another_organisations_objects(tmp_path: Path) -> None:
    from pypdf import PdfReader

    from exporter.archive import Archive
    from exporter.careplan.printing import print_care_plans

    archive, _ = Archive.create(tmp_path / "h.db", key_file=tmp_path / "h.key")
    with archive:
        run = archive.begin_run("sync")
        archive.put_batch(run, "hubspot", "patients", [
            _obj("1", mrn="MRN-4512", first_name="Ngozi", last_name="Ọkafor",
                 date_of_birth="1939-04-02", status="Admitted", code_status="DNR",
                 polst_location="Kitchen drawer"),
            _obj("2", mrn="MRN-77", first_name="Tom", last_name="Reed", status="Discharged",
                 date_of_birth="1950-01-01", code_status="Full Code", polst_location="")])
        archive.put_batch(run, "hubspot", "medications_list", [
            _obj("m1", patient_mrn="mrn 4512", drug="Metoprolol", strength="25 mg",
                 schedule="08:00;20:00", discontinued="false", prn_note=""),
            _obj("m2", patient_mrn=" mrn4512 ", drug="Morphine", strength="2.5 mg",
                 schedule="", discontinued="false", prn_note="For breathlessness"),
            _obj("m3", patient_mrn="MRN-4512", drug="Digoxin", strength="62.5 mcg",
                 schedule="08:00", discontinued="true", prn_note=""),
            _obj("m4", patient_mrn="MRN-77", drug="Aspirin", strength="75 mg",
                 schedule="08:00", discontinued="false", prn_note="")])
        archive.put_batch(run, "hubspot", "allergies", [])
        archive.put_batch(run, "hubspot", "contacts", [
            _obj("c1", firstname="Ada", lastname="Ọkafor", relationship="Daughter",
                 phone="(555) 010-2030"),
            _obj("c2", firstname="Sam", lastname="Reed", relationship="Son", phone="1")])
        archive.put_batch(run, "hubspot", "associations", [
            ("patients/1/contacts/c1", {"fromObjectType": "patients", "fromObjectId": "1",
                                        "toObjectType": "contacts", "toObjectId": "c1"}),
            ("patients/2/contacts/c2", {"fromObjectType": "patients", "fromObjectId": "2",
                                        "toObjectType": "contacts", "toObjectId": "c2"})])
        archive.finish_run(run, "ok", {"sources": {"hubspot": {"status": "ok"}}})
        out = tmp_path / "harbour.pdf"
        definition = parse_definition(HARBOUR, "harbour.toml")
        result = print_care_plans(archive, definition, query="okafor", out=out)
    assert result.clients[0].display_key == "MRN-4512"
    text = " ".join((p.extract_text() or "") for p in PdfReader(out).pages)
    assert "HARBOUR HOME HEALTH" in text  # the heading is set in capitals
    for value in ("Ngozi Ọkafor", "2 Apr 1939", "DNR", "Kitchen drawer",
                  "Metoprolol", "08:00, 20:00", "Morphine", "For breathlessness",
                  "Ada Ọkafor", "Daughter", "(555) 010-2030", "Nurse"):
        assert value in text, value
    for absent in ("Digoxin", "Aspirin", "Sam Reed"):  # discontinued; another patient's
        assert absent not in text, absent
    assert "Not recorded: no allergies are recorded" in text


def _table(labels: list[str], rows: list[list[str]], nowrap: list[bool] | None = None
           ) -> SectionView:
    n = len(labels)
    return SectionView(id="t", title="T", layout="table", stream="crm/T", labels=labels,
                       emphasis=[False] * n, multiline=[False] * n, below=[False] * n,
                       nowrap=nowrap or [False] * n,
                       rows=[Row(cells=r, ref=f"id{i}") for i, r in enumerate(rows)])


def test_column_widths_fill_the_table_and_fit_unwrapped_values() -> None:
    s = _table(["Day", "Task", "Notes"],
               [["Thu 3 Dec 2026", "Light housekeeping", "Use the shower chair " * 4],
                ["Fri 4 Dec 2026", "Blood sugar check", ""]], nowrap=[True, False, False])
    cols = s.columns()
    assert [c[0] for c in cols] == [0, 1, 2]
    assert sum(w for _, w, _ in cols) == pytest.approx(100 - REF_COLUMN, abs=0.05)
    per_char = (100 - REF_COLUMN) / TABLE_CHARS
    day, task, notes = cols
    assert day[2] and day[1] >= len("Thu 3 Dec 2026") * per_char  # a date never wraps
    assert notes[1] > task[1] > day[1] * 0.5  # the long notes get the room that is left
    assert not notes[2]


def test_short_columns_share_the_room_by_length() -> None:
    cols = _table(["Name", "Phone"], [["Mildred Haddad", "(445) 555-5127"]]).columns()
    assert cols[0][1] == pytest.approx(cols[1][1], rel=0.1)


def test_when_nothing_fits_every_column_may_wrap() -> None:
    wide = ["x" * 30] * 4
    cols = _table(["A", "B", "C", "D"], [wide], nowrap=[True] * 4).columns()
    assert not any(unwrapped for _, _, unwrapped in cols)
    assert sum(w for _, w, _ in cols) == pytest.approx(100 - REF_COLUMN, abs=0.05)


def test_utc_values_are_shown_in_local_time() -> None:
    """Salesforce sends DateTimes in UTC: a care plan shows them as this computer's clock
    does (here five hours behind UTC); a value with its own offset keeps its wall time."""
    import os
    import time

    before = os.environ.get("TZ")
    os.environ["TZ"] = "XYZ+5"
    time.tzset()
    try:
        assert format_value("2026-12-01T14:00:00.000+0000", "datetime") == \
            "Tue 1 Dec 2026, 09:00"
        assert format_value("2026-12-01T03:00:00Z", "day") == "Mon 30 Nov 2026"
        assert format_value("2026-12-01T08:00:00-06:00", "time") == "08:00"
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()
