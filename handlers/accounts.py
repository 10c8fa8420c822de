"""Connected accounts from the chat (/connect, /accounts, /disconnect, /publishing) and the
web app's two OAuth steps (start → the platform's consent page; callback → tokens stored)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from handlers.actor import Actor, Refusal
from handlers.app import App
from handlers.port import Reply
from services.accounts import ConnectError, account_health, connected_accounts, disconnect
from services.content import Platform
from services.models import Role, Workspace
from services.platforms import DISPLAY_NAMES
from services.workspaces import at_least, audit

_NAMES = {p.value: p for p in Platform} | {
    "yt": Platform.YOUTUBE,
    "ig": Platform.INSTAGRAM,
    "fb": Platform.FACEBOOK,
    "tt": Platform.TIKTOK,
}

# /publishing <platform> <option> <value>: what a workspace may set, as the publishers read it
OPTIONS: dict[Platform, dict[str, tuple[str, tuple[str, ...]]]] = {
    Platform.YOUTUBE: {
        "privacy": ("privacy_status", ("private", "unlisted", "public")),
        "category": ("category_id", ()),  # a YouTube category number, e.g. 22 People & Blogs
    },
    Platform.TIKTOK: {
        "mode": ("tiktok_mode", ("direct", "inbox")),
        "privacy": (
            "privacy_level",
            ("SELF_ONLY", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "PUBLIC_TO_EVERYONE"),
        ),
    },
}
DEFAULTS = {
    "youtube.privacy_status": "private",
    "youtube.category_id": "22",
    "tiktok.tiktok_mode": "direct",
    "tiktok.privacy_level": "SELF_ONLY",
}


def platform_named(word: str) -> Platform:
    """The platform a word names; Refusal listing them otherwise."""
    platform = _NAMES.get(word.strip().lower())
    if platform is None:
        names = ", ".join(p.value for p in Platform)
        raise Refusal(f"I don't know the platform {word[:30]!r}. Use one of: {names}.")
    return platform


def _require_owner(actor: Actor, action: str) -> None:
    if not at_least(actor.role, Role.OWNER):
        raise Refusal(f"Only owners can {action}; your role is {actor.role}.")


async def connect_command(app: App, actor: Actor, args: str, chat_ref: str) -> Reply:
    """/connect <platform>: a link that starts the platform's OAuth consent."""
    _require_owner(actor, "connect accounts")
    if not args.strip():
        raise Refusal("Use /connect <platform>, e.g. /connect youtube.")
    platform = platform_named(args.split()[0])
    if app.accounts is None or app.platforms is None:
        raise Refusal(
            "Connecting accounts needs SECRET_KEY (it encrypts the tokens) and PUBLIC_URL (the "
            "platforms send people back to it) to be set; see the README. Until then posts go "
            "to the local outbox."
        )
    if platform not in app.platforms.configured():
        key = platform.value.upper()
        raise Refusal(
            f"{DISPLAY_NAMES[platform]} is not set up on this bot: set {key}_CLIENT_ID and "
            f"{key}_CLIENT_SECRET (see the README for creating the app)."
        )
    link = await app.accounts.start_connect(
        workspace_id=actor.workspace.id,
        member_id=actor.member.id,
        chat_ref=chat_ref,
        platform=platform,
    )
    return Reply(
        f"🔗 Connect {DISPLAY_NAMES[platform]}: open {link}\n"
        "The link works once, for 15 minutes, and connects the account to this workspace."
    )


async def accounts_command(app: App, actor: Actor) -> Reply:
    """/accounts: connected accounts and their health; platforms that could be connected."""
    rows = await connected_accounts(app.sessions, actor.workspace.id)
    lines = ["Connected accounts:"] if rows else ["No accounts connected."]
    for row in rows:
        name = DISPLAY_NAMES[Platform(row.platform)]
        lines.append(f"• {name}: {row.display_name} — {account_health(row)}")
    connected = {r.platform for r in rows}
    missing = [p for p in Platform if p.value not in connected]
    if missing:
        where = ", ".join(DISPLAY_NAMES[p] for p in missing)
        lines.append(f"Posts for {where} go to the local outbox folder until one is connected.")
        offer = [p.value for p in (app.platforms.configured() if app.platforms else [])]
        offer = [p for p in offer if p in {m.value for m in missing}]
        if offer:
            lines.append("Connect with /connect " + " | ".join(offer) + ".")
    return Reply("\n".join(lines))


