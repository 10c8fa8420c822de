"""/apikey new|revoke and /apikeys through the router: owners only, private chats only, a key
shown once and kept as a hash, acting as a member row of its own."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from services.models import AuditEntry, Member, Workspace
from services.web_models import ApiKey
from tests.api.conftest import World


async def _keys(world: World) -> list[ApiKey]:
    async with world.runtime.app.sessions() as session:
        return list((await session.scalars(select(ApiKey).order_by(ApiKey.id))).all())


async def test_an_owner_makes_a_key_in_a_private_chat(world: World) -> None:
    reply = await world.dm("/apikey new CI-Bot")
    secret = reply.text.split("\n\n")[1]
    assert secret.startswith("sbk_") and "shown only this once" in reply.text
    assert "role creator" in reply.text  # the default
    (key,) = await _keys(world)
    assert key.name == "ci-bot" and key.role == "creator" and key.revoked_at is None
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert key.prefix == secret[:12]
    assert secret not in repr([getattr(key, c.key) for c in ApiKey.__table__.columns])
    async with world.runtime.app.sessions() as session:
        member = await session.get(Member, key.member_id)
        audit = await session.scalar(select(AuditEntry).where(AuditEntry.action == "apikey.create"))
    assert member is not None and member.workspace_id == key.workspace_id
    assert (member.user_ref, member.display_name, member.role) == (
        f"api:{key.id}",
        "API key ci-bot",
        "creator",
    )
    assert audit is not None and audit.target == f"apikey:{key.id}"
    assert audit.detail == {"name": "ci-bot", "role": "creator"}


async def test_a_group_chat_gets_no_key(world: World) -> None:
    reply = await world.say("/apikey new ci-bot")
    assert reply.alert and "private chat" in reply.text and "sbk_" not in reply.text
    assert await _keys(world) == []
    assert "private chat" in (await world.say("/apikeys")).text


async def test_only_owners_and_roles_up_to_theirs(world: World) -> None:
    await world.say("hello", user="sam")  # sam joins the team's chat as a creator
    refused = await world.dm("/apikey new sams-key", user="sam")
    assert refused.alert and "owner" in refused.text
    stranger = await world.dm("/apikey new mine", user="nobody")
    assert "you own no workspace" in stranger.text
    assert "not a role" in (await world.dm("/apikey new x superuser")).text
    assert "can't be a key's name" in (await world.dm("/apikey new no_way!")).text
    assert "role approver" in (await world.dm("/apikey new reviewer approver")).text
    again = await world.dm("/apikey new reviewer")
    assert "already has a key called reviewer" in again.text
    assert [(k.name, k.role) for k in await _keys(world)] == [("reviewer", "approver")]


async def test_list_shows_no_secret_and_revoke_stops_a_key(world: World) -> None:
    secret = await world.new_key("ci-bot")
    await world.new_key("zapier", "viewer")
    listing = await world.dm("/apikeys")
    assert "ci-bot (sbk_" in listing.text and "zapier" in listing.text
    assert "viewer" in listing.text and "never" in listing.text
    assert secret not in listing.text
    assert "revoked" in (await world.dm("/apikey revoke ci-bot")).text
    assert "no key called ci-bot" in (await world.dm("/apikey revoke ci-bot")).text
    assert "ci-bot" not in (await world.dm("/apikey list")).text
    keys = {k.name: k for k in await _keys(world)}
    assert keys["ci-bot"].revoked_at is not None and keys["zapier"].revoked_at is None
    async with world.runtime.app.sessions() as session:
        member = await session.get(Member, keys["ci-bot"].member_id)
    assert member is not None and member.role == "viewer"
    # the name is free again
    assert "sbk_" in (await world.dm("/apikey new ci-bot")).text


async def test_an_owner_of_several_brands_names_one(world: World) -> None:
    assert "Made the brand" in (await world.say("/brand new Northside Bakery")).text
    ask = await world.dm("/apikey new ci-bot")
    assert "several brands" in ask.text and "Northside Bakery" in ask.text
    assert await _keys(world) == []
    made = await world.dm("/apikey new ci-bot brand: northside bakery")
    assert "“Northside Bakery”" in made.text
    (key,) = await _keys(world)
    async with world.runtime.app.sessions() as session:
        brand = await session.get(Workspace, key.workspace_id)
    assert brand is not None and brand.name == "Northside Bakery"
    assert "no brand called" in (await world.dm("/apikeys brand: Elsewhere")).text


async def test_an_owner_key_does_not_count_as_the_last_owner(world: World) -> None:
    await world.new_key("robot", "owner")
    refused = await world.say("/role @olga creator")
    assert refused.alert and "last owner" in refused.text
