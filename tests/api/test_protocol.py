"""What every endpoint shares: problem+json for every error, the rate limit per key (429 with
Retry-After, counted in Redis across apps), CORS only for configured origins, and an OpenAPI
schema that holds together."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import World
from tests.api.test_content import assert_problem


async def test_unknown_paths_methods_and_bodies_are_problems(world: World) -> None:
    missing = await world.client.get("/api/v1/nothing/here")
    problem = assert_problem(missing, 404, "/api/v1/docs")
    assert problem["type"] == "urn:socialbot:problem:not-found"
    wrong = await world.client.get("/api/v1/auth/token")
    assert_problem(wrong, 405, "does not take GET; it takes POST")
    empty = await world.client.post("/api/v1/auth/token", json={})
    problem = assert_problem(empty, 422, "body.api_key")
    assert problem["errors"] == [{"field": "body.api_key", "message": "Field required"}]
    garbage = await world.client.post(
        "/api/v1/auth/token", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(garbage, 422, "JSON")
    task = await world.client.get("/api/v1/content/task/rm -rf", headers=await world.headers())
    assert_problem(task, 422, "task_id")


async def test_the_rate_limit_is_per_key_and_shared_by_processes(world: World) -> None:
    headers = await world.headers("busy")
    other = await world.headers("quiet")
    transports = [httpx.ASGITransport(app=world.web(rate_limit_per_min=3)) for _ in range(2)]
    clients = [httpx.AsyncClient(transport=t, base_url="http://bot") for t in transports]
    try:
        # the token exchange (through the world's own app) was the key's first call
        answers = [await clients[i % 2].get("/api/v1/auth/me", headers=headers) for i in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        limited = assert_problem(answers[2], 429, "more than 3 calls in the last minute")
        assert limited["type"] == "urn:socialbot:problem:rate-limited"
        assert 1 <= int(answers[2].headers["Retry-After"]) <= 60
        assert (await clients[0].get("/api/v1/auth/me", headers=other)).status_code == 200
    finally:
        for client in clients:
            await client.aclose()


async def test_cors_answers_only_the_configured_origins(world: World) -> None:
    preflight = {
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    closed = await world.client.options("/api/v1/content/generate", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    transport = httpx.ASGITransport(app=world.web(cors_origins=("https://app.example.com",)))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        opened = await client.options("/api/v1/content/generate", headers=preflight)
        assert opened.status_code == 200
        assert opened.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "authorization" in opened.headers["access-control-allow-headers"].lower()
        stranger = await client.options(
            "/api/v1/content/generate", headers=preflight | {"Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in stranger.headers
        outside = await client.get("/healthz", headers={"Origin": "https://app.example.com"})
        assert "access-control-allow-origin" not in outside.headers


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


async def test_the_openapi_schema_holds_together(world: World) -> None:
    assert (await world.client.get("/docs")).headers["location"] == "/api/v1/docs"
    assert (await world.client.get("/openapi.json")).headers["location"] == "/api/v1/openapi.json"
    page = await world.client.get("/api/v1/docs")
    assert page.status_code == 200 and "/api/v1/openapi.json" in page.text
    schema = (await world.client.get("/api/v1/openapi.json")).json()
    assert schema["openapi"].startswith("3.") and schema["info"]["title"] == "socialbot API"
    assert schema["servers"] == [{"url": "/api/v1"}]
    expected = {
        ("post", "/auth/token"),
        ("post", "/auth/refresh"),
        ("get", "/auth/me"),
        ("post", "/content/generate"),
        ("get", "/content/task/{task_id}"),
        ("get", "/drafts"),
        ("get", "/drafts/{draft_id}"),
        ("post", "/drafts/{draft_id}/approve"),
        ("post", "/drafts/{draft_id}/reject"),
        ("post", "/drafts/{draft_id}/schedule"),
        ("get", "/platforms/accounts"),
        ("post", "/publish"),
        ("get", "/analytics/overview"),
        ("get", "/analytics/platforms/{platform}"),
        ("get", "/analytics/trends"),
    }
    operations = {
        (method, path): op for path, item in schema["paths"].items() for method, op in item.items()
    }
    assert set(operations) == expected
    components = schema["components"]["schemas"]
    for (method, path), op in operations.items():
        responses = op["responses"]
        assert any(code.startswith("2") for code in responses), (method, path)
        assert op.get("summary") and op.get("description"), (method, path)
        for code, response in responses.items():
            if code[0] in "45":
                content = response["content"]["application/problem+json"]["schema"]
                assert content == {"$ref": "#/components/schemas/Problem"}, (method, path, code)
        if path != "/auth/token" and path != "/auth/refresh":
            assert op["security"] == [{"HTTPBearer": []}], (method, path)
    for ref in _refs(schema):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in components, ref
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert set(components["Problem"]["required"]) == {"type", "title", "status", "detail"}
