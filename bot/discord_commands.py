"""The Discord slash commands, each turned into the same text command the other chats type."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from handlers.port import Attachment, Reply
from services.content import Platform

if TYPE_CHECKING:
    from bot.discord import DiscordFrontend

PLATFORMS = ["all platforms", "youtube", "tiktok", "instagram", "facebook"]
ROLES = ["owner", "approver", "creator", "viewer"]


def register_commands(frontend: DiscordFrontend) -> None:
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

    @tree.command(name="review", description="A link a client approves from (approvers)")
    async def review(
        interaction: discord.Interaction[Any], draft: app_commands.Range[int, 1]
    ) -> None:
        await frontend.on_command(interaction, f"/review {draft}")

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

    @tree.command(name="apikey", description="API keys for other programs (in a DM with me)")
    @app_commands.describe(
        action="new, list or revoke", name="The key's name", role="The key's role (new only)"
    )
    @app_commands.choices(
        action=[app_commands.Choice(name=a, value=a) for a in ("new", "list", "revoke")],
        role=[app_commands.Choice(name=r, value=r) for r in ROLES],
    )
    async def apikey(
        interaction: discord.Interaction[Any],
        action: app_commands.Choice[str],
        name: app_commands.Range[str, 1, 60] | None = None,
        role: app_commands.Choice[str] | None = None,
    ) -> None:
        if action.value == "list":
            text = "/apikeys"
        else:
            text = " ".join(
                p for p in ("/apikey", action.value, name, role.value if role else None) if p
            )
        await frontend.on_command(interaction, text)

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
        ("value", "view 0.002, click 0.05, or off: what a view or click is worth"),
    ):
        _settings_command(frontend, name, usage)


def _settings_command(frontend: DiscordFrontend, name: str, usage: str) -> None:
    @frontend.client.tree.command(name=name, description=f"Show or set the {name}")
    @app_commands.describe(value=usage)
    async def command(interaction: discord.Interaction[Any], value: str | None = None) -> None:
        await frontend.on_command(interaction, f"/{name} {value or ''}".strip())
