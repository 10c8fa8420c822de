"""The fake Discord, driven by the real discord.py (2.x): login, gateway, commands, interactions."""

from __future__ import annotations

import asyncio
import io
import re
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

with warnings.catch_warnings():  # discord.py 2.7 imports audioop, deprecated since Python 3.11
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord
from discord.ext import commands

from tests.fakes.discord_server import EPHEMERAL, FakeDiscord

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8
Button = discord.ui.Button[discord.ui.View]


class Decide(discord.ui.DynamicItem[Button], template=r"d:(?P<verb>[a-z]+):(?P<id>[0-9]+)"):
    """A persistent approve/reject button: its state lives in the custom_id."""

    def __init__(self, verb: str, item_id: int) -> None:
        button: Button = discord.ui.Button(label=verb.title(), custom_id=f"d:{verb}:{item_id}")
        super().__init__(button)
        self.verb, self.item_id = verb, item_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> Decide:
        """Rebuild the button from a pressed custom_id."""
        return cls(match["verb"], int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Acknowledge silently, then tell the presser privately."""
        await interaction.response.defer()
        text = f"{self.verb} {self.item_id} by {interaction.user.name}"
        await interaction.followup.send(text, ephemeral=True)


def make_bot(*, content: bool = False, members: bool = False) -> commands.Bot:
    """A real bot with `/ping` and `/draft`, and the Decide buttons registered."""
    intents = discord.Intents.default()
    intents.message_content, intents.members = content, members
    bot = commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.05)
    bot.add_dynamic_items(Decide)

    @bot.tree.command(description="Check the bot is alive")
    async def ping(interaction: discord.Interaction, times: int = 1) -> None:
        await interaction.response.send_message("pong" * times)

    @bot.tree.command(description="Draft a video")
    async def draft(interaction: discord.Interaction, request: str) -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        await asyncio.sleep(0.2)
        await interaction.followup.send(f"drafting {request!r}")
        await interaction.edit_original_response(content=f"drafted {request!r}")

    return bot


@asynccontextmanager
async def running(dc: FakeDiscord, bot: commands.Bot) -> AsyncIterator[commands.Bot]:
    """Log `bot` in against the fake, connect it, wait for on_ready; close it afterwards."""
    await bot.login(dc.token)
    task = asyncio.create_task(bot.connect())
    try:
        await asyncio.wait_for(bot.wait_until_ready(), 5)
        yield bot
    finally:
        await bot.close()
        await task


@pytest.fixture
async def dc() -> AsyncIterator[FakeDiscord]:
    """A running fake that discord.py points at."""
    async with FakeDiscord(app_id=4242, bot_name="socialbot") as fake:
        yield fake
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not leftover, f"tasks left running: {leftover}"


def text_channel(bot: commands.Bot, dc: FakeDiscord, name: str) -> discord.TextChannel:
    """The bot's view of the fake's channel `name`."""
    channel = bot.get_channel(dc.channel(name).id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_login_identify_ready_and_the_guild(dc: FakeDiscord) -> None:
    dc.channel("drafts")
    alice = dc.member("alice", roles=["editor"])
    bot = make_bot(members=True)
    async with running(dc, bot):
        assert bot.user is not None and (bot.user.name, bot.user.id) == ("socialbot", 4242)
        assert bot.application_id == 4242 and dc.connected and dc.heartbeats >= 1
        [guild] = bot.guilds
        assert (guild.id, guild.name) == (dc.guild.id, "Test guild") and guild.chunked
        assert sorted(c.name for c in guild.text_channels) == ["drafts", "general"]
        assert {r.name for r in guild.roles} == {"@everyone", "socialbot", "editor"}
        member = guild.get_member(alice.id)
        assert member is not None and [r.name for r in member.roles[1:]] == ["editor"]
        fetched = await bot.fetch_channel(dc.channel("drafts").id)
        assert fetched.id == dc.channel("drafts").id
    [identify] = dc.identifies
    assert identify["token"] == dc.token and identify["intents"] == bot.intents.value
    first = [(c.method, c.path) for c in dc.calls[:2]]
    assert first == [("GET", "/users/@me"), ("GET", "/oauth2/applications/@me")]
    assert not dc.connected


async def test_commands_sync_and_a_slash_command_is_answered(dc: FakeDiscord) -> None:
    general, bob = dc.channel("general"), dc.member("bob")
    bot = make_bot()
    async with running(dc, bot):
        with pytest.raises(LookupError, match="not synced"):
            await dc.slash(general, bob, "ping")
        synced = await bot.tree.sync()
        guild = discord.Object(dc.guild.id)
        bot.tree.copy_global_to(guild=guild)
        assert len(await bot.tree.sync(guild=guild)) == 2
        ping = await dc.slash(general, bob, "ping", {"times": 2})
        response = await dc.wait_for_response(ping)
    assert sorted(c.name for c in synced) == ["draft", "ping"]
    assert sorted(c["name"] for c in dc.commands) == ["draft", "ping"]
    assert dc.guild_commands[0]["guild_id"] == str(dc.guild.id)
    spec = next(c for c in dc.commands if c["name"] == "ping")
    assert [(o["name"], o["type"], o["required"]) for o in spec["options"]] == [("times", 4, False)]
    assert ping.raw["data"]["options"] == [{"name": "times", "type": 4, "value": 2}]
    assert ping.raw["data"]["guild_id"] == str(dc.guild.id)  # guild copy wins
    assert (response.kind, response.type, response.content) == ("callback", 4, "pongpong")
    assert not response.ephemeral and ping.ack_delay is not None and ping.ack_delay < 3
    [message] = dc.messages(general)
    assert (message.content, message.kind, message.interaction) == ("pongpong", "response", ping)
    assert dc.calls_to("PUT", r"/applications/4242/commands$")[0].status == 200


async def test_buttons_attachments_and_persistence_across_restarts(dc: FakeDiscord) -> None:
    general, carol = dc.channel("general"), dc.member("carol", roles=["approver"])
    bot = make_bot()
    async with running(dc, bot):
        view = discord.ui.View(timeout=None)
        view.add_item(Decide("approve", 42)).add_item(Decide("reject", 42))
        clip = discord.File(io.BytesIO(VIDEO), "clip.mp4")
        sent = await text_channel(bot, dc, "general").send("Draft 42", view=view, file=clip)
        [message] = dc.messages(general)
        assert sent.id == message.id and sent.attachments[0].size == len(VIDEO)
        assert [b["custom_id"] for b in message.buttons] == ["d:approve:42", "d:reject:42"]
        assert message.custom_id("Reject") == "d:reject:42"
        [attachment] = message.attachments
        assert (attachment.filename, attachment.content_type) == ("clip.mp4", "video/mp4")
        assert attachment.data == VIDEO and await sent.attachments[0].read() == VIDEO
        [post] = dc.calls_to("POST", r"/channels/\d+/messages$")
        assert post.encoding == "multipart" and post.files["files[0]"].data == VIDEO
        assert post.payload["content"] == "Draft 42"
        with pytest.raises(ValueError, match="no component"):
            await dc.press(general, carol, message, "d:maybe:42")
        first = await dc.press(general, carol, message, label="Approve")
        await dc.wait_for_response(first, 2)
    bot = make_bot()  # a new process: same fake, same messages
    async with running(dc, bot):
        second = await dc.press(general, carol, message.id, "d:reject:42")
        await dc.wait_for_response(second, 2)
    assert len(dc.identifies) == 2 and len(dc.messages(general)) == 3
    for interaction, text in [(first, "approve 42 by carol"), (second, "reject 42 by carol")]:
        callback, followup = dc.responses(interaction)
        assert (callback.type, callback.message, followup.kind) == (6, None, "followup")
        assert followup.content == text and followup.ephemeral
        assert followup.message is not None and followup.message.flags & EPHEMERAL
    assert first.raw["data"] == {"custom_id": "d:approve:42", "component_type": 2}
    assert first.raw["message"]["id"] == str(message.id)


async def test_a_deferred_command_follows_up_with_timings(dc: FakeDiscord) -> None:
    general, dan = dc.channel("general"), dc.member("dan")
    bot = make_bot()
    async with running(dc, bot):
        await bot.tree.sync()
        draft = await dc.slash(general, dan, "draft", {"request": "a cat video"})
        await dc.wait_for_response(draft, 3)
    defer, followup, edit = dc.responses(draft)
    assert (defer.kind, defer.type, defer.ephemeral) == ("callback", 5, True)
    assert defer.after < 3 and followup.after >= defer.after + 0.2
    assert followup.kind == "followup" and followup.content == "drafting 'a cat video'"
    assert edit.kind == "edit" and edit.after >= followup.after
    [message] = dc.messages(general)  # the follow-up filled the "thinking" message
    assert message is draft.original and message.ephemeral and message.kind == "response"
    assert [e.content for e in message.edits] == ["drafting 'a cat video'", "drafted 'a cat video'"]
    assert draft.raw["data"]["options"] == [{"name": "request", "type": 3, "value": "a cat video"}]


async def test_user_messages_reach_the_bot_per_the_content_intent(dc: FakeDiscord) -> None:
    general, erin = dc.channel("general"), dc.member("erin")
    seen: list[tuple[str, list[bytes]]] = []
    for content in (False, True):
        bot, before = make_bot(content=content), len(seen)

        @bot.event
        async def on_message(message: discord.Message) -> None:
            if not message.author.bot:
                seen.append((message.content, [await a.read() for a in message.attachments]))

        async with running(dc, bot):
            await dc.say(general, erin, "make it short", attachments=[("a.png", b"PNG", "")])
            await dc.say(general, erin, f"{dc.bot.mention} hello")
            await dc.wait_for(lambda: len(seen) >= before + 2)  # noqa: B023
    hello: tuple[str, list[bytes]] = (
        f"<@{dc.bot.id}> hello",
        [],
    )  # mentioned: content even without the intent
    assert sorted(seen[:2]) == [("", []), hello]  # (the reads finish in any order)
    assert sorted(seen[2:]) == [hello, ("make it short", [b"PNG"])]
    assert [m.content for m in dc.history(general)][:2] == ["make it short", "<@4242> hello"]


async def test_rate_limits_are_retried_and_errors_raised(dc: FakeDiscord) -> None:
    bot = make_bot()
    async with running(dc, bot):
        channel = text_channel(bot, dc, "general")
        dc.fail_next("POST", r"/channels/\d+/messages$", 429, retry_after=0.05)
        await channel.send("after a 429")
        dc.fail_next(
            "*", r"/channels/\d+/messages$", 403, {"message": "Missing Access", "code": 50001}
        )
        with pytest.raises(discord.Forbidden) as raised:
            await channel.send("never")
        sent = await channel.send("edit me")
        await sent.edit(content="edited")
        await sent.delete()
    assert raised.value.code == 50001
    statuses = [c.status for c in dc.calls_to("*", r"/channels/\d+/messages")]
    assert statuses == [429, 200, 403, 200, 200, 204]
    messages = dc.messages(dc.channel("general"), include_deleted=True)
    assert [(m.content, m.deleted, len(m.edits)) for m in messages] == [
        ("after a 429", False, 0),
        ("edited", True, 1),
    ]


async def test_the_bot_resumes_after_a_dropped_connection(dc: FakeDiscord) -> None:
    general, fay = dc.channel("general"), dc.member("fay")
    bot = make_bot()
    resumed = asyncio.Event()

    @bot.listen()
    async def on_resumed() -> None:
        resumed.set()

    async with running(dc, bot):
        await bot.tree.sync()
        await dc.drop_connections(code=4000)
        await asyncio.wait_for(resumed.wait(), 5)
        ping = await dc.slash(general, fay, "ping")
        assert (await dc.wait_for_response(ping)).content == "pong"
    assert len(dc.identifies) == 1  # resumed, not re-identified


async def test_wire_details_for_raw_clients(dc: FakeDiscord) -> None:
    async with aiohttp.ClientSession(base_url=dc.base_url) as http:
        async with http.get("/api/v10/users/@me") as response:
            assert response.status == 401 and await response.json() == {
                "message": "401: Unauthorized",
                "code": 0,
            }
        auth = {"Authorization": f"Bot {dc.token}"}
        async with http.get("/api/v10/gateway/bot", headers=auth) as response:
            assert response.headers["Content-Type"] == "application/json"
            assert (await response.json())["url"] == dc.ws_url
        async with http.post("/api/v10/interactions/1/nope/callback", json={"type": 4}) as response:
            assert response.status == 404 and (await response.json())["code"] == 10062
    assert f"{dc.base_url}/api/v10" == discord.http.Route.BASE
    assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == dc.ws_url


async def test_options_resolve_and_messages_update_in_place(dc: FakeDiscord) -> None:
    general, gus = dc.channel("general"), dc.member("gus", roles=["editor"])
    bot = make_bot()

    @bot.tree.command(description="Show what came in")
    async def inspect(
        interaction: discord.Interaction,
        who: discord.Member,
        role: discord.Role,
        file: discord.Attachment,
    ) -> None:
        text = f"{who.name}/{role.name}/{file.filename}:{(await file.read()).decode()}"
        await interaction.response.send_message(text, ephemeral=True)

    class Swap(discord.ui.View):
        @discord.ui.button(label="Swap", custom_id="swap")
        async def swap(self, interaction: discord.Interaction, button: Button) -> None:
            clip = discord.File(io.BytesIO(b"v2"), "v2.mp4")
            await interaction.response.edit_message(content="Draft v2", attachments=[clip])
            note = await interaction.followup.send("swapped", ephemeral=True, wait=True)
            await note.edit(content="swapped to v2")

    async with running(dc, bot):
        await bot.tree.sync()
        upload = ("notes.txt", b"hi", "text/plain")
        options = {"who": gus, "role": dc.role("editor"), "file": upload}
        asked = await dc.slash(general, gus, "inspect", options)
        assert (await dc.wait_for_response(asked)).content == "gus/editor/notes.txt:hi"
        assert dc.responses(asked)[0].ephemeral
        view = Swap(timeout=None)
        bot.add_view(view)
        sent = await text_channel(bot, dc, "general").send("Draft v1", view=view)
        pressed = await dc.press(general, gus, sent.id, label="Swap")
        await dc.wait_for_response(pressed, 3)
    assert [o["type"] for o in asked.raw["data"]["options"]] == [6, 8, 11]
    update, followup, edit = dc.responses(pressed)
    assert (update.type, update.message is not None) == (7, True)
    callback = dc.calls_to("POST", r"/interactions/\d+/.+/callback$")[-1]
    assert callback.encoding == "multipart" and callback.files["files[0]"].data == b"v2"
    assert callback.query == {"with_response": "1"}
    [draft] = [m for m in dc.messages(general) if m.id == sent.id]
    assert draft.content == "Draft v2" and [a.data for a in draft.attachments] == [b"v2"]
    assert [e.content for e in draft.edits] == ["Draft v2"]
    assert edit.kind == "edit" and edit.message is followup.message
    assert followup.message is not None and followup.message.content == "swapped to v2"


async def test_an_answer_after_the_deadline_is_an_unknown_interaction() -> None:
    async with FakeDiscord(ack_deadline=0.1) as dc:
        errors: list[Exception] = []
        bot = make_bot()

        @bot.tree.command(description="Too slow")
        async def slow(interaction: discord.Interaction) -> None:
            await asyncio.sleep(0.2)
            await interaction.response.send_message("late")

        @bot.tree.error
        async def on_error(interaction: discord.Interaction, error: Exception) -> None:
            errors.append(error)

        async with running(dc, bot):
            await bot.tree.sync()
            late = await dc.slash(dc.channel("general"), dc.member("hal"), "slow")
            await dc.wait_for(lambda: errors)
    [error] = errors
    assert isinstance(error.__cause__, discord.NotFound) and error.__cause__.code == 10062
    assert (
        late.acked_at is None and late.responses == [] and dc.messages(dc.channel("general")) == []
    )
