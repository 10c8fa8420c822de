"""Scripts, edits, metadata and request reading by an OpenAI-compatible chat model.

`OpenAIWriter` gets structured outputs (`chat.completions.parse`, strict JSON schema of the draft
models below) into the same `Script`, `PlatformMeta` and `Brief` the offline writer and the parser
give; any Chat Completions server works through `base_url`. Limits are enforced here, not trusted
to the model. The client retries timeouts, 408/409/429/5xx itself, waiting as `retry-after-ms` /
`retry-after` say (up to 2 minutes; longer is not retried); what still fails is a `WriterError`
saying what to do. Every answered call's tokens are recorded with their cost.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TypeVar

import openai
from openai.types.chat import ChatCompletionMessageParam
from pydantic import BaseModel, Field

from services.caption_style import HashtagStyle, styled_hashtags
from services.content import (
    MAX_DURATION_S,
    MAX_TOPIC_CHARS,
    MIN_DURATION_S,
    Brand,
    Brief,
    Platform,
    PlatformMeta,
    Scene,
    Script,
)
from services.idea_writing import MAX_IDEAS, Idea, IdeaBasis, accept, describe
from services.phrases import Avoid, clean
from services.platforms import RULES, fit_text, hashtags_for
from services.structure import body_sections
from services.usage import Usage, UsageLog
from services.writer import (
    MAX_SCENES,
    MIN_SCENES,
    ON_SCREEN_MAX_WORDS,
    RequestProblem,
    WriterError,
    on_screen_text,
)
from services.writer_prompts import (
    IDEA_RULES,
    METADATA_RULES,
    READ_RULES,
    TITLE_MAX,
    about,
    brand_voice,
    metadata_style,
    script_rules,
)

DEFAULT_DURATION_S = 30  # as handlers.parsing, for requests that name no duration
DEFAULT_TONE = "upbeat"  # as handlers.parsing, for requests that name no tone
_TONE_MAX_CHARS = 40
_HASHTAG_MAX_CHARS = 30
_VALID = ", ".join(p.value for p in Platform)
_EXAMPLE = "make a 30 second reel about our autumn menu for Instagram"
_PLATFORM_NAMES = {
    **{p.value: p for p in Platform},
    **dict.fromkeys(("youtubeshorts", "shorts", "yt"), Platform.YOUTUBE),
    **dict.fromkeys(("instagramreels", "insta", "ig", "reels"), Platform.INSTAGRAM),
    **dict.fromkeys(("facebookreels", "fb"), Platform.FACEBOOK),
}

T = TypeVar("T", bound=BaseModel)


class SceneDraft(BaseModel):
    """One scene as the model writes it."""

    narration: str = Field(description="What the voice says in this scene.")
    on_screen: str = Field(description=f"On-screen text, at most {ON_SCREEN_MAX_WORDS} words.")


class ScriptDraft(BaseModel):
    """A script as the model writes it: `Script` with lists and without the writer label."""

    title: str = Field(description=f"A short title, at most {TITLE_MAX} characters.")
    hook: str = Field(description="One short opening sentence that stops the scroll.")
    scenes: list[SceneDraft] = Field(description=f"{MIN_SCENES} to {MAX_SCENES} scenes.")
    call_to_action: str = Field(description="One closing sentence: what viewers should do next.")


class PlatformDraft(BaseModel):
    """Title, caption and hashtags for one platform as the model writes them."""

    platform: Platform
    title: str
    caption: str
    hashtags: list[str]


class MetadataDraft(BaseModel):
    """The model's metadata for each platform asked for."""

    platforms: list[PlatformDraft]


class IdeaDraft(BaseModel):
    """One topic idea as the model writes it."""

    topic: str = Field(description="What the video would be about, in a few words.")
    why: str = Field(description="Why it should work, citing the figures it builds on.")


class IdeasDraft(BaseModel):
    """The model's topic ideas."""

    ideas: list[IdeaDraft]


class RequestIntent(BaseModel):
    """What a free-form chat request asks for, as the model reads it."""

    is_video_request: bool
    problem: str | None = Field(description="Why it is not a video request; otherwise null.")
    topic: str = Field(description="What the video is about, without platforms/duration/tone.")
    platforms: list[str] = Field(description="Platforms named, lower case; empty if none.")
    duration_s: int | None = Field(description="Length asked for in seconds, or null.")
    tone: str | None = Field(description="Tone asked for in a word or two, or null.")


