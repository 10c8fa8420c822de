"""The Discord frontend: discord.py slash commands and persistent buttons over the chat port."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import discord.gateway
import discord.http
import structlog
import yarl
from discord import app_commands

from bot.adapter import split_text
from bot.discord_commands import register_commands
from bot.monitoring import replying
from handlers.app import App
from handlers.port import Attachment, Button, Incoming, Reply
from handlers.router import handle

log = structlog.get_logger(__name__)

TEXT_LIMIT = 2000
UPLOAD_LIMIT = 25 * 1024 * 1024  # a bot without server boosts
ACK_WITHIN_S = 2.0  # Discord drops an interaction not acknowledged within 3 s


_STYLES = {"approve": discord.ButtonStyle.success, "reject": discord.ButtonStyle.danger}


class DraftButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"d:(?P<verb>[a-z]+):(?P<id>[0-9]+)"
):
    """A preview's button, rebuilt from its custom id after a restart (the id is only a claim)."""

    def __init__(self, custom_id: str, label: str = "…") -> None:
        verb = custom_id.split(":")[1] if custom_id.count(":") == 2 else ""
        style = _STYLES.get(verb, discord.ButtonStyle.secondary)
        super().__init__(discord.ui.Button(label=label, custom_id=custom_id, style=style))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> DraftButton:
        """Rebuild the button from a press on any message, old or new."""
        return cls(item.custom_id or match.string)  # type: ignore[attr-defined]

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Hand the press to the frontend that owns this client."""
        frontend: DiscordFrontend = interaction.client.frontend
        await frontend.on_press(interaction, self.item.custom_id or "")


class _Client(discord.Client):
    def __init__(self, frontend: DiscordFrontend) -> None:
        super().__init__(intents=discord.Intents.default())
        self.frontend = frontend
        self.tree = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(DraftButton)
        await self.tree.sync()


class DiscordFrontend:
    """Runs a discord.py client; slash commands and buttons go through the same handlers."""

    def __init__(
        self,
        *,
        app: App,
        token: str,
        api_base_url: str | None = None,
        gateway_url: str | None = None,
        media_link: Callable[[Path], str | None] = lambda _path: None,
    ) -> None:
        self._core = app
        self._token = token
        self._api_base_url = api_base_url
        self._gateway_url = gateway_url
        self._media_link = media_link
        self.upload_limit = UPLOAD_LIMIT
        self.client = _Client(self)
        self._task: asyncio.Task[None] | None = None
        self._edits: OrderedDict[str, tuple[int, int]] = OrderedDict()
        register_commands(self)

    async def start(self) -> None:
        """Log in, connect to the gateway, sync the slash commands, and wait until ready."""
        if self._api_base_url:
            # discord.py has no per-client endpoint setting; these class attributes are its
            # documented way to talk to another endpoint (set after the API version is fixed).
            discord.http.Route.BASE = f"{self._api_base_url.rstrip('/')}/api/v10"
        if self._gateway_url:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self._gateway_url)
        await self.client.login(self._token)
        self._task = asyncio.create_task(self.client.connect(reconnect=True))
        ready = asyncio.create_task(self.client.wait_until_ready())
        done, _ = await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            ready.cancel()
            self._task.result()
        log.info("discord.started", user=str(self.client.user))

    async def stop(self) -> None:
        """Disconnect and close the HTTP session."""
        await self.client.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # -- incoming --------------------------------------------------------------------------

    async def on_command(
        self, interaction: discord.Interaction[Any], text: str, files: tuple[Attachment, ...] = ()
    ) -> None:
        """A slash command, as the text the core understands, acknowledged within 3 s."""
        try:
            await self._answer(interaction, self._incoming(interaction, text=text, files=files))
        finally:
            for attachment in files:
                attachment.path.unlink(missing_ok=True)

    async def on_press(self, interaction: discord.Interaction[Any], custom_id: str) -> None:
        """A button press: refusals go to the presser alone; decisions retire the buttons."""
        incoming = self._incoming(interaction, button=custom_id)
        async with replying(self._core, incoming, frontend="discord"):
            work = asyncio.create_task(handle(self._core, incoming))
            done, _ = await asyncio.wait({work}, timeout=ACK_WITHIN_S)
            if not done:
                await interaction.response.defer()
            replies = await work
            first = replies[0] if replies else Reply("")
            if first.alert:
                await self._respond(interaction, first, ephemeral=True)
                return
            if first.settles and interaction.message is not None:
                stamp = datetime.now(UTC).strftime("%d %b %H:%M UTC")
                note = f"{first.text.splitlines()[0]} · {stamp}"
                content = f"{interaction.message.content}\n\n{note}"[:TEXT_LIMIT]
                if interaction.response.is_done():
                    await interaction.message.edit(content=content, view=None)
                else:
                    await interaction.response.edit_message(content=content, view=None)
            for reply in replies:
                await self._respond(interaction, reply)

    def _incoming(
        self,
        interaction: discord.Interaction[Any],
        *,
        text: str = "",
        button: str | None = None,
        files: tuple[Attachment, ...] = (),
    ) -> Incoming:
        user = interaction.user
        groups = tuple(r.name for r in getattr(user, "roles", ()) if not r.is_default())
        return Incoming(
            chat_ref=f"discord:{interaction.channel_id}",
            user_ref=f"discord:{user.id}",
            user_name=user.name,
            text=text,
            button=button,
            attachments=files,
            groups=groups,
            private=interaction.guild_id is None,  # a direct message with the bot
        )

    async def _answer(self, interaction: discord.Interaction[Any], incoming: Incoming) -> None:
        async with replying(self._core, incoming, frontend="discord"):
            work = asyncio.create_task(handle(self._core, incoming))
            done, _ = await asyncio.wait({work}, timeout=ACK_WITHIN_S)
            if not done:
                await interaction.response.defer(thinking=True)
            for reply in await work:
                await self._respond(interaction, reply, ephemeral=reply.alert)

    async def _respond(
        self, interaction: discord.Interaction[Any], reply: Reply, *, ephemeral: bool = False
    ) -> None:
        """Answer an interaction (first reply) or follow it up (later ones)."""
        parts, files, view = self._parts(reply)
        try:
            for i, content in enumerate(parts):
                last = i == len(parts) - 1
                kwargs: dict[str, Any] = {"ephemeral": ephemeral, "files": files if last else []}
                if view is not None and last:
                    kwargs["view"] = view
                if not interaction.response.is_done():
                    await interaction.response.send_message(content, **kwargs)
                else:
                    await interaction.followup.send(content, **kwargs)
        finally:
            for file in files:  # not every discord.py path closes what it sent
                file.close()

    # -- outgoing --------------------------------------------------------------------------

    async def render(self, chat_ref: str, reply: Reply) -> None:
        """Post (or edit in place) a reply the worker sent to a channel."""
        channel = self.client.get_partial_messageable(int(chat_ref.split(":", 1)[1]))
        if reply.edit_key is not None and reply.edit_key in self._edits:
            _, message_id = self._edits[reply.edit_key]
            await channel.get_partial_message(message_id).edit(content=reply.text[:TEXT_LIMIT])
            return
        parts, files, view = self._parts(reply)
        try:
            for content in parts[:-1]:
                await channel.send(content)
            kwargs: dict[str, Any] = {"files": files}
            if view is not None:
                kwargs["view"] = view
            message = await channel.send(parts[-1], **kwargs)
        finally:
            for file in files:
                file.close()
        if reply.edit_key is not None:
            self._edits[reply.edit_key] = (channel.id, message.id)
            while len(self._edits) > 10_000:
                self._edits.popitem(last=False)

    def _parts(self, reply: Reply) -> tuple[list[str], list[discord.File], discord.ui.View | None]:
        """The text in messages of at most 2,000 characters, the files, and the buttons."""
        text = reply.text
        files = []
        for media in reply.media:
            size = media.path.stat().st_size
            if size > self.upload_limit:
                link = self._media_link(media.path)
                text += (
                    f"\n{media.kind.value} ({size / 2**20:.0f} MB, over the upload limit): "
                    f"{link or media.path}"
                )
                continue
            files.append(discord.File(media.path, filename=media.path.name))
        view = _view(reply.buttons)
        return split_text(text or "…", TEXT_LIMIT), files, view


def _view(buttons: tuple[Button, ...]) -> discord.ui.View | None:
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(DraftButton(button.id, button.label))
    return view
