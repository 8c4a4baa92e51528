"""The OpenAPI document says what the API does with money: decimal strings everywhere."""

from fundapp.app import create_app
from tests.conftest import make_config


def numbers(node, path=""):
    if isinstance(node, dict):
        if node.get("type") == "number":
            yield path
        for key, value in node.items():
            yield from numbers(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from numbers(value, f"{path}[{index}]")


def test_no_amount_units_or_rate_is_typed_as_a_json_number():
    app = create_app(make_config("sqlite://"))
    spec = app.test_client().get("/api/openapi.json").get_json()
    assert list(numbers(spec)) == []
    amounts = [(name, prop) for schema in spec["components"]["schemas"].values()
               for name, prop in schema.get("properties", {}).items()
               if name.endswith("_amount")]
    assert amounts, "the document has no amounts at all"
    assert {prop.get("type") for _, prop in amounts} == {"string"}, [
        name for name, prop in amounts if prop.get("type") != "string"]
