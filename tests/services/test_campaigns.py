"""Campaign cadences and slots (daylight saving included), the one-line settings, feeds, and
claiming a slot's run in the database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from services.cadence import (
    Cadence,
    CadenceError,
    count_slots,
    latest_slot,
    next_slot,
    parse_cadence,
)
from services.campaign_spec import SpecError, TopicSource, describe_span, parse_spec, split_name
from services.campaigns import DueRun, claim_run, due_runs
from services.db import SessionFactory
from services.feeds import FeedError, newest_unused, parse_feed, read_feed
from services.models import Campaign, CampaignRun, CampaignState, Member, Workspace
from services.net_guard import BlockedAddress
from services.settings import SettingsError, load_settings
from tests.fakes.feed_server import feed_server

NEW_YORK = "America/New_York"  # 2026: clocks go forward on 8 March, back on 1 November
BERLIN = "Europe/Berlin"  # 2026: forward on 29 March, back on 25 October


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_the_cadence_forms() -> None:
    assert parse_cadence("every mon,thu 9:00") == Cadence((0, 3), (time(9),))
    assert parse_cadence("every day 18:30").weekdays == tuple(range(7))
    assert parse_cadence("every weekday 8:00").describe() == "every weekday 08:00"
    assert parse_cadence("Every Monday and Friday at 9am, 5:30pm") == Cadence(
        (0, 4), (time(9), time(17, 30))
    )
    assert parse_cadence("every sat-mon 10:00").weekdays == (0, 5, 6)
    assert parse_cadence("every weekend 10:00").describe() == "every weekend 10:00"
    assert parse_cadence("every tue,fri 7:05").describe() == "every tue,fri 07:05"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("daily 9:00", "“every mon,thu 9:00”"),
        ("every mon", "has no time of day"),
        ("every funday 9:00", "“funday” is not a day"),
        ("every day 25:00", "“25:00” is not a time of day"),
        ("every day 9", "“9” is not a time of day"),
        ("every day 1:00,2:00,3:00,4:00,5:00,6:00,7:00", "at most 6"),
    ],
)
def test_a_cadence_that_cannot_be_read_shows_the_form(text: str, says: str) -> None:
    with pytest.raises(CadenceError, match=says):
        parse_cadence(text)


@given(
    st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1),
    st.lists(st.tuples(st.integers(0, 23), st.integers(0, 59)), min_size=1, max_size=6),
)
def test_a_described_cadence_reads_back_the_same(
    days: list[str], times: list[tuple[int, int]]
) -> None:
    text = f"every {','.join(days)} {','.join(f'{h}:{m:02d}' for h, m in times)}"
    cadence = parse_cadence(text)
    assert parse_cadence(cadence.describe()) == cadence


def test_a_nine_oclock_slot_stays_at_nine_local_across_the_spring_change() -> None:
    cadence = parse_cadence("every day 9:00")
    slots, at = [], utc(2026, 3, 6, 0)
    for _ in range(4):
        at = next_slot(cadence, NEW_YORK, at)
        slots.append(at)
    # EST (UTC-5) until Sunday 8 March, EDT (UTC-4) from then on.
    assert slots == [
        utc(2026, 3, 6, 14),
        utc(2026, 3, 7, 14),
        utc(2026, 3, 8, 13),
        utc(2026, 3, 9, 13),
    ]
    assert latest_slot(cadence, NEW_YORK, utc(2026, 3, 8, 12, 59)) == utc(2026, 3, 7, 14)
    assert latest_slot(cadence, NEW_YORK, utc(2026, 3, 8, 13)) == utc(2026, 3, 8, 13)


def test_a_nine_oclock_slot_stays_at_nine_local_across_the_autumn_change() -> None:
    cadence = parse_cadence("every sat,sun,mon 9:00")
    # CEST (UTC+2) until Sunday 25 October 03:00, CET (UTC+1) after.
    assert next_slot(cadence, BERLIN, utc(2026, 10, 23)) == utc(2026, 10, 24, 7)
    assert next_slot(cadence, BERLIN, utc(2026, 10, 24, 7)) == utc(2026, 10, 25, 8)
    assert next_slot(cadence, BERLIN, utc(2026, 10, 25, 8)) == utc(2026, 10, 26, 8)


def test_a_time_in_the_spring_gap_moves_past_it_and_one_in_the_autumn_overlap_runs_once() -> None:
    gap = parse_cadence("every sun 2:30")  # 02:00-03:00 does not exist on 8 March
    assert next_slot(gap, NEW_YORK, utc(2026, 3, 7)) == utc(2026, 3, 8, 7, 30)  # 03:30 EDT
    overlap = parse_cadence("every sun 1:30")  # 01:00-02:00 happens twice on 1 November
    first = next_slot(overlap, NEW_YORK, utc(2026, 10, 31))
    assert first == utc(2026, 11, 1, 5, 30)  # the first 01:30 (EDT)
    assert next_slot(overlap, NEW_YORK, first) == utc(2026, 11, 8, 6, 30)  # a week on, EST
    assert count_slots(overlap, NEW_YORK, utc(2026, 10, 31), utc(2026, 11, 2)) == 1
    both = parse_cadence("every sun 2:30,3:30")  # both fall at 03:30 EDT that day: one slot
    assert count_slots(both, NEW_YORK, utc(2026, 3, 7), utc(2026, 3, 9)) == 1


def test_counting_the_slots_of_an_outage() -> None:
    cadence = parse_cadence("every mon,thu 9:00")
    # Mon 2 Nov 2026 to Mon 16 Nov 2026 in Berlin (CET): 2, 5, 9, 12, 16 November.
    assert count_slots(cadence, BERLIN, utc(2026, 11, 2, 8), utc(2026, 11, 16, 8)) == 4
    assert count_slots(cadence, BERLIN, utc(2026, 11, 2, 7), utc(2026, 11, 16, 8)) == 5


def test_one_line_settings() -> None:
    name, rest = split_name(
        '"Monday tips" every mon,thu 9:00 template:weekly-tips topics: grinder care; milk foam; '
        "latte art"
    )
    spec = parse_spec(rest)
    assert name == "Monday tips"
    assert spec.cadence == Cadence((0, 3), (time(9),))
    assert spec.template == "weekly-tips"
    assert spec.source is TopicSource.LIST
    assert spec.topics == ("grinder care", "milk foam", "latte art")
    assert spec.auto_publish_after_s is None and spec.platforms is None

    name, rest = split_name("News every day 18:30 feed: https://example.com/f.xml auto 2h")
    spec = parse_spec(rest)
    assert (name, spec.source, spec.feed_url) == (
        "News",
        TopicSource.FEED,
        "https://example.com/f.xml",
    )
    assert spec.auto_publish_after_s == 7200

    spec = parse_spec("every weekday 8:00 ideas platforms: tiktok and yt auto: 1h30m")
    assert spec.source is TopicSource.IDEAS
    assert [p.value for p in spec.platforms or ()] == ["tiktok", "youtube"]
    assert spec.auto_publish_after_s == 5400

    spec = parse_spec("every day 9:00 topics: milk foam; auto repair auto 2h")
    assert (spec.topics, spec.auto_publish_after_s) == (("milk foam", "auto repair"), 7200)

    spec = parse_spec("template:none platforms: default auto off")
    assert spec.given == {"template", "platforms", "auto"}
    assert (spec.template, spec.platforms, spec.auto_publish_after_s) == (None, None, None)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("every day 9:00 ideas feed: http://a.example", "Choose one source"),
        ("every day 9:00 topics: ;", "List the topics"),
        ("every day 9:00 ideas auto 2 weeks", "auto 2 weeks"),
        ("every day 9:00 ideas auto 1m", "between 10 minutes and 7 days"),
        ("every day 9:00 ideas platforms: myspace", "Name the platforms"),
        ("each day ideas", "I don't know what"),
    ],
)
def test_settings_that_cannot_be_read(line: str, says: str) -> None:
    with pytest.raises(SpecError, match=says):
        parse_spec(line)


RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Beans</title>
<item><guid>b</guid><title>Older &amp; wiser</title>
<pubDate>Mon, 05 Jan 2026 08:00:00 GMT</pubDate></item>
<item><guid>a</guid><title>Newest roast</title><pubDate>Tue, 06 Jan 2026 08:00:00 GMT</pubDate>
</item></channel></rss>"""


