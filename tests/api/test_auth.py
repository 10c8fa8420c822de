"""/api/v1/auth: a key for tokens, refresh rotation, and every way a token is refused."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import httpx
import jwt

from services.api_tokens import TokenIssuer
from services.models import utcnow
from tests.api.conftest import SECRET, World


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(answer: httpx.Response, words: str) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"] == "urn:socialbot:problem:unauthorized" and problem["status"] == 401
    assert words in problem["detail"], problem["detail"]


async def test_a_key_gets_tokens_that_say_who_they_act_for(world: World) -> None:
    pair = await world.tokens(await world.new_key("ci-bot", "approver"))
    assert pair["token_type"] == "Bearer"
    assert pair["expires_in"] == 900 and pair["refresh_expires_in"] == 30 * 86_400
    me = await world.client.get("/api/v1/auth/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["key"] == "ci-bot" and body["role"] == "approver"
    assert body["acts_as"] == "API key ci-bot" and body["workspace"] == "workspace of olga"
    assert_refused(await world.client.get("/api/v1/auth/me"), "Authorization: Bearer")
    unknown = await world.client.post("/api/v1/auth/token", json={"api_key": "sbk_nope"})
    assert_refused(unknown, "not known")


async def test_refresh_rotates_and_a_reused_one_revokes_its_family(world: World) -> None:
    first = await world.tokens(await world.new_key())
    refresh = "/api/v1/auth/refresh"
    rotated = await world.client.post(refresh, json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    me = await world.client.get("/api/v1/auth/me", headers=bearer(second["access_token"]))
    assert me.status_code == 200

    reused = await world.client.post(refresh, json={"refresh_token": first["refresh_token"]})
    assert_refused(reused, "already used once")
    # the whole family is gone: the rotated refresh token and its access token too
    later = await world.client.post(refresh, json={"refresh_token": second["refresh_token"]})
    assert_refused(later, "revoked")
    stale = await world.client.get("/api/v1/auth/me", headers=bearer(second["access_token"]))
    assert_refused(stale, "revoked")
    # an access token is no refresh token; the key itself still works
    wrong = await world.client.post(refresh, json={"refresh_token": second["access_token"]})
    assert_refused(wrong, "not a refresh token")


async def test_a_revoked_key_stops_at_once(world: World) -> None:
    secret = await world.new_key("ci-bot")
    pair = await world.tokens(secret)
    me = "/api/v1/auth/me"
    assert (await world.client.get(me, headers=bearer(pair["access_token"]))).status_code == 200
    assert "revoked" in (await world.dm("/apikey revoke ci-bot")).text
    assert_refused(await world.client.get(me, headers=bearer(pair["access_token"])), "revoked")
    again = await world.client.post("/api/v1/auth/token", json={"api_key": secret})
    assert_refused(again, "was revoked")
    refresh = {"refresh_token": pair["refresh_token"]}
    assert_refused(await world.client.post("/api/v1/auth/refresh", json=refresh), "revoked")


async def test_expired_tokens_are_refused(world: World) -> None:
    secret = await world.new_key()
    earlier = TokenIssuer(
        secret_key=SECRET,
        access_ttl_s=900,
        refresh_ttl_s=3600,
        now=lambda: utcnow() - timedelta(hours=2),
    )
    _, old = await earlier.exchange(world.runtime.app.sessions, secret)
    answer = await world.client.get("/api/v1/auth/me", headers=bearer(old.access_token))
    assert_refused(answer, "access token has expired. Refresh it")
    answer = await world.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": old.refresh_token}
    )
    assert_refused(answer, "refresh token has expired")


async def test_altered_or_foreign_tokens_are_refused(world: World) -> None:
    await world.new_key("first")
    pair = await world.tokens(await world.new_key("second", "owner"))
    header, payload, signature = pair["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] != "1"
    claims["sub"] = "1"  # pretend to be the other key, keeping the signature
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    for token in (
        f"{header}.{forged}.{signature}",
        pair["access_token"][:-3],
        jwt.encode(claims, "another secret key, not ours at all", algorithm="HS256"),
        jwt.encode(claims, "", algorithm="none"),
    ):
        answer = await world.client.get("/api/v1/auth/me", headers=bearer(token))
        assert_refused(answer, "not valid")
