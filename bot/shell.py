"""`socialbot shell`: the console chat, talking to the same handlers as every frontend."""

from __future__ import annotations

import asyncio
import sys

from bot.console import ConsoleChat
from bot.runtime import chat_worker, jobs_worker, open_runtime, running
from handlers.router import handle
from services.settings import Settings

BANNER = """socialbot console — type /help. Buttons show as [n]: type the number to press.
/as <name> switches who you are (to try roles). Ctrl-D quits.
"""


async def run_shell(settings: Settings) -> int:
    """Read lines from stdin until EOF, handling each like a chat message."""
    console = ConsoleChat(out=sys.stdout)
    sys.stdout.write(BANNER)
    async with open_runtime(settings) as runtime:
        app = runtime.app
        async with running(jobs_worker(runtime), chat_worker(runtime, {"console": console})):
            for line in ("/start",):
                incoming = console.incoming(line)
                assert incoming is not None
                for reply in await handle(app, incoming):
                    await console.render(console.chat_ref, reply)
            while True:
                sys.stdout.write(f"{console.user}> ")
                sys.stdout.flush()
                line = await asyncio.to_thread(sys.stdin.readline)
                if not line:
                    break
                if not line.strip():
                    continue
                incoming = console.incoming(line)
                if incoming is None:
                    continue
                for reply in await handle(app, incoming):
                    await console.render(console.chat_ref, reply)
    return 0
