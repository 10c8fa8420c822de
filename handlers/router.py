"""One entry for everything a person does in a chat: typed commands and button presses."""

from __future__ import annotations

import asyncio
import re
import uuid

import structlog
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from handlers.accounts import (
    accounts_command,
    connect_command,
    disconnect_command,
    publishing_command,
)
from handlers.actor import Actor, Refusal
from handlers.admin import admin_command, private_admin_command
from handlers.api_keys import api_keys_command
from handlers.app import App
from handlers.brands import brands_command, is_brand_subcommand, use_unbound
from handlers.buttons import BadButton, Verb, decode
from handlers.campaign_dialog import answer_dialog, cancel_dialog, opens_dialog, start_dialog
from handlers.campaigns import campaign_command, campaigns_command
from handlers.digests import digest_command
from handlers.drafts import edit_draft, press, request_draft
from handlers.ideas import draft_idea, ideas_command
from handlers.media import media_command
from handlers.parsing import RequestError, parse_command
from handlers.port import Incoming, Reply
from handlers.publish import publish_again
from handlers.review import review_command
from handlers.schedule import SCHEDULE_VERBS, schedule_command, schedule_press
from handlers.stats import stats_command
from handlers.templates import templates_command
from handlers.views import draft_status, list_drafts, show_version
from handlers.workspace_cmds import brand_command, budget_command, value_command, voice_command
from services.models import Role, Workspace
from services.usage import UsageLog, usage_records
from services.workspaces import (
    audit,
    count_owners,
    create_workspace,
    find_member,
    member_for,
    workspace_for_chat,
)
from services.writer import RequestProblem, WriterError

log = structlog.get_logger(__name__)

HELP = """I turn a request into a short video, get it approved here, and publish it.

/draft <request> — e.g. /draft a 30 second short about our autumn menu for TikTok, upbeat
/edit <number> <instruction> — revise a draft into a new version (e.g. new hook: …)
/template save <name> <number> — keep a draft's format; /templates; /template show|delete <name>
/draft template:<name> <topic> — a draft in a template's format (what you state wins)
/drafts — the latest drafts
/status <number> — one draft's state, versions and posts
/show <number> [version] — a version's preview and script again
/review <number> — a link where a client outside the chat approves or asks for changes
/schedule <number> <when> — publish at a time: tomorrow 9am, fri 18:30, in 2 hours, ISO 8601
/schedule — what's coming; /schedule cancel <number>; /schedule zone <Area/City> (owners)
/media — add a video or photo to the library (attach it); /media list
/brand — the brand voice the writer follows; /voice — the narrator's voice
/brands — this team's brands; /brand new <name>; /brand use <name> — this chat works on that brand
/budget [usd] — this month's spend and the monthly limit
/value view|click <usd> — what a view or a click is worth, for ROI in /stats (owners)
/stats [7d|30d|90d|N days] [platform] — views, engagement, top posts, best times, cost
/ideas [n] — topic ideas from your best posts (1 to 10, default 5), each with Draft this
/digest [days] — what was made and published, with a chart (default 7 days)
/digest schedule daily 09:00 | weekly mon 09:00 | off — a regular digest in this chat
/campaign new "<name>" every mon,thu 9:00 [template:<name>] topics: a; b | feed: <url> | ideas
  — a draft on a cadence, for approval here (auto 2h: publish unless rejected within 2 h)
/campaign new — the same, asked one question at a time; /cancel stops the questions
/campaigns — the campaigns and their next runs; /campaign pause|resume|stop|edit "<name>"
/connect <platform> — connect YouTube, TikTok, Instagram or Facebook (owners); /accounts
/disconnect <platform> [account] — remove one; /publishing — privacy and posting options
/publish <number> — try a draft's failed posts again (after /connect, say)
/role @member <owner|approver|creator|viewer> — set a member's role (owners only)
/admin status — queues, jobs, workers, services (owners); privately: a web monitor link
/apikey new <name> [role], /apikeys, /apikey revoke <name> — HTTP API keys (owners, private chat)
/help — this message

Under each preview: Approve, Schedule, Regenerate, Reject."""

_REQUEST_START = re.compile(r"^\s*(make|create|draft|generate|produce)\b", re.IGNORECASE)


async def handle(app: App, incoming: Incoming) -> list[Reply]:
    """Turn one incoming message or press into replies; never raises for bad input."""
    try:
        return await _dispatch(app, incoming)
    except (Refusal, RequestError, BadButton) as exc:
        return [Reply(f"⚠️ {exc}", alert=True)]
    except (DBAPIError, RedisError, ConnectionError, TimeoutError) as exc:
        ref = uuid.uuid4().hex[:8]
        log.error("handle.unavailable", ref=ref, error=str(exc))
        return [
            Reply(
                f"⚠️ I can't reach my database or queue right now (ref {ref}). "
                "Nothing was changed; please try again in a minute."
            )
        ]
    except asyncio.CancelledError:
        raise
    except Exception:
        ref = uuid.uuid4().hex[:8]
        log.exception("handle.crashed", ref=ref)
        return [Reply(f"⚠️ Something went wrong on my side (ref {ref}). Nothing was changed.")]


