"""Owners' sign-in to the /admin web pages: a one-time link from `/admin status`, exchanged once
for a session, and the check every page request makes of that session.

The link is good for ten minutes and one use (a WebLogin row holding the token's hash, marked
used by a compare-and-set); the role is checked again on every request, so an owner who is
made an approver loses the pages at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from handlers.actor import Actor, Refusal
from handlers.app import App
from services.admin_logins import (
    LOGIN_TTL_S,
    AdminSession,
    login_token,
    token_digest,
    token_groups,
)
from services.models import Member, Role, Workspace, utcnow
from services.web_models import WebLogin
from services.workspaces import audit


class LoginRefused(Exception):
    """A login link that cannot be used; the message says why and what to do."""


class NotSignedIn(Exception):
    """A page request without a valid session of a current owner; the message says why."""


LINK_HELP = "Send /admin status in the chat for a new link."


async def login_link(app: App, actor: Actor) -> str | None:
    """A new one-time link into the /admin pages for this owner (None without PUBLIC_URL and
    SECRET_KEY, which the web sign-in needs)."""
    if app.admin_logins is None:
        return None
    token = login_token(actor.groups)
    async with app.sessions.begin() as session:
        session.add(
            WebLogin(
                nonce=token_digest(token),
                workspace_id=actor.workspace.id,
                member_id=actor.member.id,
                expires_at=utcnow() + timedelta(seconds=LOGIN_TTL_S),
            )
        )
        await audit(session, actor.workspace.id, actor.member.id, "admin.login_link", "web:/admin")
    return app.admin_logins.login_url(token)


async def monitor_line(app: App, actor: Actor) -> str:
    """The line under `/admin status`: a fresh login link to the jobs monitor, or what the
    web sign-in needs."""
    link = await login_link(app, actor)
    if link is None:
        return "Jobs monitor on the web: set PUBLIC_URL and SECRET_KEY to get a login link here."
    return f"Jobs monitor (signs you in once, within 10 minutes; keep it to yourself): {link}"


async def check_login(app: App, token: str, *, now: datetime | None = None) -> WebLogin:
    """The login a link names, if it can still be used; LoginRefused otherwise. Reads only:
    a preview of the link (chat apps fetch links to show them) must not use it up."""
    at = now or utcnow()
    async with app.sessions() as session:
        login = await session.get(WebLogin, token_digest(token))
    if login is None:
        raise LoginRefused(f"This login link is not one of ours (it may be cut short). {LINK_HELP}")
    if login.used_at is not None:
        raise LoginRefused(f"This login link has already been used. {LINK_HELP}")
    if login.expires_at <= at:
        raise LoginRefused(f"This login link has expired (they last 10 minutes). {LINK_HELP}")
    return login


async def redeem_login(app: App, token: str, *, now: datetime | None = None) -> AdminSession:
    """Use a login link up: the session it gives (its member still an owner), or
    LoginRefused. Two uses at once: one wins, the other is refused."""
    at = now or utcnow()
    login = await check_login(app, token, now=at)
    async with app.sessions.begin() as session:
        used = await session.execute(
            update(WebLogin)
            .where(WebLogin.nonce == login.nonce, WebLogin.used_at.is_(None))
            .values(used_at=at)
        )
        if not used.rowcount:  # type: ignore[attr-defined]
            raise LoginRefused(f"This login link has already been used. {LINK_HELP}")
        member = await session.get(Member, login.member_id)
        workspace = await session.get(Workspace, login.workspace_id)
        groups = token_groups(token)
        if (
            member is None
            or workspace is None
            or Actor(workspace, member, groups).role != Role.OWNER
        ):
            raise LoginRefused("Only owners can open the jobs monitor, and you no longer are one.")
        await audit(session, workspace.id, member.id, "admin.login", "web:/admin")
    return AdminSession(member.id, workspace.id, groups)


async def signed_in_owner(app: App, session: AdminSession) -> Actor:
    """The owner a valid session is for, as they are now; NotSignedIn if they are gone, or
    Refusal if they are no longer an owner."""
    async with app.sessions() as db:
        member = await db.get(Member, session.member_id)
        workspace = await db.get(Workspace, session.workspace_id)
    if member is None or workspace is None or member.workspace_id != workspace.id:
        raise NotSignedIn("The member this session was for is gone. " + LINK_HELP)
    actor = Actor(workspace, member, session.groups)
    if actor.role != Role.OWNER:
        raise Refusal(f"The jobs monitor is for owners; your role is now {actor.role}.")
    return actor
