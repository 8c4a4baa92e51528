"""Hostile input on every API route is refused with a 4xx and the one error envelope, naming what
was wrong, never a 500: text bounded by its column's length, JSON nested 100,000 deep, control
characters and lone surrogates, giant or non-finite numbers, ids of 2**63, days outside
1900-2200, and uploaded spreadsheets that inflate far beyond their size."""

import io
import re
import time
import zipfile

import pytest
from marshmallow import fields, validate

from fundapp.api.core import OPERATIONS
from fundapp.app import create_app
from fundapp.fields import Day, Money, Percent, Units, _Id
from tests.api.conftest import SEED_EMAIL, seeded_database
from tests.conftest import api_token, make_config


def unbounded_strings(schema, prefix=""):
    for name, field in schema.fields.items():
        if field.dump_only:
            continue
        if isinstance(field, fields.Nested):
            nested = field.schema
            yield from unbounded_strings(nested, f"{prefix}{name}.")
            continue
        if isinstance(field, fields.List):
            field = field.inner
            if isinstance(field, fields.Nested):
                yield from unbounded_strings(field.schema, f"{prefix}{name}[].")
                continue
        if not isinstance(field, fields.String) or isinstance(field, fields.Email):
            continue
        described = getattr(field, "openapi_properties", {})  # a field that states its bound
        bounded = getattr(field, "max", None) is not None or bool(
            {"maxLength", "enum", "pattern"} & set(described)) or any(
            isinstance(v, validate.Length) and v.max is not None
            or isinstance(v, validate.OneOf | validate.Regexp) for v in field.validators)
        if not bounded:
            yield f"{prefix}{name}"


def test_every_text_field_of_every_request_body_has_a_length_limit():
    create_app(make_config("sqlite://"))  # registers every route
    problems = {}
    for operation in OPERATIONS:
        if operation.request_schema is None:
            continue
        found = list(unbounded_strings(operation.request_schema()))
        if found:
            problems[f"{operation.method} {operation.rule}"] = found
    assert problems == {}


# --- hostile input on every route ---------------------------------------------------------------
# Each refusal is a 4xx with the one error envelope that names what was wrong; never a 500.

ENVELOPE_KEYS = {"code", "message", "details"}
ID = re.compile(r"<int:([a-z_]+)>")


def envelope_of(response, *statuses: int) -> dict:
    assert response.status_code in statuses, (response.status_code,
                                              response.get_data(as_text=True)[:300])
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == ENVELOPE_KEYS, body
    assert body["error"]["message"]
    return body["error"]


@pytest.fixture
def database(request, tmp_path):
    """The demo fund: rows at ids 1, 2, 3 ..., so each route reads its body instead of a 404."""
    yield from seeded_database(request, tmp_path)


@pytest.fixture
def caller(app):
    """A client and the bearer headers of a user with every role (no route refuses them)."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client, {"Authorization": f"Bearer {api_token(client, SEED_EMAIL)}"}


def body_operations():
    return [op for op in OPERATIONS if op.request_schema is not None]


def url_of(operation, id_value=1) -> str:
    return ID.sub(str(id_value), operation.rule)


def load_fields(operation, *kinds):
    """(name in the JSON body, field) of the request schema's top-level fields of these kinds."""
    schema = operation.request_schema()
    return [(field.data_key or name, field) for name, field in schema.fields.items()
            if not field.dump_only and isinstance(field, kinds)]


def test_json_nested_100000_deep_is_a_422_on_every_json_route(caller):
    client, headers = caller
    deep = "[" * 100_000 + "]" * 100_000
    assert len(body_operations()) >= 30
    for operation in body_operations():
        response = client.open(url_of(operation), method=operation.method, headers=headers,
                               data=deep, content_type="application/json")
        error = envelope_of(response, 422)
        assert "nested too deeply" in error["message"], (operation.rule, error)
    # Also when the body does not say it is JSON (the API reads it as JSON all the same).
    response = client.post("/api/v1/companies", headers=headers, data=deep,
                           content_type="text/plain")
    assert "nested too deeply" in envelope_of(response, 422)["message"]
    # A body of 32 levels is read as usual: its fields are checked, not its depth.
    nested = {"name": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}
    error = envelope_of(client.post("/api/v1/companies", headers=headers, json=nested), 422)
    assert "nested" not in error["message"]


def test_a_json_body_over_one_megabyte_is_a_413(caller):
    client, headers = caller
    response = client.post("/api/v1/companies", headers=headers,
                           json={"legal_name": "x" * (1024 * 1024 + 1)})
    assert envelope_of(response, 413)["code"] == "payload_too_large"


@pytest.mark.parametrize("text", ["a\x00b", "\ud800", "abc\x1bdef"],
                         ids=["nul", "lone-surrogate", "escape"])