async def disconnect_command(app: App, actor: Actor, args: str) -> Reply:
    """/disconnect <platform> [account]: forget the account's tokens."""
    _require_owner(actor, "disconnect accounts")
    words = args.split(maxsplit=1)
    if not words:
        raise Refusal("Use /disconnect <platform> [account name].")
    platform = platform_named(words[0])
    names = await disconnect(
        app.sessions, actor.workspace.id, platform, words[1] if len(words) > 1 else None
    )
    if not names:
        raise Refusal(f"No connected {DISPLAY_NAMES[platform]} account matches; see /accounts.")
    async with app.sessions.begin() as session:
        await audit(
            session,
            actor.workspace.id,
            actor.member.id,
            "account.disconnect",
            platform.value,
            accounts=names,
        )
    return Reply(f"Disconnected {DISPLAY_NAMES[platform]}: {', '.join(names)}. Tokens deleted.")


async def publishing_command(app: App, actor: Actor, args: str) -> Reply:
    """/publishing [<platform> <option> <value>]: how posts are made on each platform."""
    words = args.split()
    if words:
        _require_owner(actor, "change publishing options")
        if len(words) != 3:
            raise Refusal(
                "Use /publishing <platform> <option> <value>, e.g. "
                "/publishing youtube privacy public."
            )
        platform = platform_named(words[0])
        choices = OPTIONS.get(platform, {})
        if words[1].lower() not in choices:
            known = ", ".join(choices) or "none"
            raise Refusal(f"{DISPLAY_NAMES[platform]} options: {known}.")
        key, allowed = choices[words[1].lower()]
        value = words[2]
        if allowed:
            match = {a.lower(): a for a in allowed}.get(value.lower())
            if match is None:
                raise Refusal(f"{words[1]} must be one of: {', '.join(allowed)}.")
            value = match
        elif not value.isdigit():
            raise Refusal(f"{words[1]} must be a number, e.g. 22.")
        async with app.sessions.begin() as session:
            workspace = await session.get(Workspace, actor.workspace.id)
            assert workspace is not None
            workspace.publish_options = {
                **(workspace.publish_options or {}),
                f"{platform.value}.{key}": value,
            }
            await audit(
                session,
                workspace.id,
                actor.member.id,
                "publishing.set",
                f"{platform.value}.{key}",
                value=value,
            )
            options = dict(workspace.publish_options)
    else:
        async with app.sessions() as session:
            workspace = await session.scalar(
                select(Workspace).where(Workspace.id == actor.workspace.id)
            )
            options = dict(workspace.publish_options or {}) if workspace else {}
    lines = ["Publishing options:"]
    for platform, choices in OPTIONS.items():
        for word, (key, _) in choices.items():
            full = f"{platform.value}.{key}"
            lines.append(f"• {platform.value} {word}: {options.get(full, DEFAULTS[full])}")
    lines.append("Change with /publishing <platform> <option> <value> (owners).")
    return Reply("\n".join(lines))


# --- the web app's OAuth steps -------------------------------------------------------------


@dataclass(frozen=True)
class OAuthOutcome:
    """What the callback page says, and whether it worked."""

    ok: bool
    message: str


async def oauth_start(app: App, platform_name: str, state: str) -> str:
    """Where the start link redirects: the platform's consent page. ConnectError if stale."""
    platform = _NAMES.get(platform_name)
    if platform is None or app.accounts is None or app.platforms is None:
        raise ConnectError("this connect link is not valid: run /connect again")
    async with app.platforms.auth(platform) as auth:
        return await app.accounts.authorize_url(auth, state)


async def oauth_callback(
    app: App, platform_name: str, *, state: str, code: str | None, error: str | None
) -> OAuthOutcome:
    """Finish the flow; the chat that asked hears the result either way it can tell."""
    platform = _NAMES.get(platform_name)
    if platform is None or app.accounts is None or app.platforms is None:
        return OAuthOutcome(False, "This connect link is not valid: run /connect again.")
    if error or not code:
        reason = error or "no authorization code came back"
        return OAuthOutcome(
            False,
            f"{DISPLAY_NAMES[platform]} did not grant access ({reason[:200]}). "
            f"Nothing was connected; run /connect {platform.value} to try again.",
        )
    try:
        async with app.platforms.auth(platform) as auth:
            done = await app.accounts.finish_connect(auth, state=state, code=code)
    except ConnectError as exc:
        return OAuthOutcome(False, f"Nothing was connected: {exc}.")
    names = ", ".join(done.accounts)
    await app.chat.send(
        done.chat_ref, Reply(f"✅ {DISPLAY_NAMES[platform]} connected: {names}. See /accounts.")
    )
    return OAuthOutcome(
        True,
        f"{DISPLAY_NAMES[platform]} connected: {names}. "
        "You can close this page and go back to the chat.",
    )
