"""Button ids: what we encode decodes back; anything else is refused cleanly."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.buttons import BadButton, Press, Verb, decode, draft_buttons, encode
from handlers.port import Button, Media, MediaKind, Reply


@given(st.sampled_from(list(Verb)), st.integers(min_value=1, max_value=10**17))
def test_round_trip_and_fits_telegram(verb: Verb, draft_id: int) -> None:
    button_id = encode(verb, draft_id)
    assert decode(button_id) == Press(verb, draft_id)
    assert len(button_id.encode()) <= 64


@given(st.text(max_size=300))
def test_any_text_decodes_or_is_refused(text: str) -> None:
    try:
        press = decode(text)
    except BadButton as exc:
        assert "isn't one of mine" in str(exc)
    else:
        assert encode(press.verb, press.draft_id) == text


@pytest.mark.parametrize(
    "bad",
    [
        "d:approve:0",
        "d:approve:-1",
        "d:Approve:1",
        " d:approve:1",
        "d:idea:pumpkin spice latte",
        "d:idea:0123",
        "d:ideas:123",
    ],
)
def test_near_misses_are_refused(bad: str) -> None:
    with pytest.raises(BadButton):
        decode(bad)


@given(st.integers(min_value=10**11, max_value=10**12 - 1))
def test_an_idea_button_carries_only_the_ideas_number(idea_id: int) -> None:
    button_id = encode(Verb.DRAFT_IDEA, idea_id)
    assert button_id == f"d:idea:{idea_id}"
    assert decode(button_id) == Press(Verb.DRAFT_IDEA, idea_id)
    # Discord's persistent-button template is d:<letters>:<digits>.
    assert re.fullmatch(r"d:(?P<verb>[a-z]+):(?P<id>[0-9]+)", button_id)


def test_preview_buttons() -> None:
    assert [b.label for b in draft_buttons(7)] == [
        "Approve",
        "Schedule",
        "Regenerate",
        "Reject",
        "All captions",
    ]
    assert {decode(b.id).draft_id for b in draft_buttons(7)} == {7}


def test_reply_survives_the_chat_queue(tmp_path: object) -> None:
    from pathlib import Path

    reply = Reply(
        "text",
        buttons=(Button("Approve", "d:approve:1"),),
        media=(Media(MediaKind.VIDEO, Path("/v.mp4"), "t", Path("/t.png")),),
        edit_key="progress:1:1",
    )
    assert Reply.from_dict(reply.to_dict()) == reply