def test_a_control_character_or_lone_surrogate_in_any_field_is_a_422_naming_it(caller, text):
    client, headers = caller
    for operation in body_operations():
        schema = operation.request_schema()
        for name, field in schema.fields.items():
            if field.dump_only:
                continue
            key = field.data_key or name
            response = client.open(url_of(operation), method=operation.method, headers=headers,
                                   json={key: text})
            error = envelope_of(response, 422)
            assert key in error["details"], (operation.rule, key, error)
            assert "control characters" in error["details"][key][0]
    # Nested, in a list, and as a query argument.
    error = envelope_of(client.post("/api/v1/roadshows", headers=headers,
                                    json={"panel": [{"name": "ok"}, {"name": "a\x00"}]}), 422)
    assert error["details"] == {"panel": {"1": {"name": [
        "Remove the control characters from this text."]}}}
    error = envelope_of(client.get("/api/v1/ledger?actor=a%00b", headers=headers), 422)
    assert list(error["details"]) == ["actor"]


@pytest.mark.parametrize("value", ["1e999999999", "NaN", "Infinity", "-Infinity", 1e40,
                                   "1" * 5000, "0.0000000000000000000000001"])
def test_money_units_and_rates_beyond_their_bounds_are_a_422_naming_the_field(caller, value):
    client, headers = caller
    checked = 0
    for operation in body_operations():
        for key, _field in load_fields(operation, Money, Units, Percent):
            response = client.open(url_of(operation), method=operation.method, headers=headers,
                                   json={key: value})
            error = envelope_of(response, 422)
            assert key in error["details"], (operation.rule, key, error)
            checked += 1
    assert checked >= 20


def test_nan_and_infinity_as_json_literals_are_a_422_naming_the_field(caller):
    client, headers = caller
    for literal in ("NaN", "Infinity", "-Infinity", "1e999"):
        response = client.post("/api/v1/holdings/1/marks", headers=headers,
                               data=f'{{"value_per_unit": {literal}, "inputs": {{"x": {literal}}}}}',
                               content_type="application/json")
        error = envelope_of(response, 422)
        assert {"value_per_unit", "inputs"} <= set(error["details"]), (literal, error)


def test_ids_of_2_to_the_63_are_not_found_in_urls_and_refused_in_bodies(caller):
    client, headers = caller
    paths = {op.rule: op for op in OPERATIONS if ID.search(op.rule)}
    assert len(paths) >= 20
    for huge in (2**31, 2**63, 2**64, 10**40):
        for operation in paths.values():
            response = client.open(url_of(operation, huge), method=operation.method,
                                   headers=headers, json={})
            envelope_of(response, 404, 405)
    checked = 0
    for operation in body_operations():
        for key, _field in load_fields(operation, _Id):
            for huge in (2**63, -(2**63), 1e300, "9" * 40, "1e999999999"):
                response = client.open(url_of(operation), method=operation.method,
                                       headers=headers, json={key: huge})
                if response.status_code == 403 and "/ic/meetings/" in operation.rule:
                    continue  # only the meeting's members may post here, whatever they send
                error = envelope_of(response, 422)
                assert key in error["details"], (operation.rule, key, huge, error)
                checked += 1
    assert checked > 0
    # As query arguments that filter by id.
    for query in ("roadshow=-1693495584371431178240", "manager=99999999999999999999"):
        error = envelope_of(client.get(f"/api/v1/deals?{query}", headers=headers), 422)
        assert list(error["details"]) == [query.split("=")[0]]


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1899-12-31", "2201-01-01"])
def test_days_outside_1900_to_2200_are_a_422_naming_the_field(caller, day):
    client, headers = caller
    checked = 0
    for operation in body_operations():
        if operation.rule.endswith(("/votes", "/decisions")) and "/ic/meetings/" in operation.rule:
            # Who may vote or decide at a meeting is asked before the body is read (a member
            # of no meeting gets a 403, tests/test_access.py); the fields themselves are the
            # same Day field, and tests/test_effective_dates.py refuses bad vote/decision days.
            continue
        for key, _field in load_fields(operation, Day):
            response = client.open(url_of(operation), method=operation.method, headers=headers,
                                   json={key: day})
            error = envelope_of(response, 422)
            assert key in error["details"], (operation.rule, key, error)
            assert "1900-01-01" in error["details"][key][0], error
            checked += 1
    assert checked >= 20
    for operation in OPERATIONS:
        for param in operation.params:
            if param.get("in") == "query" and param["schema"].get("format") == "date":
                response = client.get(f"{url_of(operation)}?{param['name']}={day}",
                                      headers=headers)
                error = envelope_of(response, 422)
                assert param["name"] in error["details"], (operation.rule, param, error)


