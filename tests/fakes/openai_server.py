"""A loopback fake of the OpenAI Chat Completions API, for the real `openai` client to talk to.

It speaks the wire protocol: `POST /v1/chat/completions` with a JSON body and a bearer key,
answered with a `chat.completion` object or OpenAI's error shape. What it answers comes from a
queue of scripted `Reply`s (content, raw text, a refusal, an HTTP error, a delay), then from
`always` if set, and otherwise from a small "brain" that builds a schema-valid answer for the
request's `response_format.json_schema` (by schema name, else from the schema itself).
Every request is recorded so tests can look at the prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any

from aiohttp import web

from tests.fakes.loopback import start_app

_PLATFORMS = ("youtube", "tiktok", "instagram", "facebook")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


@dataclass(frozen=True)
class Reply:
    """One scripted answer: content (dict → JSON, str → raw), a refusal, an error or a delay."""

    content: object = None  # None: let the brain answer
    refusal: str | None = None
    status: int = 200
    error_type: str = "server_error"
    error_code: str | None = None
    message: str = "The server had an error while processing your request."
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    usage: tuple[int, int] | None = None  # (prompt_tokens, completion_tokens)
    finish_reason: str = "stop"

    @classmethod
    def json(cls, obj: object, *, usage: tuple[int, int] | None = None) -> Reply:
        """Answer with `obj` serialised as the message content."""
        return cls(content=obj, usage=usage)

    @classmethod
    def raw(cls, text: str) -> Reply:
        """Answer with `text` as the message content, as is (e.g. malformed JSON)."""
        return cls(content=text)

    @classmethod
    def refuse(cls, text: str) -> Reply:
        """Answer with a refusal and no content."""
        return cls(refusal=text)

    @classmethod
    def error(
        cls,
        status: int,
        message: str = "Something went wrong.",
        *,
        error_type: str = "server_error",
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Answer with an HTTP error in OpenAI's `{"error": {...}}` shape."""
        return cls(
            status=status,
            message=message,
            error_type=error_type,
            error_code=code,
            headers=dict(headers or {}),
        )

    @classmethod
    def slow(cls, delay_s: float) -> Reply:
        """Answer (from the brain) only after `delay_s` seconds."""
        return cls(delay_s=delay_s)


@dataclass(frozen=True)
class Received:
    """One request as the fake saw it."""

    method: str
    path: str
    headers: Mapping[str, str]
    json: Any
    at: float  # time.monotonic() on arrival

    def messages(self, role: str) -> list[str]:
        """The text of the request's messages with `role`."""
        messages = (self.json or {}).get("messages", [])
        return [m.get("content", "") for m in messages if m.get("role") == role]

    def prompt(self) -> str:
        """All message text, joined."""
        return "\n".join(str(m.get("content", "")) for m in (self.json or {}).get("messages", []))

    @property
    def schema(self) -> dict[str, Any]:
        """The `response_format.json_schema` of the request (empty if there is none)."""
        return dict((self.json or {}).get("response_format", {}).get("json_schema", {}))


Brain = Callable[[Received], object]


def _user_line(request: Received, label: str) -> str | None:
    for text in request.messages("user"):
        for line in str(text).splitlines():
            if line.lower().startswith(label.lower() + ":"):
                return line.split(":", 1)[1].strip()
    return None


def _topic(request: Received) -> str:
    topic = _user_line(request, "Topic")
    if topic:
        return topic
    words = _WORD.findall(" ".join(str(t) for t in request.messages("user")))
    return " ".join(words[:4]) or "our news"


def _script(request: Received) -> dict[str, Any]:
    topic = _topic(request)
    labels = ("Meet it", "Why it matters", "How it works", "Try it today")
    if structure := _user_line(request, "Structure"):  # "hook, tip, tip, call to action"
        sections = [s.strip() for s in structure.split(",")][1:-1]
        labels = tuple(f"{s.capitalize()} {i}" for i, s in enumerate(sections, 1))
    return {
        "title": f"All about {topic}",
        "hook": f"Here is {topic} in a few seconds!",
        "scenes": [
            {
                "narration": f"{label}: a few words about {topic} and why people love it.",
                "on_screen": label,
            }
            for label in labels
        ],
        "call_to_action": "Follow for more!",
    }


def _metadata(request: Received) -> dict[str, Any]:
    named = (_user_line(request, "Platforms") or "").lower()
    platforms = [p for p in _PLATFORMS if p in named] or list(_PLATFORMS)
    topic = _topic(request)
    tags = ["#" + w.lower() for w in _WORD.findall(topic)][:3]
    return {
        "platforms": [
            {
                "platform": p,
                "title": f"{topic} on {p}",
                "caption": f"Everything about {topic}. Watch till the end!",
                "hashtags": [*tags, f"#{p}"],
            }
            for p in platforms
        ]
    }


