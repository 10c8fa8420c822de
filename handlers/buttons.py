"""Button ids: `d:<verb>:<draft-id>`, encoded and decoded in one place, trusted for nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from handlers.port import Button


class Verb(StrEnum):
    """What a draft button asks for."""

    APPROVE = "approve"
    REJECT = "reject"
    REGENERATE = "regen"
    CAPTIONS = "caps"
    SCHEDULE = "sched"  # show the preset times
    UNSCHEDULE = "unsched"
    # One per preset time, computed when pressed (letters only: Discord's button template).
    AT_HOUR = "athour"
    AT_TODAY_EVENING = "ateve"
    AT_TOMORROW_MORNING = "attam"
    AT_TOMORROW_EVENING = "attpm"
    AT_MONDAY_MORNING = "atmon"
    # Not a draft's: makes one from an idea of /ideas; the id is the idea's (services.ideas).
    DRAFT_IDEA = "idea"


LABELS = {
    Verb.APPROVE: "Approve",
    Verb.SCHEDULE: "Schedule",
    Verb.REGENERATE: "Regenerate",
    Verb.REJECT: "Reject",
    Verb.CAPTIONS: "All captions",
}

_PATTERN = re.compile(rf"d:({'|'.join(v.value for v in Verb)}):([1-9][0-9]{{0,17}})")


@dataclass(frozen=True)
class Press:
    """A decoded button id; the draft id (an idea's id for `DRAFT_IDEA`) is only a claim,
    checked by the caller."""

    verb: Verb
    draft_id: int


class BadButton(ValueError):
    """The button id is not one this bot made."""


def encode(verb: Verb, draft_id: int) -> str:
    """The id a button carries; well under Telegram's 64 bytes."""
    return f"d:{verb.value}:{draft_id}"


def decode(button_id: str) -> Press:
    """Parse a button id, raising `BadButton` for anything that is not exactly ours."""
    match = _PATTERN.fullmatch(button_id)
    if match is None:
        raise BadButton("That button isn't one of mine (it may have been altered).")
    return Press(Verb(match.group(1)), int(match.group(2)))


def draft_buttons(draft_id: int) -> tuple[Button, ...]:
    """The buttons under a preview."""
    return tuple(Button(LABELS[v], encode(v, draft_id)) for v in LABELS)
