"""`socialbot run` and `socialbot bot`: frontends, chat-queue consumer, web app, and worker."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from contextlib import AsyncExitStack

import structlog
import uvicorn

from bot.adapter import ChatAdapter
from bot.api import ApiConfig
from bot.runtime import chat_worker, jobs_worker, open_runtime, running
from bot.web import create_web_app
from bot.webhooks import WebhookKeys
from bot.worker import SHUTDOWN_WAIT_S
from services.links import MediaLinks
from services.settings import Settings
from services.signing import Signer

log = structlog.get_logger(__name__)


class NoFrontend(Exception):
    """Nothing to talk to: no chat frontend is configured."""


async def serve(
    settings: Settings, *, stop: asyncio.Event, with_worker: bool = True, web: bool = True
) -> None:
    """Run until `stop` is set: every configured frontend, the web app and (optionally) jobs."""
    if settings.telegram_bot_token is None and settings.discord_bot_token is None:
        raise NoFrontend(
            "no chat frontend is configured. Set TELEGRAM_BOT_TOKEN or DISCORD_BOT_TOKEN "
            "(see the README), or use `socialbot shell` for the console chat."
        )
    if settings.public_url and settings.telegram_bot_token and not settings.telegram_webhook_secret:
        raise NoFrontend(
            "setting TELEGRAM_WEBHOOK_SECRET is missing: with PUBLIC_URL set, Telegram delivers "
            "updates to the webhook, and every delivery must carry that secret."
        )
    if settings.secret_key is None:
        log.warning("secret_key.missing", effect="media links last until this process stops")
    key = (
        settings.secret_key.get_secret_value().encode()
        if settings.secret_key
        else secrets.token_bytes(32)
    )
    async with AsyncExitStack() as stack:
        runtime = await stack.enter_async_context(open_runtime(settings))
        links = MediaLinks(
            signer=Signer(key=key, purpose="media"),
            store=runtime.app.store,
            public_url=settings.public_url,
        )
        adapters: dict[str, ChatAdapter] = {}
        telegram = None
        webhook_secret = (
            settings.telegram_webhook_secret.get_secret_value()
            if settings.telegram_webhook_secret
            else None
        )
        if settings.telegram_bot_token is not None:
            from bot.telegram import TelegramFrontend

            telegram = TelegramFrontend(
                app=runtime.app,
                token=settings.telegram_bot_token.get_secret_value(),
                api_base_url=settings.telegram_api_base_url,
                webhook_url=(
                    f"{settings.public_url}/telegram/webhook" if settings.public_url else None
                ),
                webhook_secret=webhook_secret,
                media_link=links.url_for,
            )
        if web:
            app = create_web_app(
                links=links,
                telegram_webhook=(
                    telegram.feed_webhook if telegram is not None and settings.public_url else None
                ),
                webhook_secret=webhook_secret,
                app=runtime.app,
                webhook_keys=WebhookKeys.from_settings(settings),
                api=ApiConfig.from_settings(settings, secret_key=key),
            )
            server = uvicorn.Server(
                uvicorn.Config(
                    app, host="0.0.0.0", port=settings.web_port, log_config=None, lifespan="off"
                )
            )
            task = asyncio.create_task(server.serve())
            stack.push_async_callback(_stop_server, server, task)
            await _until_listening(server, task)
        if telegram is not None:
            await telegram.start()
            stack.push_async_callback(telegram.stop)
            adapters["telegram"] = telegram
        if settings.discord_bot_token is not None:
            from bot.discord import DiscordFrontend

            discord_frontend = DiscordFrontend(
                app=runtime.app,
                token=settings.discord_bot_token.get_secret_value(),
                api_base_url=settings.discord_api_base_url,
                gateway_url=settings.discord_gateway_url,
                media_link=links.url_for,
            )
            await discord_frontend.start()
            stack.push_async_callback(discord_frontend.stop)
            adapters["discord"] = discord_frontend
        workers = [chat_worker(runtime, adapters)]
        if with_worker:
            workers.append(jobs_worker(runtime))
        await stack.enter_async_context(running(*workers, drain_s=SHUTDOWN_WAIT_S))
        log.info("socialbot.running", frontends=sorted(adapters), worker=with_worker)
        await stop.wait()


async def _stop_server(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _until_listening(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    """Wait for the web app to accept connections (webhooks must not arrive before it does)."""
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it (e.g. the port is taken)
            raise RuntimeError(
                f"the web app stopped before it started on port {server.config.port}"
            )
        await asyncio.sleep(0.02)
