"""Digest schedules: reading them, their slots in the workspace's zone, claiming a slot once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time

import pytest
from sqlalchemy import select

from services.db import SessionFactory, make_engine, make_sessions, migrate
from services.digest_schedule import (
    Cadence,
    DigestSchedule,
    DigestScheduleError,
    claim_slot,
    latest_slot,
    next_slot,
    parse_schedule,
    release_slot,
    set_schedule,
)
from services.models import ChatBinding, Workspace
from tests.conftest import postgres_database

DAILY_9 = DigestSchedule(Cadence.DAILY, time(9))
MONDAY_9 = DigestSchedule(Cadence.WEEKLY, time(9), 0)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("said", "schedule"),
    [
        ("daily 09:00", DAILY_9),
        ("Daily 9:00", DAILY_9),
        ("daily 9am", DAILY_9),
        ("daily 6:30pm", DigestSchedule(Cadence.DAILY, time(18, 30))),
        ("daily 12am", DigestSchedule(Cadence.DAILY, time(0))),
        ("weekly mon 09:00", MONDAY_9),
        ("weekly Monday 9am", MONDAY_9),
        ("weekly sun 23:59", DigestSchedule(Cadence.WEEKLY, time(23, 59), 6)),
    ],
)
def test_parse(said: str, schedule: DigestSchedule) -> None:
    assert parse_schedule(said.split()) == schedule


@pytest.mark.parametrize(
    ("said", "complaint"),
    [
        ("daily", "as a schedule"),
        ("hourly 09:00", "as a schedule"),
        ("daily 9", "not a time of day"),
        ("daily 24:00", "not a time of day"),
        ("daily 13pm", "not a time of day"),
        ("daily 09:60", "not a time of day"),
        ("weekly 09:00", "as a schedule"),
        ("weekly m 09:00", "not a weekday"),
        ("weekly someday 09:00", "not a weekday"),
        ("weekly mon 09:00 extra", "as a schedule"),
    ],
)
def test_parse_refuses_with_what_works(said: str, complaint: str) -> None:
    with pytest.raises(DigestScheduleError, match=complaint):
        parse_schedule(said.split())


def test_describe() -> None:
    assert DAILY_9.describe() == "daily at 09:00" and DAILY_9.days == 1
    assert MONDAY_9.describe() == "weekly on Monday at 09:00" and MONDAY_9.days == 7


@pytest.mark.parametrize(
    ("schedule", "tz", "now", "latest", "upcoming"),
    [
        # 09:00 in Berlin is 08:00 UTC in winter, 07:00 UTC in summer.
        (
            DAILY_9,
            "Europe/Berlin",
            utc(2026, 11, 20, 7, 59),
            utc(2026, 11, 19, 8),
            utc(2026, 11, 20, 8),
        ),
        (
            DAILY_9,
            "Europe/Berlin",
            utc(2026, 11, 20, 8),
            utc(2026, 11, 20, 8),
            utc(2026, 11, 21, 8),
        ),
        (DAILY_9, "Europe/Berlin", utc(2026, 7, 1, 12), utc(2026, 7, 1, 7), utc(2026, 7, 2, 7)),
        # The clocks go forward on Sunday 29 March 2026: the slot moves with them.
        (
            DAILY_9,
            "Europe/Berlin",
            utc(2026, 3, 29, 7, 30),
            utc(2026, 3, 29, 7),
            utc(2026, 3, 30, 7),
        ),
        (
            DAILY_9,
            "Europe/Berlin",
            utc(2026, 3, 29, 6, 30),
            utc(2026, 3, 28, 8),
            utc(2026, 3, 29, 7),
        ),
        # Mondays 09:00 in New York (14:00 UTC in winter); Fri 20 Nov 2026.
        (
            MONDAY_9,
            "America/New_York",
            utc(2026, 11, 20, 12),
            utc(2026, 11, 16, 14),
            utc(2026, 11, 23, 14),
        ),
        (
            MONDAY_9,
            "America/New_York",
            utc(2026, 11, 23, 14),
            utc(2026, 11, 23, 14),
            utc(2026, 11, 30, 14),
        ),
        # Auckland (UTC+13 in November) has its Monday 09:00 at 20:00 UTC on Sunday.
        (
            MONDAY_9,
            "Pacific/Auckland",
            utc(2026, 11, 22, 19, 59),
            utc(2026, 11, 15, 20),
            utc(2026, 11, 22, 20),
        ),
    ],
)
def test_slots(
    schedule: DigestSchedule, tz: str, now: datetime, latest: datetime, upcoming: datetime
) -> None:
    assert latest_slot(schedule, tz, now) == latest
    assert next_slot(schedule, tz, now) == upcoming


async def _binding(sessions: SessionFactory, schedule: DigestSchedule, now: datetime) -> int:
    async with sessions.begin() as s:
        workspace = Workspace(name="w", timezone="Europe/Berlin")
        s.add(workspace)
        await s.flush()
        binding = ChatBinding(workspace_id=workspace.id, chat_ref="console:team")
        s.add(binding)
        await set_schedule(s, binding, schedule, timezone="Europe/Berlin", now=now)
    return binding.id


async def test_setting_a_schedule_counts_its_latest_slot_as_done(
    sessions: SessionFactory,
) -> None:
    now = utc(2026, 11, 20, 10)  # 11:00 in Berlin: today's 09:00 has passed
    binding_id = await _binding(sessions, DAILY_9, now)
    async with sessions() as s:
        binding = await s.get(ChatBinding, binding_id)
        assert binding is not None
        assert DigestSchedule.stored(binding) == DAILY_9
        assert binding.digest_last_slot == utc(2026, 11, 20, 8)
    async with sessions.begin() as s:
        assert not await claim_slot(s, binding_id, DAILY_9, utc(2026, 11, 20, 8))
        assert await claim_slot(s, binding_id, DAILY_9, utc(2026, 11, 21, 8))
    async with sessions.begin() as s:
        binding = await s.get(ChatBinding, binding_id)
        assert binding is not None
        await set_schedule(s, binding, None, timezone="Europe/Berlin", now=now)
    async with sessions() as s:
        binding = await s.get(ChatBinding, binding_id)
        assert binding is not None and DigestSchedule.stored(binding) is None


async def test_a_slot_is_claimed_once_and_a_release_gives_it_back(
    sessions: SessionFactory,
) -> None:
    binding_id = await _binding(sessions, DAILY_9, utc(2026, 11, 19, 10))
    slot = utc(2026, 11, 20, 8)

    async def claim() -> bool:
        async with sessions.begin() as s:
            return await claim_slot(s, binding_id, DAILY_9, slot)

    assert sorted(await asyncio.gather(*(claim() for _ in range(5)))) == [False] * 4 + [True]
    async with sessions.begin() as s:
        await release_slot(s, binding_id, slot, utc(2026, 11, 19, 8))
    assert await claim()
    # A schedule changed meanwhile is not claimed under the old one.
    assert not await _claim_other(sessions, binding_id, utc(2026, 11, 21, 8))


async def _claim_other(sessions: SessionFactory, binding_id: int, slot: datetime) -> bool:
    async with sessions.begin() as s:
        return await claim_slot(s, binding_id, MONDAY_9, slot)


@pytest.mark.slow
async def test_concurrent_claims_on_postgres() -> None:
    async with postgres_database() as url:
        await migrate(url)
        engine = make_engine(url)
        try:
            sessions = make_sessions(engine)
            binding_id = await _binding(sessions, DAILY_9, utc(2026, 11, 19, 10))

            async def claim() -> bool:
                async with sessions.begin() as s:
                    return await claim_slot(s, binding_id, DAILY_9, utc(2026, 11, 20, 8))

            results = await asyncio.gather(*(claim() for _ in range(8)))
            assert sorted(results) == [False] * 7 + [True]
            async with sessions() as s:
                last = await s.scalar(
                    select(ChatBinding.digest_last_slot).where(ChatBinding.id == binding_id)
                )
            assert last == utc(2026, 11, 20, 8)
        finally:
            await engine.dispose()