def test_feed_entries_come_newest_first_and_used_ones_are_skipped() -> None:
    feed = parse_feed(RSS)
    assert feed.title == "Beans"
    assert [e.title for e in feed.entries] == ["Newest roast", "Older & wiser"]
    assert newest_unused(feed, {"a"}) == feed.entries[1]
    assert newest_unused(feed, {"a", "b"}) is None
    with pytest.raises(FeedError, match="RSS or Atom"):
        parse_feed(b"<html><body>hello</body></html>")


async def test_a_feed_on_loopback_is_refused_unless_allowed() -> None:
    async with feed_server("one", "two", atom=True) as server:
        with pytest.raises(FeedError, match="inside this network") as refused:
            await read_feed(server.url)
        assert isinstance(refused.value.__cause__, BlockedAddress)
        assert server.hits == 0
        feed = await read_feed(server.url, allow=["127.0.0.1"])
        assert [e.title for e in feed.entries] == ["two", "one"]
        with pytest.raises(FeedError, match="RSS or Atom"):
            await read_feed(server.url.replace("feed.xml", "page.html"), allow=["127.0.0.1"])
        with pytest.raises(FeedError, match="HTTP 404"):
            await read_feed(server.url.replace("feed.xml", "gone"), allow=["127.0.0.1"])


