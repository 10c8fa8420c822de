"""The `socialbot` command line: run, bot, worker, shell, demo, migrate, status."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from bot.logs import configure_logging
from bot.runtime import HeartbeatWorker
from bot.worker import worker_options
from services.db import migrate
from services.settings import Settings, SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="socialbot", description="Short videos from a chat request, approved and published."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="everything configured in one process")
    sub.add_parser("bot", help="the chat frontends and the chat-queue consumer")
    sub.add_parser("worker", help="the job worker (content and publishing)")
    sub.add_parser("shell", help="a console chat with the same handlers")
    demo = sub.add_parser("demo", help="a scripted conversation through the whole flow")
    demo.add_argument("topic", nargs="*", help="what the video is about")
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("status", help="queues, jobs, workers and outside services; exit 1 if unready")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `socialbot` console script."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"socialbot: {exc}", file=sys.stderr)
        return 2
    interactive = args.command in {"shell", "demo"}
    log_file = settings.media_dir / "logs" / "socialbot.log" if interactive else None
    configure_logging(level=settings.log_level, file=log_file, secrets=settings.secret_values())
    match args.command:
        case "demo":
            from bot.demo import DEFAULT_TOPIC, run_demo

            topic = " ".join(args.topic).strip() or DEFAULT_TOPIC
            return asyncio.run(run_demo(settings, topic=topic))
        case "shell":
            from bot.shell import run_shell

            return asyncio.run(run_shell(settings))
        case "migrate":
            asyncio.run(migrate(settings.sqlalchemy_url))
            print("socialbot: database is at the latest migration")
            return 0
        case "worker":
            return asyncio.run(_run_worker(settings))
        case "status":
            from bot.status import run_status

            return asyncio.run(run_status(settings, out=sys.stdout))
        case _:
            return asyncio.run(_run_bot(settings, with_worker=args.command == "run"))


async def _run_bot(settings: Settings, *, with_worker: bool) -> int:
    from bot.serve import NoFrontend, serve

    if not with_worker and not settings.redis_url:
        print(
            "socialbot: `socialbot bot` without a worker needs REDIS_URL, shared with the "
            "workers (`socialbot run` runs both in one process on the embedded Redis).",
            file=sys.stderr,
        )
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve(settings, stop=stop, with_worker=with_worker)
    except NoFrontend as exc:
        print(f"socialbot: {exc}", file=sys.stderr)
        return 2
    return 0


async def _run_worker(settings: Settings) -> int:
    if not settings.redis_url:
        print(
            "socialbot: `socialbot worker` on its own needs REDIS_URL (the embedded Redis "
            "lives inside one process; use `socialbot run` or `socialbot shell` without it).",
            file=sys.stderr,
        )
        return 2
    worker = HeartbeatWorker(**worker_options(settings))  # arq handles SIGINT/SIGTERM gracefully
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        pass  # arq cancels its main task when SIGINT or SIGTERM arrives: a normal stop
    finally:
        await worker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
