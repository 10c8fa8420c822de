"""Who is acting, and the refusal every use case raises for a request it cannot do."""

from __future__ import annotations

from dataclasses import dataclass

from services.models import Member, Role, Workspace
from services.workspaces import RANK


class Refusal(Exception):
    """A request that cannot be done; the message says why and what to do instead."""


class Forbidden(Refusal):
    """A refusal because of who is acting (their role), not of what they asked for."""


@dataclass(frozen=True)
class Actor:
    """Who is acting, in which workspace, and with which role (their own or a group's)."""

    workspace: Workspace
    member: Member
    groups: tuple[str, ...] = ()

    @property
    def role(self) -> str:
        """The highest of the member's own role and the roles mapped to their chat groups."""
        mapped = [
            Role(r) for g in self.groups if (r := (self.workspace.role_map or {}).get(g.lower()))
        ]
        return max([Role(self.member.role), *mapped], key=RANK.__getitem__).value
