"""The OpenAPI document is complete and tells the truth about auth, purposes and errors."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

PUBLIC = {"/.well-known/jwks.json", "/healthz", "/readyz", "/metrics"}
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def doc(client: TestClient) -> dict[str, Any]:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    document: dict[str, Any] = r.json()
    return document


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def _resolve(doc: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/components/schemas/")
    schema: dict[str, Any] = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def test_every_route_is_documented(client: TestClient, doc: dict[str, Any]) -> None:
    routes = {
        (route.path, method.lower())
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    documented = {(path, method) for path, method, _ in _operations(doc)}
    assert routes == documented
    for path, method, op in _operations(doc):
        assert op.get("operationId"), (path, method)
        assert op.get("summary"), (path, method)


def test_every_response_has_content_and_every_ref_resolves(doc: dict[str, Any]) -> None:
    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if "$ref" in node else []
            return found + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(doc):
        _resolve(doc, ref)
    for path, method, op in _operations(doc):
        for status, response in op["responses"].items():
            assert response.get("description"), (path, method, status)
            assert response.get("content"), (path, method, status)


def test_errors_are_problem_json(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    problem = schemas["Problem"]
    assert set(problem["required"]) >= {"type", "title", "status", "detail", "instance"}
    for path, method, op in _operations(doc):
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            content = response["content"]
            assert list(content) == ["application/problem+json"], (path, method, status)
            schema = content["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}


def test_protected_routes_declare_bearer_auth_and_401(doc: dict[str, Any]) -> None:
    scheme = doc["components"]["securitySchemes"]["HTTPBearer"]
    assert scheme == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": scheme["description"],
    }
    for path, method, op in _operations(doc):
        if path in PUBLIC:
            assert "security" not in op, path
            continue
        assert op["security"] == [{"HTTPBearer": []}], (path, method)
        assert {"401", "422"} <= set(op["responses"]), (path, method)


def test_the_purpose_header_and_reveal_are_documented_on_reads(doc: dict[str, Any]) -> None:
    for path in ("/api/v1/persons", "/api/v1/persons/{uid}", "/api/v1/events"):
        params = {(p["in"], p["name"]): p for p in doc["paths"][path]["get"]["parameters"]}
        assert ("header", "X-Purpose") in params
        assert "purpose vocabulary" in params[("header", "X-Purpose")]["description"]
        assert ("query", "reveal") in params


def test_success_responses_have_schemas(doc: dict[str, Any]) -> None:
    get_person = doc["paths"]["/api/v1/persons/{uid}"]["get"]["responses"]["200"]
    schema = get_person["content"]["application/json"]["schema"]
    record = _resolve(doc, schema["$ref"])
    assert {"lineage", "household", "sources", "recent_events", "open_tasks", "masked"} <= set(
        record["properties"]
    )
    feedback = doc["paths"]["/api/v1/tasks/{uid}/feedback"]["post"]
    assert "multipart/form-data" in feedback["requestBody"]["content"]
