"""The draft state machine: every transition lives here and is a compare-and-set."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.content import Brief, Platform
from services.models import Draft, DraftState, DraftVersion, utcnow
from services.templates import template_fields

S = DraftState

TRANSITIONS: dict[DraftState, frozenset[DraftState]] = {
    S.REQUESTED: frozenset({S.GENERATING, S.FAILED, S.REJECTED}),
    S.GENERATING: frozenset({S.READY, S.FAILED}),
    S.READY: frozenset({S.APPROVED, S.REJECTED, S.GENERATING}),
    S.APPROVED: frozenset({S.SCHEDULED, S.PUBLISHING}),
    S.SCHEDULED: frozenset({S.PUBLISHING, S.READY}),
    S.PUBLISHING: frozenset({S.PUBLISHED, S.PARTIALLY_PUBLISHED, S.FAILED}),
    S.PARTIALLY_PUBLISHED: frozenset({S.PUBLISHING}),
    S.FAILED: frozenset({S.GENERATING, S.PUBLISHING}),
    S.PUBLISHED: frozenset(),
    S.REJECTED: frozenset(),
}


class IllegalTransition(ValueError):
    """A transition the state machine does not have (a bug, not a race)."""


async def transition(
    session: AsyncSession,
    draft_id: int,
    *,
    expected: DraftState | Iterable[DraftState],
    to: DraftState,
    **values: Any,
) -> bool:
    """Move a draft to `to` if it is still in `expected`; False if someone got there first."""
    states = {expected} if isinstance(expected, DraftState) else set(expected)
    for state in states:
        if to not in TRANSITIONS[state]:
            raise IllegalTransition(f"{state} -> {to}")
    result = await session.execute(
        update(Draft)
        .where(Draft.id == draft_id, Draft.state.in_([s.value for s in states]))
        .values(state=to.value, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def brief_of(draft: Draft) -> Brief:
    """The brief a draft was made from, with the format of its template if it has one."""
    return Brief(
        topic=draft.topic,
        platforms=tuple(Platform(p) for p in draft.platforms),
        duration_s=draft.duration_s,
        tone=draft.tone,
        **template_fields(draft.template),
    )


async def get_draft(session: AsyncSession, workspace_id: int, draft_id: int) -> Draft | None:
    """A draft of this workspace, or None (ids from other workspaces are not found)."""
    draft = await session.get(Draft, draft_id, populate_existing=True)
    if draft is None or draft.workspace_id != workspace_id:
        return None
    return draft


async def current_version(session: AsyncSession, draft: Draft) -> DraftVersion | None:
    """The draft's latest finished version."""
    return (
        await session.execute(
            select(DraftVersion).where(
                DraftVersion.draft_id == draft.id, DraftVersion.number == draft.current_version
            )
        )
    ).scalar_one_or_none()
