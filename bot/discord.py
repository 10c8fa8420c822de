"""The Discord frontend: discord.py slash commands and persistent buttons over the chat port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
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
from bot.monitoring import replying
from handlers.app import App
from handlers.port import Attachment, Button, Incoming, Reply
from handlers.router import handle
from services.content import Platform

log = structlog.get_logger(__name__)

TEXT_LIMIT = 2000
UPLOAD_LIMIT = 25 * 1024 * 1024  # a bot without server boosts
ACK_WITHIN_S = 2.0  # Discord drops an interaction not acknowledged within 3 s
PLATFORMS = ["all platforms", "youtube", "tiktok", "instagram", "facebook"]
ROLES = ["owner", "approver", "creator", "viewer"]


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
        _register_commands(self)

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


def _register_commands(frontend: DiscordFrontend) -> None:
    """The slash commands, each turned into the same text command the other chats type."""
    tree = frontend.client.tree

    @tree.command(name="start", description="Make this channel a workspace")
    async def start(interaction: discord.Interaction[Any]) -> None:
        await frontend.on_command(interaction, "/start")

    @tree.command(name="help", description="What I can do")
    async def help_(interaction: discord.Interaction[Any]) -> None:
        await frontend.on_command(interaction, "/help")

    @tree.command(name="draft", description="Request a short video")
    @app_commands.describe(
        topic="What the video is about",
        platform="Where it will be published",
        duration="Length in seconds",
        tone="e.g. upbeat, calm, funny",
        template="A saved template's name (what you set here wins over it)",
    )
    @app_commands.choices(platform=[app_commands.Choice(name=p, value=p) for p in PLATFORMS])
    async def draft(
        interaction: discord.Interaction[Any],
        topic: app_commands.Range[str, 1, 300],
        platform: app_commands.Choice[str] | None = None,
        duration: app_commands.Range[int, 5, 180] | None = None,
        tone: app_commands.Range[str, 1, 40] | None = None,
        template: app_commands.Range[str, 1, 40] | None = None,
    ) -> None:
        text = f"/draft a short about {topic}"
        if platform is not None:
            text += f" for {platform.value}"
        if duration is not None:
            text += f", {duration} seconds"
        if tone is not None:
            text += f", tone: {tone}"
        if template is not None:
            text += f" template:{template}"
        await frontend.on_command(interaction, text)

    @tree.command(name="templates", description="The saved templates (a draft's format)")
    async def templates(interaction: discord.Interaction[Any]) -> None:
        await frontend.on_command(interaction, "/templates")

    @tree.command(name="template", description="Save a draft's format as a template, show one")
    @app_commands.describe(
        action="save, show or delete",
        name="The template's name: lower-case letters, digits and hyphens",
        draft="For save: the draft whose format to keep",
        settings="For save: e.g. structure: hook, 3 tips, call to action; caption: short",
    )
    @app_commands.choices(
        action=[app_commands.Choice(name=a, value=a) for a in ("save", "show", "delete")]
    )
    async def template(
        interaction: discord.Interaction[Any],
        action: str,
        name: app_commands.Range[str, 1, 40],
        draft: app_commands.Range[int, 1] | None = None,
        settings: app_commands.Range[str, 1, 500] | None = None,
    ) -> None:
        parts = [f"/template {action} {name}", str(draft or "")]
        if settings:
            parts.append(f"; {settings}")
        await frontend.on_command(interaction, " ".join(p for p in parts if p))

    @tree.command(name="drafts", description="The latest drafts")
    async def drafts(interaction: discord.Interaction[Any]) -> None:
        await frontend.on_command(interaction, "/drafts")

    @tree.command(name="status", description="One draft's state")
    async def status(
        interaction: discord.Interaction[Any], draft: app_commands.Range[int, 1]
    ) -> None:
        await frontend.on_command(interaction, f"/status {draft}")

    @tree.command(name="show", description="A version's preview again")
    async def show(
        interaction: discord.Interaction[Any],
        draft: app_commands.Range[int, 1],
        version: app_commands.Range[int, 1] | None = None,
    ) -> None:
        await frontend.on_command(interaction, f"/show {draft} {version or ''}".strip())

    @tree.command(name="edit", description="Revise a draft into a new version")
    async def edit(
        interaction: discord.Interaction[Any],
        draft: app_commands.Range[int, 1],
        instruction: app_commands.Range[str, 1, 1000],
    ) -> None:
        await frontend.on_command(interaction, f"/edit {draft} {instruction}")

    @tree.command(name="schedule", description="Publish a draft at a time, or list what's coming")
    @app_commands.describe(
        draft="The draft's number (leave out to list what's coming)",
        when="e.g. tomorrow 9am, fri 18:30, in 2 hours, an ISO 8601 time, or cancel",
    )
    async def schedule(
        interaction: discord.Interaction[Any],
        draft: app_commands.Range[int, 1] | None = None,
        when: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        text = "/schedule" if draft is None else f"/schedule {draft} {when or ''}".strip()
        await frontend.on_command(interaction, text)

    platform_choices = [app_commands.Choice(name=p.value, value=p.value) for p in Platform]

    @tree.command(name="connect", description="Connect a platform account (owners)")
    @app_commands.choices(platform=platform_choices)
    async def connect(interaction: discord.Interaction[Any], platform: str) -> None:
        await frontend.on_command(interaction, f"/connect {platform}")

    @tree.command(name="accounts", description="Connected accounts and their health")
    async def accounts(interaction: discord.Interaction[Any]) -> None:
        await frontend.on_command(interaction, "/accounts")

    @tree.command(name="disconnect", description="Remove a connected account (owners)")
    @app_commands.choices(platform=platform_choices)
    async def disconnect(
        interaction: discord.Interaction[Any],
        platform: str,
        account: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        await frontend.on_command(interaction, f"/disconnect {platform} {account or ''}".strip())

    @tree.command(name="publish", description="Try a draft's failed posts again")
    async def publish(
        interaction: discord.Interaction[Any], draft: app_commands.Range[int, 1]
    ) -> None:
        await frontend.on_command(interaction, f"/publish {draft}")

    @tree.command(name="publishing", description="How posts are made on each platform")
    @app_commands.describe(setting="e.g. youtube privacy public, tiktok mode inbox")
    async def publishing(
        interaction: discord.Interaction[Any],
        setting: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        await frontend.on_command(interaction, f"/publishing {setting or ''}".strip())

    @tree.command(name="stats", description="Views, engagement, top posts, best times and cost")
    @app_commands.describe(period="How far back to look", platform="One platform only")
    @app_commands.choices(
        period=[app_commands.Choice(name=f"last {n} days", value=f"{n}d") for n in (7, 30, 90)],
        platform=platform_choices,
    )
    async def stats(
        interaction: discord.Interaction[Any],
        period: str = "7d",
        platform: str | None = None,
    ) -> None:
        await frontend.on_command(interaction, f"/stats {period} {platform or ''}".strip())

    @tree.command(name="ideas", description="Topic ideas from your best posts, each ready to draft")
    @app_commands.describe(count="How many ideas")
    async def ideas(
        interaction: discord.Interaction[Any], count: app_commands.Range[int, 1, 10] = 5
    ) -> None:
        await frontend.on_command(interaction, f"/ideas {count}")

    @tree.command(name="digest", description="What was made and published, with a chart")
    @app_commands.describe(
        days="The period, in days",
        channel="Also post digests to this channel from now on",
        schedule="daily 09:00, weekly mon 09:00 or off: here, or in the channel given",
    )
    async def digest(
        interaction: discord.Interaction[Any],
        days: app_commands.Range[int, 1, 365] = 7,
        channel: discord.TextChannel | None = None,
        schedule: app_commands.Range[str, 1, 40] | None = None,
    ) -> None:
        target = f" discord:{channel.id}" if channel else ""
        if schedule is not None:
            text = f"/digest schedule{target} {schedule}"
        else:
            text = f"/digest channel{target}" if channel else f"/digest {days}"
        await frontend.on_command(interaction, text)

    @tree.command(name="campaign", description="A draft on a cadence, for approval here")
    @app_commands.describe(
        action="What to do",
        name="The campaign's name",
        settings="e.g. every mon,thu 9:00 template:tips topics: a; b (or feed: <url>, or ideas)",
    )
    @app_commands.choices(
        action=[
            app_commands.Choice(name=a, value=a)
            for a in ("new", "edit", "pause", "resume", "stop", "topics")
        ]
    )
    async def campaign(
        interaction: discord.Interaction[Any],
        action: str,
        name: app_commands.Range[str, 1, 60],
        settings: app_commands.Range[str, 1, 1800] | None = None,
    ) -> None:
        text = f'/campaign {action} "{name}" {settings or ""}'.strip()
        await frontend.on_command(interaction, text)

    @tree.command(name="campaigns", description="The campaigns and their next runs")
    async def campaigns(interaction: discord.Interaction[Any]) -> None:
        await frontend.on_command(interaction, "/campaigns")

    @tree.command(name="admin", description="The bot's status: queues, jobs, workers (owners)")
    @app_commands.choices(action=[app_commands.Choice(name="status", value="status")])
    async def admin(
        interaction: discord.Interaction[Any], action: app_commands.Choice[str]
    ) -> None:
        await frontend.on_command(interaction, f"/admin {action.value}")

    @tree.command(name="role", description="Set a member's role (owners)")
    @app_commands.choices(role=[app_commands.Choice(name=r, value=r) for r in ROLES])
    async def role(
        interaction: discord.Interaction[Any],
        member: discord.Member,
        role: app_commands.Choice[str],
    ) -> None:
        # The member joins the workspace's list under their Discord id when first seen.
        await frontend.on_command(interaction, f"/role discord:{member.id} {role.value}")

    @tree.command(name="role_group", description="Give everyone with a server role a role here")
    @app_commands.choices(role=[app_commands.Choice(name=r, value=r) for r in [*ROLES, "none"]])
    async def role_group(
        interaction: discord.Interaction[Any],
        server_role: discord.Role,
        role: app_commands.Choice[str],
    ) -> None:
        await frontend.on_command(interaction, f"/role group {server_role.name} {role.value}")

    @tree.command(name="media", description="Add a video or photo to the library, or list it")
    async def media(
        interaction: discord.Interaction[Any], file: discord.Attachment | None = None
    ) -> None:
        if file is None:
            await frontend.on_command(interaction, "/media list")
            return
        if file.size > frontend._core.max_upload_bytes:
            limit = frontend._core.max_upload_bytes / 2**20
            reply = Reply(
                f"⚠️ {file.filename} is {file.size / 2**20:.0f} MB; the limit is {limit:.0f} MB.",
                alert=True,
            )
            await frontend._respond(interaction, reply, ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        fd, tmp = tempfile.mkstemp(prefix="dc-", dir=frontend._core.media_dir)
        os.close(fd)
        Path(tmp).write_bytes(await file.read())
        await frontend.on_command(interaction, "/media", (Attachment(Path(tmp), file.filename),))

    @tree.command(name="brands", description="This team's brands; make one or switch this channel")
    @app_commands.describe(action="list, new, use or rename", name="The brand's name")
    @app_commands.choices(
        action=[app_commands.Choice(name=a, value=a) for a in ("list", "new", "use", "rename")]
    )
    async def brands(
        interaction: discord.Interaction[Any], action: str = "list", name: str | None = None
    ) -> None:
        await frontend.on_command(interaction, f"/brand {action} {name or ''}".strip())

    for name, usage in (
        ("brand", "tone: …; audience: …; avoid: …; cta: …"),
        ("voice", "a voice id, or default"),
        ("budget", "USD a month, or off"),
    ):
        _settings_command(frontend, name, usage)


def _settings_command(frontend: DiscordFrontend, name: str, usage: str) -> None:
    @frontend.client.tree.command(name=name, description=f"Show or set the {name}")
    @app_commands.describe(value=usage)
    async def command(interaction: discord.Interaction[Any], value: str | None = None) -> None:
        await frontend.on_command(interaction, f"/{name} {value or ''}".strip())