async def _campaign(sessions: SessionFactory, now: datetime) -> Campaign:
    async with sessions.begin() as session:
        workspace = Workspace(name="w", timezone=NEW_YORK)
        session.add(workspace)
        await session.flush()
        member = Member(workspace_id=workspace.id, user_ref="u", display_name="u", role="owner")
        session.add(member)
        await session.flush()
        cadence = parse_cadence("every day 9:00")
        campaign = Campaign(
            workspace_id=workspace.id,
            chat_ref="console:c",
            name="daily",
            weekdays=list(cadence.weekdays),
            times=cadence.clocks,
            source="list",
            topics=["a"],
            created_by=member.id,
            last_slot=latest_slot(cadence, NEW_YORK, now),
        )
        session.add(campaign)
    return campaign


async def test_of_two_claims_on_one_slot_one_wins(sessions: SessionFactory) -> None:
    campaign = await _campaign(sessions, utc(2026, 3, 6, 12))
    now = utc(2026, 3, 6, 14, 0, 30)
    async with sessions() as session:
        [due] = await due_runs(session, now)
    assert (due.slot, due.missed) == (utc(2026, 3, 6, 14), 0)

    async def claim() -> bool:
        async with sessions.begin() as session:
            return await claim_run(session, due) is not None

    assert sorted(await asyncio.gather(claim(), claim(), claim())) == [False, False, True]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(CampaignRun)) == 1
        assert await due_runs(session, now) == []
        stored = await session.get(Campaign, campaign.id)
        assert stored is not None and stored.last_slot == due.slot


async def test_the_unique_slot_holds_even_against_a_stale_read(sessions: SessionFactory) -> None:
    await _campaign(sessions, utc(2026, 3, 6, 12))
    now = utc(2026, 3, 7, 14, 1)
    async with sessions() as session:
        [due] = await due_runs(session, now)
    async with sessions.begin() as session:
        assert await claim_run(session, due) is not None
    # A worker that read the campaign before that claim, with its old last slot:
    stale = DueRun(due.campaign, due.timezone, due.slot, 0)
    async with sessions.begin() as session:
        assert await claim_run(session, stale) is None


async def test_a_paused_campaign_is_not_due_and_not_claimed(sessions: SessionFactory) -> None:
    campaign = await _campaign(sessions, utc(2026, 3, 6, 12))
    now = utc(2026, 3, 7, 15)
    async with sessions() as session:
        [due] = await due_runs(session, now)
    async with sessions.begin() as session:
        row = await session.get(Campaign, campaign.id)
        assert row is not None
        row.state = CampaignState.PAUSED.value
    async with sessions() as session:
        assert await due_runs(session, now) == []
    async with sessions.begin() as session:
        assert await claim_run(session, due) is None  # read before the pause: still refused
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(CampaignRun)) == 0


def test_describing_a_span() -> None:
    assert describe_span(7200) == "2 h"
    assert describe_span(5400) == "90 min"
    assert describe_span(86400 + 6 * 3600) == "1 day 6 h"
    assert describe_span(int(timedelta(minutes=45).total_seconds())) == "45 min"


def test_fetch_allow_is_read_once_and_a_bad_entry_is_named(tmp_path: Path) -> None:
    settings = load_settings(
        _env_file=None, MEDIA_DIR=tmp_path, FETCH_ALLOW="127.0.0.1, feeds.internal,10.0.0.0/8"
    )
    assert settings.fetch_allow_entries == ("127.0.0.1", "feeds.internal", "10.0.0.0/8")
    assert load_settings(_env_file=None, MEDIA_DIR=tmp_path).fetch_allow_entries == ()
    with pytest.raises(SettingsError, match=r"setting FETCH_ALLOW is malformed: .*'bad host!'"):
        load_settings(_env_file=None, MEDIA_DIR=tmp_path, FETCH_ALLOW="bad host!")