def _intent(request: Received) -> dict[str, Any]:
    text = " ".join(str(t) for t in request.messages("user"))
    seconds = re.search(r"(\d+)\s*(?:s\b|sec|second)", text, re.IGNORECASE)
    about = re.search(r"\babout\s+(.+?)(?:\s+for\s+|[.,!]|$)", text, re.IGNORECASE)
    return {
        "is_video_request": True,
        "problem": None,
        "topic": about.group(1) if about else text[:60],
        "platforms": [p for p in _PLATFORMS if p in text.lower()],
        "duration_s": int(seconds.group(1)) if seconds else None,
        "tone": None,
    }


DEFAULT_BRAINS: Mapping[str, Brain] = MappingProxyType(
    {"ScriptDraft": _script, "MetadataDraft": _metadata, "RequestIntent": _intent}
)


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    node: Any = root
    for key in ref.removeprefix("#/").split("/"):
        node = node[key]
    return _resolve(node, root)


def example(schema: Mapping[str, Any], root: Mapping[str, Any], name: str = "value") -> Any:
    """A value valid for `schema` (a strict-mode subset of JSON Schema)."""
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if _resolve(s, root).get("type") != "null"]
        return example(options[0], root, name) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {key: example(sub, root, key) for key, sub in props.items()}
    if kind == "array":
        count = max(int(schema.get("minItems", 0)), min(3, int(schema.get("maxItems", 3))))
        return [example(schema.get("items", {}), root, name) for _ in range(count)]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1.0))
    if kind == "boolean":
        return True
    return f"some {name}"


def strict_problem(schema: Mapping[str, Any], path: str = "schema") -> str | None:
    """Why `schema` would be refused in strict mode (objects closed, every property required)."""
    if schema.get("type") == "object":
        if schema.get("additionalProperties") is not False:
            return f"{path}: additionalProperties must be false"
        props = schema.get("properties", {})
        if sorted(schema.get("required", [])) != sorted(props):
            return f"{path}: every property must be required"
    children: list[tuple[str, Any]] = []
    for key in ("properties", "$defs"):
        children += [(f"{path}.{key}.{k}", v) for k, v in schema.get(key, {}).items()]
    if isinstance(schema.get("items"), dict):
        children.append((f"{path}.items", schema["items"]))
    children += [(f"{path}.anyOf.{i}", s) for i, s in enumerate(schema.get("anyOf", []))]
    for child_path, child in children:
        if problem := strict_problem(child, child_path):
            return problem
    return None


def _error(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class FakeOpenAI:
    """`async with FakeOpenAI() as fake:` serves the Chat Completions API at `fake.base_url`."""

    def __init__(self, *, api_key: str = "sk-test", brains: Mapping[str, Brain] | None = None):
        self.api_key = api_key
        self.brains: dict[str, Brain] = dict(DEFAULT_BRAINS if brains is None else brains)
        self.requests: list[Received] = []
        self.answers: list[dict[str, Any]] = []  # the completions sent, in order
        self.always: Reply | None = None  # answers every request once the queue is empty
        self._queue: deque[Reply] = deque()
        self._ids = itertools.count(1)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def queue(self, *replies: Reply) -> None:
        """Answer the next requests with `replies`, in order."""
        self._queue.extend(replies)

    async def __aenter__(self) -> FakeOpenAI:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner, origin = await start_app(app)
        self.base_url = f"{origin}/v1"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _completions(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        received = Received(
            request.method,
            request.path,
            {k.lower(): v for k, v in request.headers.items()},
            body,
            time.monotonic(),
        )
        self.requests.append(received)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            text = "Incorrect API key provided. You can find your API key in your account."
            return web.json_response(
                _error(text, "invalid_request_error", "invalid_api_key"), status=401
            )
        if not isinstance(body, dict) or not body.get("model") or not body.get("messages"):
            text = "model and messages are required."
            return web.json_response(_error(text, "invalid_request_error"), status=400)
        schema = received.schema
        if schema and schema.get("strict") and (problem := strict_problem(schema["schema"])):
            text = f"Invalid schema for response_format '{schema.get('name')}': {problem}."
            return web.json_response(_error(text, "invalid_request_error"), status=400)
        reply = self._queue.popleft() if self._queue else (self.always or Reply())
        if reply.delay_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), reply.delay_s)
        if reply.status != 200:
            payload = _error(reply.message, reply.error_type, reply.error_code)
            return web.json_response(payload, status=reply.status, headers=dict(reply.headers))
        answer = self._answer(received, body, reply)
        self.answers.append(answer)
        return web.json_response(answer, headers=dict(reply.headers))

    def _answer(self, received: Received, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        content: str | None
        if reply.refusal is not None:
            content = None
        elif isinstance(reply.content, str):
            content = reply.content
        else:
            value = reply.content if reply.content is not None else self._think(received)
            content = json.dumps(value)
        prompt_tokens, completion_tokens = reply.usage or (
            len(received.prompt().split()),
            len((content or reply.refusal or "").split()) + 1,
        )
        return {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": reply.refusal},
                    "logprobs": None,
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _think(self, received: Received) -> object:
        schema = received.schema
        brain = self.brains.get(str(schema.get("name", "")))
        if brain is not None:
            return brain(received)
        if "schema" in schema:
            return example(schema["schema"], schema["schema"])
        return "Hello from the fake model."