def _hashtags(raw: Sequence[str], avoid: Avoid, limit: int) -> tuple[str, ...]:
    """Usable, lower-case, distinct hashtags from what the model wrote."""
    tags: list[str] = []
    for tag in raw:
        body = "".join(ch for ch in tag.lower() if ch.isalnum() or ch == "_")
        if body and len(body) <= _HASHTAG_MAX_CHARS and avoid.allows_tag(f"#{body}"):
            tags.append(f"#{body}")
    return tuple(dict.fromkeys(tags))[:limit]


def _fit_metadata(
    brief: Brief, script: Script, drafts: Sequence[PlatformDraft], avoid: Avoid
) -> tuple[PlatformMeta, ...]:
    """One `PlatformMeta` per platform of `brief`, within its limits, whatever the model wrote."""
    by_platform = {d.platform: d for d in reversed(drafts)}  # the first one wins
    metadata: list[PlatformMeta] = []
    for platform in dict.fromkeys(brief.platforms):
        rules = RULES[platform]
        draft = by_platform.get(platform)
        title = avoid.scrub(clean(draft.title)) if draft else ""
        caption = avoid.scrub(clean(draft.caption)) if draft else ""
        hashtags = _hashtags(draft.hashtags if draft else (), avoid, rules.hashtags_max)
        if not hashtags:
            hashtags = _hashtags(hashtags_for(brief.topic, platform), avoid, rules.hashtags_max)
        if brief.hashtags or brief.hashtag_style:  # a template's: its own tags first
            fixed = [tag for tag in brief.hashtags if avoid.allows_tag(tag)]
            style = HashtagStyle.read(brief.hashtag_style)
            hashtags = styled_hashtags(fixed, hashtags, style, rules.hashtags_max)
        room = rules.caption_max - sum(len(tag) + 1 for tag in hashtags)
        metadata.append(
            PlatformMeta(
                platform=platform,
                title=fit_text(title or clean(script.title) or "New video", rules.title_max),
                caption=fit_text(caption or clean(f"{script.hook} {script.call_to_action}"), room),
                hashtags=hashtags,
            )
        )
    return tuple(metadata)


def _to_script(draft: ScriptDraft, writer: str, brief: Brief, cta: str | None = None) -> Script:
    """The `Script` for `draft`; raises `WriterError` if it breaks the script rules."""
    spoken = [draft.hook, cta or draft.call_to_action, *(s.narration for s in draft.scenes)]
    sections = body_sections(brief.structure)
    problem = f"{len(draft.scenes)} scenes; a script needs {MIN_SCENES} to {MAX_SCENES}"
    if sections and len(draft.scenes) != len(sections):
        problem = (
            f"{len(draft.scenes)} scenes; the template's structure has {len(sections)} "
            f"sections: {', '.join(sections)}"
        )
    elif MIN_SCENES <= len(draft.scenes) <= MAX_SCENES:
        problem = "" if all(map(clean, spoken)) else "parts of it were empty"
    if problem:
        raise WriterError(f"The model's answer was not a valid script ({problem}); try again.")
    scenes = tuple(
        Scene(
            narration=clean(s.narration),
            on_screen=" ".join(clean(s.on_screen).split()[:ON_SCREEN_MAX_WORDS])
            or on_screen_text(clean(s.narration)),
            section=sections[i] if sections else None,
        )
        for i, s in enumerate(draft.scenes)
    )
    title = clean(draft.title) or clean(brief.topic) or "New video"
    return Script(
        title=fit_text(title, TITLE_MAX),
        hook=clean(draft.hook),
        scenes=scenes,
        call_to_action=clean(cta or draft.call_to_action),
        writer=writer,
    )


