"""The state machine: legal moves only, compare-and-set against the expected state."""

from __future__ import annotations

import pytest

from services.db import SessionFactory
from services.drafts import TRANSITIONS, IllegalTransition, transition
from services.models import Draft, DraftState, Member, Role, Workspace

S = DraftState


async def new_draft(sessions: SessionFactory) -> int:
    async with sessions.begin() as session:
        workspace = Workspace(name="w")
        session.add(workspace)
        await session.flush()
        member = Member(workspace_id=workspace.id, user_ref="u", display_name="u", role=Role.OWNER)
        session.add(member)
        await session.flush()
        draft = Draft(
            workspace_id=workspace.id,
            chat_ref="c",
            requested_by=member.id,
            request_text="r",
            topic="t",
            platforms=["tiktok"],
            duration_s=10,
            tone="calm",
        )
        session.add(draft)
    return draft.id


def test_every_state_has_its_transitions() -> None:
    assert set(TRANSITIONS) == set(DraftState)
    assert TRANSITIONS[S.PUBLISHED] == TRANSITIONS[S.REJECTED] == frozenset()


async def test_compare_and_set(sessions: SessionFactory) -> None:
    draft_id = await new_draft(sessions)
    async with sessions.begin() as session:
        assert await transition(session, draft_id, expected=S.REQUESTED, to=S.GENERATING)
        assert not await transition(session, draft_id, expected=S.REQUESTED, to=S.GENERATING)
        assert await transition(
            session, draft_id, expected=S.GENERATING, to=S.READY, current_version=1
        )
    async with sessions() as session:
        draft = await session.get(Draft, draft_id)
    assert draft is not None and (draft.state, draft.current_version) == ("ready", 1)


async def test_illegal_transition_raises_and_changes_nothing(sessions: SessionFactory) -> None:
    draft_id = await new_draft(sessions)
    async with sessions.begin() as session:
        with pytest.raises(IllegalTransition):
            await transition(session, draft_id, expected=S.REQUESTED, to=S.PUBLISHED)
    async with sessions() as session:
        draft = await session.get(Draft, draft_id)
    assert draft is not None and draft.state == "requested"
