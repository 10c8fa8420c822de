"""The whole way through a real uvicorn on loopback: key → token → generate → task → the
worker makes the video → approve → publish to the local outbox; the chat sees every step."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.api.conftest import CHAT, World
from tests.fakes.loopback import serve_web

pytestmark = pytest.mark.slow


@contextlib.asynccontextmanager
async def serving(web: FastAPI) -> AsyncIterator[str]:
    """Serve `web` with uvicorn on a free loopback port until the block ends; its base URL."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        async with serve_web(web, listener) as base:
            yield base


async def test_key_to_published_post_over_http(world: World) -> None:
    secret = await world.new_key("ci-bot", "approver")
    async with serving(world.web()) as base, httpx.AsyncClient(base_url=base) as http:
        pair = (await http.post("/api/v1/auth/token", json={"api_key": secret})).json()
        auth = {"Authorization": f"Bearer {pair['access_token']}"}
        asked = await http.post(
            "/api/v1/content/generate",
            json={"topic": "cold brew at home", "platforms": ["tiktok"], "duration": 5},
            headers=auth,
        )
        assert asked.status_code == 202, asked.text
        draft_id, task = asked.json()["draft"]["id"], asked.json()["task"]
        assert task["status"] == "queued"

        await world.drain()  # the worker writes, voices and renders; the chat gets the preview
        done = (await http.get(f"/api/v1/content/task/{task['id']}", headers=auth)).json()
        assert (done["status"], done["stage"]) == (
            "complete",
            "done: v1 is made, waiting for approval in the chat",
        )
        texts = [r.text for r in world.console.replies]
        assert any(f"Draft #{draft_id} v1 is ready for review" in t for t in texts), texts
        shown = (await http.get(f"/api/v1/drafts/{draft_id}", headers=auth)).json()
        video = await http.get(shown["versions"][0]["files"]["video"])
        assert video.status_code == 200 and video.content[4:8] == b"ftyp"

        approved = await http.post(f"/api/v1/drafts/{draft_id}/approve", headers=auth)
        assert approved.status_code == 200, approved.text
        assert approved.json()["draft"]["state"] == "approved"
        publish_task = approved.json()["task"]
        assert publish_task == f"publish:{draft_id}"
        await world.drain()
        after = (await http.get(f"/api/v1/content/task/{publish_task}", headers=auth)).json()
        assert (after["status"], after["stage"]) == ("complete", "done: published")
        again = await http.post("/api/v1/publish", json={"draft_id": draft_id}, headers=auth)
        assert again.status_code == 409 and "already published" in again.json()["detail"]
        shown = (await http.get(f"/api/v1/drafts/{draft_id}", headers=auth)).json()

    assert shown["state"] == "published"
    (post,) = shown["publications"]
    assert (post["platform"], post["state"]) == ("tiktok", "published")
    (approval,) = shown["approvals"]
    assert (approval["by"], approval["decision"]) == ("API key ci-bot", "approve")
    folder = world.runtime.app.media_dir / "outbox" / "tiktok"
    (manifest,) = folder.glob("*/manifest.json")
    assert json.loads(manifest.read_text())["title"]
    assert (manifest.parent / "video.mp4").stat().st_size > 10_000
    texts = [r.text for r in world.console.replies]
    assert f"🔌 ✅ Draft #{draft_id} approved by API key ci-bot. Publishing to tiktok…" in texts
    assert world.console.chat_ref == CHAT