async def _dispatch(app: App, incoming: Incoming) -> list[Reply]:
    command = parse_command(incoming.text) if incoming.button is None else None
    if command is not None and command.name == "start":
        return [await _start(app, incoming)]
    if command is not None and command.name == "help":
        return [Reply(HELP)]
    if command is not None and command.name in ("apikey", "apikeys"):  # private chats
        return [await api_keys_command(app, incoming, command.name, command.args)]
    if command is not None and command.name == "admin" and incoming.private:
        return [await private_admin_command(app, incoming, command.args)]
    actor = await _actor(app, incoming)
    if actor is None and command is not None and command.name == "brand":
        verb, _, name = command.args.strip().partition(" ")
        if verb == "use":
            return [await use_unbound(app, incoming, name)]
    if actor is None:
        return [
            Reply(
                "This chat isn't set up yet: send /start and I'll make it a workspace "
                "(or /brand use <name> to bring a brand you own here)."
            )
        ]
    if incoming.button is not None:
        pressed = decode(incoming.button)
        if pressed.verb in SCHEDULE_VERBS:
            return [await schedule_press(app, actor, pressed.verb, pressed.draft_id)]
        if pressed.verb is Verb.DRAFT_IDEA:
            return [await draft_idea(app, actor, incoming.chat_ref, pressed.draft_id)]
        return [await press(app, actor, pressed.verb, pressed.draft_id)]
    assert command is not None
    if command.name == "":
        return [await _free_text(app, actor, incoming)]
    match command.name:
        case "draft":
            return [await request_draft(app, actor, incoming.chat_ref, command.args)]
        case "edit":
            return [await edit_draft(app, actor, command.args)]
        case "template":
            return [await templates_command(app, actor, command.args)]
        case "templates":
            return [await templates_command(app, actor, "list")]
        case "drafts":
            return [await list_drafts(app, actor)]
        case "status":
            return [await draft_status(app, actor, command.args)]
        case "show":
            return [await show_version(app, actor, command.args)]
        case "review":
            return [await review_command(app, actor, command.args, incoming.chat_ref)]
        case "schedule":
            return [await schedule_command(app, actor, command.args)]
        case "media":
            return [await media_command(app, actor, command.args, incoming.attachments)]
        case "brand" if is_brand_subcommand(command.args):
            return [await brands_command(app, actor, command.args, incoming.chat_ref)]
        case "brands":
            return [await brands_command(app, actor, "list", incoming.chat_ref)]
        case "brand":
            return [await brand_command(app, actor, command.args)]
        case "voice":
            return [await voice_command(app, actor, command.args)]
        case "budget":
            return [await budget_command(app, actor, command.args)]
        case "value":
            return [await value_command(app, actor, command.args)]
        case "publish":
            return [await publish_again(app, actor, command.args)]
        case "connect":
            return [await connect_command(app, actor, command.args, incoming.chat_ref)]
        case "accounts":
            return [await accounts_command(app, actor)]
        case "disconnect":
            return [await disconnect_command(app, actor, command.args)]
        case "publishing":
            return [await publishing_command(app, actor, command.args)]
        case "digest":
            return [await digest_command(app, actor, command.args, incoming.chat_ref)]
        case "campaign" if opens_dialog(command.args):
            return [await start_dialog(app, actor, incoming.chat_ref)]
        case "campaign":
            return [await campaign_command(app, actor, command.args, incoming.chat_ref)]
        case "cancel":
            return [await cancel_dialog(app, actor, incoming.chat_ref)]
        case "campaigns":
            return [await campaigns_command(app, actor)]
        case "ideas":
            return [await ideas_command(app, actor, command.args)]
        case "stats":
            return [await stats_command(app, actor, command.args)]
        case "admin":
            return [await admin_command(app, actor, command.args)]
        case "role":
            return [await _role(app, actor, command.args, incoming)]
        case other:
            return [Reply(f"I don't know /{other[:40]}. Send /help to see the commands.")]


