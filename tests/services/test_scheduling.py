"""Reading publication times in a workspace's zone, presets, and claiming a due schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.db import SessionFactory
from services.models import Draft, DraftState
from services.scheduling import (
    Claim,
    Preset,
    ScheduleError,
    available_presets,
    claim_due,
    format_when,
    known_zone,
    parse_when,
    preset_time,
    wake_job_id,
)
from services.workspaces import create_workspace

# A Thursday: 16:00 in Berlin, 10:00 in New York.
NOW = datetime(2025, 11, 27, 15, 0, tzinfo=UTC)
BERLIN = "Europe/Berlin"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_tomorrow_9am_depends_on_the_workspace_zone() -> None:
    berlin = parse_when("tomorrow 9am", BERLIN, NOW)
    assert berlin == utc(2025, 11, 28, 8, 0)
    assert parse_when("tomorrow 9am", "UTC", NOW) == utc(2025, 11, 28, 9, 0)
    assert parse_when("tomorrow 9am", "America/New_York", NOW) == utc(2025, 11, 28, 14, 0)
    assert berlin.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fri 18:30", utc(2025, 11, 28, 17, 30)),
        ("Friday 6:30pm", utc(2025, 11, 28, 17, 30)),
        ("thu 18:30", utc(2025, 11, 27, 17, 30)),  # a Thursday: still ahead today
        ("thu 10:00", utc(2025, 12, 4, 9, 0)),  # passed today: next week
        ("next thu 18:30", utc(2025, 12, 4, 17, 30)),
        ("in 2 hours", utc(2025, 11, 27, 17, 0)),
        ("in 90 min", utc(2025, 11, 27, 16, 30)),
        ("in an hour", utc(2025, 11, 27, 16, 0)),
        ("tomorrow 9am UTC", utc(2025, 11, 28, 9, 0)),
        ("2025-12-01T10:00", utc(2025, 12, 1, 9, 0)),  # a wall time in the workspace's zone
        ("2025-12-01 10:00", utc(2025, 12, 1, 9, 0)),
        ("2025-12-01T10:00+00:00", utc(2025, 12, 1, 10, 0)),  # an explicit offset wins
        ("2025-12-01T10:00Z", utc(2025, 12, 1, 10, 0)),
        ("tomorrow midnight", utc(2025, 11, 27, 23, 0)),
    ],
)
def test_times_people_type(text: str, expected: datetime) -> None:
    assert parse_when(text, BERLIN, NOW) == expected


def test_daylight_saving_is_the_zones() -> None:
    # Berlin moves to summer time on Sunday 29 March 2026: 9:00 that day is 07:00 UTC.
    saturday = utc(2026, 3, 28, 12, 0)
    assert parse_when("tomorrow 9am", BERLIN, saturday) == utc(2026, 3, 29, 7, 0)
    assert parse_when("2026-03-29 09:00", BERLIN, saturday) == utc(2026, 3, 29, 7, 0)
    # "In 2 hours" is two hours of real time, even when the clocks jump an hour meanwhile.
    before_the_jump = utc(2026, 3, 29, 0, 30)
    assert parse_when("in 2 hours", BERLIN, before_the_jump) == utc(2026, 3, 29, 2, 30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yesterday 9am", "has already passed"),
        ("now", "has already passed"),
        ("2025-11-01 10:00", "has already passed"),
        ("banana o'clock", "couldn't read “banana o'clock” as a time"),
        ("", "couldn't read"),
        ("5", "couldn't read"),
        ("tomorrow at 25:00", "couldn't read"),
        ("in 2 years", "more than a year ahead"),
        ("dec 25", "At what time on Thu 25 Dec?"),
    ],
)
def test_unusable_times_say_what_was_wrong(text: str, expected: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_when(text, BERLIN, NOW)
    assert expected in str(caught.value)


def test_errors_show_what_works() -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_when("whenever", BERLIN, NOW)
    message = str(caught.value)
    assert "“tomorrow 9am”" in message and "“fri 18:30”" in message
    assert "2025-12-04 10:00" in message  # an ISO example that is itself ahead
    with pytest.raises(ScheduleError) as caught:
        parse_when("9am", "America/New_York", NOW)  # 9:00 in New York has passed
    assert "“tomorrow 9am”" in str(caught.value)


def test_times_are_shown_in_the_workspace_zone() -> None:
    at = utc(2025, 11, 28, 17, 30)
    assert format_when(at, BERLIN, now=NOW) == "Fri 28 Nov 18:30 Europe/Berlin"
    assert format_when(at, "UTC", now=NOW, zone=False) == "Fri 28 Nov 17:30"
    assert format_when(utc(2026, 1, 2, 9, 0), "UTC", now=NOW) == "Fri 2 Jan 2026 09:00 UTC"
    assert format_when(at, "Not/AZone", now=NOW) == "Fri 28 Nov 17:30 UTC"


def test_presets_in_the_workspace_zone() -> None:
    found = dict(available_presets(BERLIN, NOW))
    assert found == {
        Preset.IN_AN_HOUR: utc(2025, 11, 27, 16, 1),
        Preset.TODAY_EVENING: utc(2025, 11, 27, 17, 0),
        Preset.TOMORROW_MORNING: utc(2025, 11, 28, 8, 0),
        Preset.TOMORROW_EVENING: utc(2025, 11, 28, 17, 0),
        Preset.MONDAY_MORNING: utc(2025, 12, 1, 8, 0),
    }
    evening = utc(2025, 11, 27, 18, 30)  # 19:30 in Berlin
    assert Preset.TODAY_EVENING not in dict(available_presets(BERLIN, evening))
    with pytest.raises(ScheduleError, match="has passed"):
        preset_time(Preset.TODAY_EVENING, BERLIN, evening)
    # On a Sunday, "Monday 09:00" is tomorrow morning: offered once.
    sunday = utc(2025, 11, 30, 12, 0)
    presets = [p for p, _ in available_presets(BERLIN, sunday)]
    assert Preset.TOMORROW_MORNING in presets and Preset.MONDAY_MORNING not in presets


def test_wake_job_ids_differ_per_time() -> None:
    first, moved = utc(2025, 11, 28, 8, 0), utc(2025, 11, 28, 9, 0)
    assert wake_job_id(3, first) != wake_job_id(3, moved)
    assert wake_job_id(3, first) == wake_job_id(3, first)


async def _scheduled_draft(sessions: SessionFactory, at: datetime) -> int:
    async with sessions.begin() as session:
        created = await create_workspace(
            session, chat_ref="console:t", name="t", owner_ref="console:o", owner_name="o"
        )
        assert created is not None
        workspace, owner = created
        draft = Draft(
            workspace_id=workspace.id,
            chat_ref="console:t",
            requested_by=owner.id,
            request_text="x",
            topic="tea",
            platforms=["tiktok"],
            duration_s=10,
            tone="calm",
            state=DraftState.SCHEDULED,
            current_version=1,
            scheduled_at=at,
        )
        session.add(draft)
    return draft.id


async def _state(sessions: SessionFactory, draft_id: int) -> str:
    async with sessions() as session:
        return (await session.execute(select(Draft.state).where(Draft.id == draft_id))).scalar_one()


async def test_a_wakeup_claims_only_its_own_due_time(sessions: SessionFactory) -> None:
    at = utc(2025, 11, 28, 8, 0)
    draft_id = await _scheduled_draft(sessions, at)
    async with sessions.begin() as session:
        assert await claim_due(session, draft_id, at, at - timedelta(seconds=5)) is Claim.EARLY
        moved_away = at - timedelta(hours=1)
        assert await claim_due(session, draft_id, moved_away, at) is Claim.STALE
        assert await claim_due(session, 999, at, at) is Claim.STALE
    assert await _state(sessions, draft_id) == "scheduled"

    async with sessions.begin() as session:
        assert await claim_due(session, draft_id, at, at) is Claim.STARTED
    assert await _state(sessions, draft_id) == "publishing"
    async with sessions.begin() as session:
        # A second wake-up finds it taken; only a re-run of the same (interrupted) one resumes.
        assert await claim_due(session, draft_id, at, at) is Claim.STALE
        assert await claim_due(session, draft_id, at, at, retry=True) is Claim.STARTED


def test_known_zones() -> None:
    assert known_zone("Europe/Berlin") == "Europe/Berlin"
    assert known_zone(" europe/berlin ") == "Europe/Berlin"
    assert known_zone("Mars/Olympus") is None
    assert known_zone("../etc/passwd") is None
