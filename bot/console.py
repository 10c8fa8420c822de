"""The console frontend: a chat in the terminal, with buttons as numbered choices."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from handlers.port import Attachment, Button, Incoming, Reply

CHAT_REF = "console:local"


class ConsoleChat:
    """Renders replies as text; typing a button's number presses it; `/as <name>` switches user."""

    def __init__(self, *, out: TextIO, chat_ref: str = CHAT_REF, user: str = "you") -> None:
        self._out = out
        self.chat_ref = chat_ref
        self.user = user
        self._buttons: dict[int, Button] = {}
        self._seen_edits: set[str] = set()
        self.replies: list[Reply] = []
        self._changed = asyncio.Condition()

    async def render(self, chat_ref: str, reply: Reply) -> None:
        """Print a reply; buttons get numbers that stay valid for the whole session."""
        prefix = "bot> "
        if reply.edit_key is not None:
            if reply.edit_key in self._seen_edits:
                prefix = "bot (updated)> "
            self._seen_edits.add(reply.edit_key)
        lines = reply.text.splitlines() or [""]
        self._out.write(prefix + lines[0] + "\n")
        for line in lines[1:]:
            self._out.write("     " + line + "\n")
        for media in reply.media:
            thumb = f" (thumbnail {media.thumbnail})" if media.thumbnail else ""
            self._out.write(f"     [{media.kind.value}] {media.path}{thumb}\n")
        if reply.buttons:
            choices = []
            for button in reply.buttons:
                number = len(self._buttons) + 1
                self._buttons[number] = button
                choices.append(f"[{number}] {button.label}")
            self._out.write("     " + "  ".join(choices) + "\n")
        self._out.flush()
        async with self._changed:
            self.replies.append(reply)
            self._changed.notify_all()

    def number_of(self, button_id: str) -> int | None:
        """The number shown for the latest button with this id."""
        numbers = [n for n, b in self._buttons.items() if b.id == button_id]
        return numbers[-1] if numbers else None

    def incoming(self, line: str) -> Incoming | None:
        """Turn a typed line into an incoming message or press; None for console-only commands."""
        text = line.strip()
        if text.startswith("/as "):
            self.user = text[4:].strip().removeprefix("@") or self.user
            self._out.write(f"(you are now {self.user})\n")
            return None
        user_ref = f"console:{self.user.lower()}"
        if text.startswith("/media ") and Path(text[7:].strip()).expanduser().is_file():
            path = Path(text[7:].strip()).expanduser()
            attachment = Attachment(path, path.name)
            return Incoming(
                self.chat_ref, user_ref, self.user, text="/media", attachments=(attachment,)
            )
        if text.isdigit():
            button = self._buttons.get(int(text))
            if button is None:
                self._out.write(f"(there is no choice {text})\n")
                return None
            self._out.write(f"{self.user} pressed: {button.label}\n")
            return Incoming(self.chat_ref, user_ref, self.user, button=button.id)
        return Incoming(self.chat_ref, user_ref, self.user, text=text)

    def echo(self, line: str) -> None:
        """Show a scripted line as if it were typed."""
        self._out.write(f"{self.user}> {line}\n")
        self._out.flush()

    async def wait_for(self, predicate: Callable[[Reply], bool], *, timeout: float) -> Reply:
        """Wait until a reply matching `predicate` has been rendered."""

        async def _wait() -> Reply:
            async with self._changed:
                while True:
                    for reply in self.replies:
                        if predicate(reply):
                            return reply
                    await self._changed.wait()

        return await asyncio.wait_for(_wait(), timeout)