async def _free_text(app: App, actor: Actor, incoming: Incoming) -> Reply:
    """A message without a command: an answer to the sender's open dialog, else a request if it
    reads like one (the model decides, if any)."""
    if (answer := await answer_dialog(app, actor, incoming)) is not None:
        return answer
    text = incoming.text
    if app.reader is not None and text.strip():
        usage = UsageLog()
        try:
            brief = await app.reader.read_request(text, usage=usage)
        except RequestProblem as exc:
            raise Refusal(f"{exc} Send /help to see what I can do.") from None
        except WriterError as exc:
            raise Refusal(
                f"I couldn't read that request: {exc} /draft <request> works too."
            ) from None
        finally:
            async with app.sessions.begin() as session:
                session.add_all(usage_records(actor.workspace.id, None, usage))
        return await request_draft(app, actor, incoming.chat_ref, text, brief=brief)
    if _REQUEST_START.match(text):
        return await request_draft(app, actor, incoming.chat_ref, text)
    return Reply("Send /help to see what I can do, or /draft <request> to start.")


async def _actor(app: App, incoming: Incoming) -> Actor | None:
    async with app.sessions.begin() as session:
        workspace = await workspace_for_chat(session, incoming.chat_ref)
        if workspace is None:
            return None
        member = await member_for(
            session, workspace, user_ref=incoming.user_ref, user_name=incoming.user_name
        )
    return Actor(workspace, member, incoming.groups)


async def _start(app: App, incoming: Incoming) -> Reply:
    async with app.sessions.begin() as session:
        created = await create_workspace(
            session,
            chat_ref=incoming.chat_ref,
            name=f"workspace of {incoming.user_name}",
            owner_ref=incoming.user_ref,
            owner_name=incoming.user_name,
        )
    if created is not None:
        return Reply(
            f"👋 This chat is now a workspace and {incoming.user_name} is its owner.\n\n{HELP}"
        )
    actor = await _actor(app, incoming)
    assert actor is not None
    return Reply(
        f"This chat is already a workspace; {actor.member.display_name} is {actor.role}. "
        "Send /help for the commands."
    )


async def _group_role(app: App, actor: Actor, parts: list[str]) -> Reply:
    """`/role group <name> <role|none>`: everyone with that chat role gets at least this one."""
    if len(parts) < 2:
        raise Refusal("Use /role group <server role> <owner|approver|creator|viewer|none>.")
    *name_parts, role_name = parts
    name = " ".join(name_parts).removeprefix("@").strip()
    if role_name.lower() != "none" and role_name.lower() not in {r.value for r in Role}:
        raise Refusal(
            f"“{role_name[:40]}” is not a role: owner, approver, creator, viewer or none."
        )
    async with app.sessions.begin() as session:
        workspace = await session.get(Workspace, actor.workspace.id)
        assert workspace is not None
        mapping = dict(workspace.role_map or {})
        if role_name.lower() == "none":
            mapping.pop(name.lower(), None)
        else:
            mapping[name.lower()] = role_name.lower()
        workspace.role_map = mapping
        await audit(
            session, workspace.id, actor.member.id, "workspace.role_map", name, role=role_name
        )
    if role_name.lower() == "none":
        return Reply(f"Members with the role “{name}” no longer get a role from it.")
    return Reply(f"Everyone with the role “{name}” is now at least {role_name.lower()}.")


async def _role(app: App, actor: Actor, args: str, incoming: Incoming) -> Reply:
    usage = (
        "Use /role @member <owner|approver|creator|viewer>, e.g. /role @sam approver, "
        "or reply to their message with /role approver."
    )
    if actor.role != Role.OWNER:
        raise Refusal("Only an owner can change roles.")
    parts = args.split()
    if parts[:1] == ["group"]:
        return await _group_role(app, actor, parts[1:])
    if len(parts) == 1 and incoming.reply_to_user_ref:
        async with app.sessions.begin() as session:
            replied = await member_for(
                session,
                actor.workspace,
                user_ref=incoming.reply_to_user_ref,
                user_name=incoming.reply_to_user_name or "",
            )
        parts = [replied.user_ref, parts[0]]
    if len(parts) != 2:
        raise Refusal(usage)
    handle_, role_name = parts
    try:
        role = Role(role_name.lower())
    except ValueError:
        raise Refusal(f"“{role_name[:40]}” is not a role. {usage}") from None
    async with app.sessions.begin() as session:
        member = await find_member(session, actor.workspace.id, handle_)
        if member is None:
            raise Refusal(
                f"I don't know {handle_[:60]} yet: they need to send a message in this chat first."
            )
        demotes_owner = member.role == Role.OWNER and role != Role.OWNER
        if demotes_owner and await count_owners(session, actor.workspace.id) <= 1:
            raise Refusal("That's the last owner; make someone else owner first.")
        before, member.role = member.role, role.value
        await audit(
            session,
            actor.workspace.id,
            actor.member.id,
            "member.role",
            f"member:{member.id}",
            before=before,
            after=role.value,
        )
    return Reply(f"{member.display_name} is now {role.value}.")
