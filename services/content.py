"""Value types that travel through the content pipeline: brief, script, metadata, voice."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class Platform(StrEnum):
    """A platform a draft can be published to."""

    YOUTUBE = "youtube"
    TIKTOK = "tiktok"
    INSTAGRAM = "instagram"
    FACEBOOK = "facebook"


MIN_DURATION_S = 5
MAX_DURATION_S = 180
MAX_TOPIC_CHARS = 300
MIN_SCENES, MAX_SCENES = 3, 6  # a script's scenes, between its hook and call to action


@dataclass(frozen=True)
class Brief:
    """What a member asked for, after parsing: the input of the writer."""

    topic: str
    platforms: tuple[Platform, ...]
    duration_s: int
    tone: str
    # From a template (services.templates): the script's sections, hook first and call to
    # action last ("hook", "tip", "tip", "tip", "call to action"); empty: the writer's choice.
    structure: tuple[str, ...] = ()
    caption_style: str | None = None  # free text, e.g. "short, question first, 2 emojis"
    hashtags: tuple[str, ...] = ()  # tags every caption carries
    hashtag_style: str | None = None  # free text, e.g. "5 hashtags"
    # Which of platforms, duration, tone and aspects the request itself stated (the rest are
    # defaults a template may fill); not part of what the brief asks for, so not compared.
    stated: frozenset[str] = field(default=frozenset(), compare=False)


class Scene(BaseModel):
    """One beat of the script: what the voice says and what the screen shows."""

    model_config = ConfigDict(frozen=True)

    narration: str = Field(min_length=1)
    on_screen: str = Field(min_length=1)
    section: str | None = None  # what part of the structure it is: "tip", "why", …


class Script(BaseModel):
    """A short video's script: a hook, 3-6 scenes and a call to action."""

    model_config = ConfigDict(frozen=True)

    title: str = Field(min_length=1)
    hook: str = Field(min_length=1)
    scenes: tuple[Scene, ...] = Field(min_length=MIN_SCENES, max_length=MAX_SCENES)
    call_to_action: str = Field(min_length=1)
    writer: str = "offline"

    def narration(self) -> str:
        """The full text the voice reads, in order."""
        parts = [self.hook, *(s.narration for s in self.scenes), self.call_to_action]
        return " ".join(p.strip() for p in parts if p.strip())


class PlatformMeta(BaseModel):
    """Title, caption and hashtags for one platform, within that platform's limits."""

    model_config = ConfigDict(frozen=True)

    platform: Platform
    title: str
    caption: str
    hashtags: tuple[str, ...]


@dataclass(frozen=True)
class Brand:
    """A workspace's brand voice, set with /brand and given to the writer."""

    tone: str | None = None
    audience: str | None = None
    avoid: tuple[str, ...] = ()
    call_to_action: str | None = None

    def is_empty(self) -> bool:
        """Whether nothing has been set."""
        return not (self.tone or self.audience or self.avoid or self.call_to_action)


@dataclass(frozen=True)
class WordTiming:
    """One spoken word and when it is heard, in seconds from the start of the audio."""

    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Voiceover:
    """Synthesised narration: a WAV file, its length and per-word timings."""

    audio_path: Path
    duration_s: float
    words: tuple[WordTiming, ...]
