"""What the Instagram and Facebook publisher tests share: tokens and a checkpoint to watch."""

from __future__ import annotations

from collections.abc import Callable

from services.publishing import AccountNeedsReconnect


class FakeTokens:
    """A connected account's token; `renew` plays the refresh (None: the refresh is refused)."""

    def __init__(
        self, token: str, renew: Callable[[], str] | None = None, *, platform: str = "instagram"
    ) -> None:
        self.token = token
        self.renew = renew
        self.platform = platform
        self.refreshes = 0

    async def access_token(self) -> str:
        return self.token

    async def refresh(self) -> str:
        self.refreshes += 1
        if self.renew is None:
            raise AccountNeedsReconnect(f"Meta refused the refresh: run /connect {self.platform}")
        self.token = self.renew()
        return self.token


class Saved:
    """A Checkpoint that remembers what it was given."""

    def __init__(self) -> None:
        self.refs: list[str] = []

    async def __call__(self, remote_ref: str) -> None:
        self.refs.append(remote_ref)