def _brief(intent: RequestIntent) -> Brief:
    """The brief `intent` describes, within the parser's bounds; raises `RequestProblem`."""
    if not intent.is_video_request:
        why = f" ({clean(intent.problem)})" if intent.problem and clean(intent.problem) else ""
        raise RequestProblem(
            f"That doesn't look like a video request{why}. Tell me what the video is about, "
            f"e.g. \u201c{_EXAMPLE}\u201d."
        )
    topic = clean(intent.topic)
    if not topic:
        raise RequestProblem(
            f"I couldn't tell what the video is about. Name the topic, e.g. \u201c{_EXAMPLE}\u201d."
        )
    if len(topic) > MAX_TOPIC_CHARS:
        raise RequestProblem(
            f"That topic is {len(topic)} characters long; the limit is {MAX_TOPIC_CHARS}. "
            "Please shorten it and send the request again."
        )
    named = [clean(name) for name in intent.platforms if clean(name)]
    keys = ["".join(ch for ch in name.lower() if ch.isalnum()) for name in named]
    unknown = [name for name, key in zip(named, keys, strict=True) if key not in _PLATFORM_NAMES]
    if unknown:
        shown = ", ".join(f"\u201c{fit_text(n, 30)}\u201d" for n in unknown)
        raise RequestProblem(f"I can't post to {shown}. I can make drafts for: {_VALID}.")
    platforms = tuple(dict.fromkeys(_PLATFORM_NAMES[key] for key in keys)) or tuple(Platform)
    duration = DEFAULT_DURATION_S if intent.duration_s is None else intent.duration_s
    if not MIN_DURATION_S <= duration <= MAX_DURATION_S:
        raise RequestProblem(
            f"Duration must be between {MIN_DURATION_S} and {MAX_DURATION_S} seconds; "
            f"you asked for {duration}."
        )
    tone = " ".join(clean(intent.tone or "").lower().split()) or DEFAULT_TONE
    if len(tone) > _TONE_MAX_CHARS:
        raise RequestProblem("Keep the tone to a word or two, e.g. upbeat, calm or professional.")
    stated = {
        "platforms": bool(keys),
        "duration": intent.duration_s is not None,
        "tone": bool(clean(intent.tone or "")),
    }
    return Brief(
        topic=topic,
        platforms=platforms,
        duration_s=duration,
        tone=tone,
        stated=frozenset(name for name, said in stated.items() if said),
    )


