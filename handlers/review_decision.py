"""A reviewer's decision on a link: approve, or ask for changes with a comment.

The decision takes the same path as a member's: the reviewer becomes a member of the
workspace for this link (user_ref "review:<link id>", their typed name, role approver), and
Approve is the Approve button (handlers.drafts.press) while a request for changes is
`/edit <draft> <comment>` (handlers.drafts.edit_draft): same state transitions, Approval
rows and audit entries. The link is claimed first (a compare-and-set on its decision), so a
second decision is refused; a decision the draft refuses releases the claim again.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import update

from handlers.actor import Actor, Refusal
from handlers.app import App
from handlers.buttons import Verb
from handlers.drafts import MAX_INSTRUCTION_CHARS, edit_draft, press
from handlers.port import Reply
from handlers.review import LinkProblem, ProblemKind, find_link, moved_on
from services.models import Draft, Role, Workspace, utcnow
from services.web_models import ReviewLink
from services.workspaces import member_for

MAX_NAME_CHARS = 80


class Decision(StrEnum):
    """What a reviewer can decide."""

    APPROVE = "approve"
    CHANGES = "changes"


@dataclass(frozen=True)
class ReviewForm:
    """What the reviewer sent, as typed."""

    decision: str
    name: str
    comment: str = ""


@dataclass(frozen=True)
class Checked:
    """A form that passed the checks."""

    decision: Decision
    name: str
    comment: str


def check_form(form: ReviewForm) -> Checked:
    """The form's decision, name and comment, or a Refusal saying what to fix."""
    try:
        decision = Decision(form.decision)
    except ValueError:
        raise Refusal("Choose Approve or Request changes.") from None
    name = " ".join(_printable(form.name).split())
    comment = " ".join(_printable(form.comment).split())
    if not name:
        raise Refusal("Type your name, so the team knows who decided.")
    if len(name) > MAX_NAME_CHARS:
        raise Refusal(f"Keep your name under {MAX_NAME_CHARS} characters.")
    if decision is Decision.CHANGES and not comment:
        raise Refusal("Say what should change in the comment, then press Request changes.")
    if len(comment) > MAX_INSTRUCTION_CHARS:
        raise Refusal(
            f"The comment is {len(comment)} characters; keep it under {MAX_INSTRUCTION_CHARS}."
        )
    return Checked(decision, name, comment)


def _printable(text: str) -> str:
    return "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)


async def decide(app: App, token: str, form: ReviewForm) -> Reply:
    """Record the reviewer's decision and tell the chat; what the chat was told is returned.

    Raises LinkProblem (invalid, expired, decided, moved on) or Refusal (the form, or the
    draft refused the decision: nothing is recorded then)."""
    link = await find_link(app, token)
    checked = check_form(form)
    async with app.sessions() as session:
        draft = await session.get(Draft, link.draft_id)
    if link.decision is not None:
        raise LinkProblem(ProblemKind.DECIDED, "A decision was already made on this link.")
    why = moved_on(link, draft) if draft is not None else "The draft is gone."
    if why:
        raise LinkProblem(ProblemKind.MOVED_ON, why)
    actor = await _claim(app, link, checked)
    try:
        reply = await _act(app, actor, link, checked)
    except Refusal as exc:
        await _release(app, link)
        await app.chat.send(link.chat_ref, _refused(link, checked, exc))
        raise
    except BaseException:
        await _release(app, link)
        raise
    told = _told(link, checked, reply)
    await app.chat.send(link.chat_ref, told)
    return told


async def _claim(app: App, link: ReviewLink, checked: Checked) -> Actor:
    """Mark the link decided (once) and make its reviewer a member; LinkProblem if taken."""
    async with app.sessions.begin() as session:
        result = await session.execute(
            update(ReviewLink)
            .where(ReviewLink.id == link.id, ReviewLink.decision.is_(None))
            .values(
                decision=checked.decision.value,
                reviewer_name=checked.name,
                comment=checked.comment or None,
                decided_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise LinkProblem(ProblemKind.DECIDED, "A decision was already made on this link.")
        draft = await session.get(Draft, link.draft_id)
        workspace = await session.get(Workspace, draft.workspace_id) if draft else None
        if workspace is None:
            raise LinkProblem(ProblemKind.INVALID, "The draft of this link is gone.")
        member = await member_for(
            session, workspace, user_ref=f"review:{link.id}", user_name=checked.name
        )
        member.role = Role.APPROVER.value
    return Actor(workspace, member)


async def _release(app: App, link: ReviewLink) -> None:
    """Undo a claim whose decision did not happen, so the link can be used again."""
    async with app.sessions.begin() as session:
        await session.execute(
            update(ReviewLink)
            .where(ReviewLink.id == link.id)
            .values(decision=None, reviewer_name=None, comment=None, decided_at=None)
            .execution_options(synchronize_session=False)
        )


async def _act(app: App, actor: Actor, link: ReviewLink, checked: Checked) -> Reply:
    """The member's own path: the Approve button, or /edit with the comment."""
    if checked.decision is Decision.APPROVE:
        return await press(app, actor, Verb.APPROVE, link.draft_id)
    return await edit_draft(app, actor, f"{link.draft_id} {checked.comment}")


def _head(link: ReviewLink) -> str:
    return f"🔗 Reviewer link for draft #{link.draft_id} v{link.version}: "


def _refused(link: ReviewLink, checked: Checked, refusal: Refusal) -> Reply:
    """The chat's message when the draft refused the reviewer's decision (the team can act)."""
    wanted = "approve it" if checked.decision is Decision.APPROVE else "ask for changes"
    said = f" (“{checked.comment}”)" if checked.comment else ""
    return Reply(
        _head(link) + f"{checked.name} tried to {wanted}{said}, but it was refused: {refusal} "
        "The link stays open."
    )


def _told(link: ReviewLink, checked: Checked, reply: Reply) -> Reply:
    """The chat's message: who decided on the reviewer link, and what happens now."""
    head = _head(link)
    if checked.decision is Decision.APPROVE:
        lines = [head + f"{checked.name} approved it.", reply.text]
        if checked.comment:
            lines.insert(1, f"Their note: “{checked.comment}”")
    else:
        lines = [head + f"{checked.name} asked for changes: “{checked.comment}”", reply.text]
    return Reply("\n".join(lines))
