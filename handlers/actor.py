"""Who is acting, and the refusal every use case raises for a request it cannot do."""

from __future__ import annotations

from dataclasses import dataclass

from services.models import Member, Workspace


class Refusal(Exception):
    """A request that cannot be done; the message says why and what to do instead."""


@dataclass(frozen=True)
class Actor:
    """Who is acting, in which workspace."""

    workspace: Workspace
    member: Member