class OpenAIWriter:
    """A `Writer` and `RequestReader` backed by an OpenAI-compatible chat model."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None,
        model: str,
        price_input_per_mtok: float,
        price_output_per_mtok: float,
        timeout_s: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        """A writer using `model` at `base_url` (None: OpenAI's), priced per million tokens."""
        self.name = f"openai:{model}"
        self._model = model
        self._prices = (price_input_per_mtok, price_output_per_mtok)
        self._timeout_s = timeout_s
        self._tries = max_retries + 1
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=max_retries
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.close()

    async def write(
        self,
        brief: Brief,
        *,
        take: int = 1,
        brand: Brand | None = None,
        usage: UsageLog | None = None,
    ) -> Script:
        """A script for `brief` in the brand's voice; later takes ask for a different version."""
        system = script_rules(brief) + brand_voice(brand)
        user = about(brief)
        if take > 1:
            user += f"\nThis is take {take}: write a fresh version, different from earlier ones."
        draft = await self._ask(ScriptDraft, system, user, usage, "a valid script")
        cta = brand.call_to_action if brand else None
        return _to_script(draft, self.name, brief, cta)

    async def revise(
        self,
        brief: Brief,
        script: Script,
        instruction: str,
        *,
        brand: Brand | None = None,
        usage: UsageLog | None = None,
    ) -> Script:
        """A new version of `script` changed as `instruction` says, the rest kept."""
        system = (
            script_rules(brief)
            + brand_voice(brand, cta="by default,")
            + "\n\nYou revise an existing script: make the change the instruction asks for, keep"
            " the rest unless the rules require otherwise, and return the whole new script."
        )
        current = script.model_dump_json(exclude={"writer"}, indent=1)
        user = f"{about(brief)}\nCurrent script (JSON):\n{current}\nInstruction: {instruction}"
        draft = await self._ask(ScriptDraft, system, user, usage, "a valid script")
        return _to_script(draft, self.name, brief)

    async def metadata(
        self,
        brief: Brief,
        script: Script,
        *,
        brand: Brand | None = None,
        usage: UsageLog | None = None,
    ) -> tuple[PlatformMeta, ...]:
        """Title, caption and hashtags per platform of `brief`, cut to the platform's limits."""
        system = (
            METADATA_RULES + brand_voice(brand, cta="captions may end with") + metadata_style(brief)
        )
        script_json = script.model_dump_json(exclude={"writer"})
        user = f"{about(brief)}\nScript (JSON): {script_json}"
        draft = await self._ask(MetadataDraft, system, user, usage, "valid video metadata")
        avoid = Avoid.of(brand.avoid if brand else (), brief.topic)
        return _fit_metadata(brief, script, draft.platforms, avoid)

    async def ideas(
        self, basis: IdeaBasis, *, count: int, usage: UsageLog | None = None
    ) -> tuple[Idea, ...]:
        """Ideas from the best posts' figures and the brand voice; only usable ones are kept."""
        count = max(1, min(count, MAX_IDEAS))
        system = IDEA_RULES + brand_voice(basis.brand, cta="the videos end with")
        draft = await self._ask(
            IdeasDraft, system, describe(basis, count), usage, "a list of ideas"
        )
        ideas = accept(basis, [(d.topic, d.why) for d in draft.ideas], count)
        if not ideas:
            raise WriterError("The model's ideas were all repeats or empty; try again.")
        return ideas

    async def read_request(self, text: str, *, usage: UsageLog | None = None) -> Brief:
        """The brief a free-form request asks for; raises `RequestProblem` with a reply."""
        intent = await self._ask(
            RequestIntent, READ_RULES, text, usage, "a valid reading of the request"
        )
        return _brief(intent)

    async def _ask(
        self, answer: type[T], system: str, user: str, usage: UsageLog | None, what: str
    ) -> T:
        """One structured call: the parsed answer, or `WriterError` saying what went wrong."""
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        try:
            raw = await self._client.chat.completions.with_raw_response.parse(
                model=self._model, messages=messages, response_format=answer
            )
        except openai.OpenAIError as exc:
            raise WriterError(self._explain(exc)) from exc
        self._record(raw.text, usage)
        invalid = f"The model's answer was not {what}; try again (or try another model)."
        try:
            completion = raw.parse()
        except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError) as exc:
            raise WriterError(self._explain(exc)) from exc
        except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
            raise WriterError(invalid) from exc
        if not completion.choices:
            raise WriterError(invalid)
        message = completion.choices[0].message
        if message.refusal:
            refusal = fit_text(clean(message.refusal), 300).rstrip(".")
            raise WriterError(
                f"The model declined to write this: {refusal}. Try rewording the request."
            )
        if message.parsed is None:
            raise WriterError(invalid)
        return message.parsed

    def _record(self, body: str, usage: UsageLog | None) -> None:
        """Add the answer's input and output tokens, with their cost, to `usage`."""
        if usage is None:
            return
        try:
            counts = json.loads(body)["usage"]
            tokens = (int(counts["prompt_tokens"]), int(counts["completion_tokens"]))
        except (ValueError, KeyError, TypeError):
            return  # a server that doesn't report usage
        for kind, count, price in zip(("input", "output"), tokens, self._prices, strict=True):
            usage.add(Usage(f"llm_{kind}_tokens", self.name, count, count * price / 1e6))

    def _explain(self, exc: openai.OpenAIError) -> str:
        """What went wrong with a call, and what to do, for the chat."""
        status = exc.status_code if isinstance(exc, openai.APIStatusError) else 0  # 0: no answer
        if isinstance(exc, openai.APITimeoutError):
            tries = f" ({self._tries} tries)" if self._tries > 1 else ""
            return (
                f"The model did not answer within {self._timeout_s:g} s{tries}; try again in a "
                "few minutes, or ask for a shorter video."
            )
        if isinstance(exc, openai.APIConnectionError):
            where = self._client.base_url
            return f"Could not reach the model service at {where}; check OPENAI_BASE_URL."
        if isinstance(exc, openai.AuthenticationError):
            return "OPENAI_API_KEY was refused by the model service (HTTP 401); check the key."
        if isinstance(exc, openai.RateLimitError) and exc.code == "insufficient_quota":
            return "The model account is out of quota (HTTP 429); add credit or change the key."
        if isinstance(exc, openai.RateLimitError):
            wait = exc.response.headers.get("retry-after", "")
            when = (
                f"{-(-int(wait) // 60)} minutes"
                if wait.isdigit() and int(wait) > 60
                else "a minute"
            )
            return f"The model is rate-limited right now (HTTP 429); try again in {when}."
        if isinstance(exc, openai.InternalServerError):  # any 5xx
            return f"The model service failed (HTTP {status}); try again in a few minutes."
        if isinstance(exc, openai.APIStatusError):
            said = exc.body.get("message") if isinstance(exc.body, dict) else None
            detail = fit_text(clean(str(said or exc.message)), 200)
            return f"The model service refused the request (HTTP {status}): {detail}"
        if isinstance(exc, openai.LengthFinishReasonError):
            return "The model's answer was cut off at its length limit; try a shorter video."
        if isinstance(exc, openai.ContentFilterFinishReasonError):
            return "The model's content filter stopped the answer; try rewording the request."
        return f"The model call failed ({type(exc).__name__}); try again in a few minutes."
