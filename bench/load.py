"""Benchmark: many chats at once against `socialbot run`, through a loopback Bot API server.

`socialbot run` (Telegram long polling, embedded Redis, SQLite) runs as its own process against
the fake Bot API in tests/fakes/telegram_server.py. Every chat is a person in a private chat:
- commands: each chat sends `/drafts`, waits for the answer, pauses `--think-s` (0: none, a
  closed loop that measures the most the bot can take), and sends the next;
- presses: each chat presses a draft button (for a draft that does not exist), and waits for
  the acknowledgement (answerCallbackQuery), pauses, and presses again.
Latency is from the moment the update is handed to the Bot API fake to the moment the bot's
answer reaches it (both stamped by the fake's clock). Memory is the bot process's VmHWM.

Run: .venv/bin/python bench/load.py [--chats 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.telegram_server import FakeTelegram  # noqa: E402

SOCIALBOT = Path(sys.executable).parent / "socialbot"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _memory_mb(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return hwm / 1024, rss / 1024


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bench(chats: int, rounds: int, think_s: float, database_url: str | None) -> None:
    """Start the bot against the fake, run both phases, print the figures."""
    async with FakeTelegram() as tg:
        with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
            names = {"DATABASE_URL", "REDIS_URL", "PUBLIC_URL", "DISCORD_BOT_TOKEN"}
            env = {k: v for k, v in os.environ.items() if k not in names} | {
                "TELEGRAM_BOT_TOKEN": tg.token,
                "TELEGRAM_API_BASE_URL": tg.base_url,
                "MEDIA_DIR": str(Path(tmp) / "media"),
                "WEB_PORT": str(_free_port()),
                "LOG_LEVEL": "WARNING",
            }
            if database_url:
                env["DATABASE_URL"] = database_url
            bot = await asyncio.create_subprocess_exec(
                str(SOCIALBOT), "run", env=env, cwd=tmp, stderr=asyncio.subprocess.DEVNULL
            )
            try:
                await tg.wait_for(lambda: tg.commands, timeout=60)
                await _phases(tg, bot.pid, chats, rounds, think_s)
            finally:
                bot.terminate()
                await bot.wait()


async def _phases(tg: FakeTelegram, pid: int, chats: int, rounds: int, think_s: float) -> None:
    people = [tg.user(username=f"user{i}") for i in range(chats)]
    rooms = [tg.private_chat(p) for p in people]
    for room, person in zip(rooms, people, strict=True):
        tg.send_text(room, person, "/start")
    await tg.wait_for(lambda: all(tg.messages(r) for r in rooms), timeout=300)

    async def talk(i: int) -> list[float]:
        room, person, took = rooms[i], people[i], []
        await asyncio.sleep(think_s * i / chats)  # spread the chats' starts over one pause
        for _ in range(rounds):
            before = len(tg.messages(room))
            start = time.monotonic()
            tg.send_text(room, person, "/drafts")
            reply = await tg.wait_for(
                lambda b=before: tg.messages(room)[b] if len(tg.messages(room)) > b else None,
                timeout=120,
            )
            took.append(reply.sent_at - start)
            await asyncio.sleep(think_s)
        return took

    async def press(i: int) -> list[float]:
        room, person, took = rooms[i], people[i], []
        anchor = tg.messages(room)[0].message_id
        await asyncio.sleep(think_s * i / chats)
        for n in range(rounds):
            start = time.monotonic()
            update = tg.press(room, person, anchor, f"d:caps:{900000 + n}", check=False)
            query_id = update["callback_query"]["id"]
            answer = await tg.wait_for(
                lambda q=query_id: next(
                    (a for a in tg.callback_answers if a.callback_query_id == q), None
                ),
                timeout=120,
            )
            took.append(answer.at - start)
            await asyncio.sleep(think_s)
        return took

    loop = f"{think_s:g} s between a chat's messages" if think_s else "closed loop"
    print(f"\n{chats} chats x {rounds} rounds, {loop}, {os.cpu_count()} cores")
    print(f"{'phase':<10}{'per s':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, one in (("commands", talk), ("presses", press)):
        started = time.monotonic()
        results = await asyncio.gather(*(one(i) for i in range(chats)))
        wall = time.monotonic() - started
        took = [t * 1000 for r in results for t in r]
        print(
            f"{name:<10}{len(took) / wall:>8.0f}{statistics.median(took):>9.1f}"
            f"{_percentile(took, 0.99):>9.1f}{max(took):>9.1f}"
        )
    hwm, rss = _memory_mb(pid)
    print(f"bot process: peak RSS {hwm:.0f} MB, now {rss:.0f} MB")


def main() -> None:
    """Parse the arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--think-s", type=float, default=0.0, help="pause between a chat's acts")
    parser.add_argument("--database-url", help="e.g. postgresql+asyncpg://user@127.0.0.1/db")
    args = parser.parse_args()
    asyncio.run(bench(args.chats, args.rounds, args.think_s, args.database_url))


if __name__ == "__main__":
    main()