def test_days_at_the_edges_of_the_range_are_accepted_by_the_field():
    field = Day()
    assert str(field.deserialize("1900-01-01")) == "1900-01-01"
    assert str(field.deserialize("2200-12-31")) == "2200-12-31"


# --- uploaded spreadsheets ---------------------------------------------------------------------

def xlsx(shared_strings: bytes | None = None, sheet_cells: str = '<c r="A1" t="s"><v>0</v></c>',
         inflate_to: int = 0) -> bytes:
    """A minimal XLSX; `inflate_to` pads the shared strings with that many bytes of blanks,
    which deflate compresses about a thousand times."""
    content = io.BytesIO()
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    with zipfile.ZipFile(content, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", (
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats'
            '-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
            'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml'
            '.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application'
            '/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'))
        archive.writestr("_rels/.rels", (
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            f'2006/relationships"><Relationship Id="rId1" Type="{rel}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>'))
        archive.writestr("xl/workbook.xml", (
            f'<?xml version="1.0"?><workbook {ns} xmlns:r="{rel}"><sheets><sheet name="S" '
            'sheetId="1" r:id="rId1"/></sheets></workbook>'))
        archive.writestr("xl/_rels/workbook.xml.rels", (
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            f'2006/relationships"><Relationship Id="rId1" Type="{rel}/worksheet" '
            f'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{rel}/sharedStrings" '
            'Target="sharedStrings.xml"/></Relationships>'))
        archive.writestr("xl/worksheets/sheet1.xml", (
            f'<?xml version="1.0"?><worksheet {ns}><sheetData><row r="1">{sheet_cells}</row>'
            '</sheetData></worksheet>'))
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as stream:
            stream.write(f'<?xml version="1.0"?><sst {ns}><si><t>'.encode())
            blanks = b" " * (1024 * 1024)
            for _ in range(inflate_to // len(blanks)):
                stream.write(blanks)
            stream.write(shared_strings or "名称 legal name".encode())
            stream.write(b"</t></si></sst>")
    return content.getvalue()


def test_a_small_xlsx_whose_shared_strings_inflate_to_100_mb_is_refused_at_once():
    from fundapp.deals.intake import SheetError, read_table

    bomb = xlsx(inflate_to=100 * 1024 * 1024)
    assert len(bomb) < 200 * 1024  # about 100 KB on the wire
    started = time.monotonic()
    with pytest.raises(SheetError) as refused:
        read_table("bomb.xlsx", bomb)
    assert time.monotonic() - started < 2
    assert "unpacks to 100 MB" in str(refused.value.message)
    # Under the size limit but inflating far more than a real workbook: refused too.
    with pytest.raises(SheetError) as refused:
        read_table("bomb.xlsx", xlsx(inflate_to=20 * 1024 * 1024))
    assert "compressed far more than a real one" in str(refused.value.message)
    # The same workbook without the padding reads as usual.
    assert read_table("ok.xlsx", xlsx()) == [["名称 legal name"]]


def test_an_xlsx_with_a_cell_in_column_xfd_or_too_many_cells_is_refused():
    from fundapp.deals.intake import SheetError, read_table
    from fundapp.spreadsheets import MAX_CELLS

    with pytest.raises(SheetError) as refused:
        read_table("wide.xlsx", xlsx(sheet_cells='<c r="XFD1" t="s"><v>0</v></c>'))
    assert "beyond column 256" in str(refused.value.message)
    many = "".join(f'<c r="A{i}"><v>1</v></c>' for i in range(MAX_CELLS + 1))
    with pytest.raises(SheetError) as refused:
        read_table("many.xlsx", xlsx(sheet_cells=many))
    assert "more than 500000 cells" in str(refused.value.message)


def test_a_csv_of_millions_of_empty_cells_is_refused_before_it_is_parsed():
    from fundapp.deals.intake import SheetError, read_table

    with pytest.raises(SheetError) as refused:
        read_table("commas.csv", b"," * (3 * 1024 * 1024))
    assert "more than 1000000 cells" in str(refused.value.message)


def test_the_zip_bomb_uploaded_to_a_roadshow_is_a_422_naming_the_file(caller):
    client, headers = caller
    response = client.post("/api/v1/roadshows", headers=headers,
                           json={"name": "Spring roadshow", "held_on": "2026-03-01"})
    assert response.status_code == 201, response.get_json()
    roadshow_id = response.get_json()["id"]
    started = time.monotonic()
    response = client.post(f"/api/v1/roadshows/{roadshow_id}/import", headers=headers,
                           data={"file": (io.BytesIO(xlsx(inflate_to=100 * 1024 * 1024)),
                                          "signup.xlsx")})
    assert time.monotonic() - started < 5
    error = envelope_of(response, 422)
    assert "unpacks to 100 MB" in error["details"]["file"][0]
