"""The API's request and answer bodies (they make the OpenAPI schema at /api/v1/docs)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.content import MAX_DURATION_S, MAX_TOPIC_CHARS, MIN_DURATION_S, Platform
from services.roi import RoiOverview


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenRequest(_Body):
    """An API key to exchange for tokens."""

    api_key: str = Field(min_length=1, max_length=200)


class RefreshRequest(_Body):
    """A refresh token to exchange (once) for a new pair."""

    refresh_token: str = Field(min_length=1, max_length=4000)


class TokenAnswer(BaseModel):
    """An access token (for `Authorization: Bearer`) and the refresh token that renews it."""

    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class Me(BaseModel):
    """Who a token acts for."""

    key: str
    key_prefix: str
    acts_as: str
    member_id: int
    role: str
    workspace_id: int
    workspace: str


class GenerateRequest(_Body):
    """Either `request`, as a member would type it after /draft, or its parts."""

    request: str | None = Field(
        default=None,
        max_length=2000,
        examples=["a 30 second short about our autumn menu for TikTok and YouTube, upbeat"],
    )
    topic: str | None = Field(default=None, min_length=1, max_length=MAX_TOPIC_CHARS)
    platforms: list[Platform] | None = Field(default=None, min_length=1)
    duration: int | None = Field(default=None, ge=MIN_DURATION_S, le=MAX_DURATION_S)
    tone: str | None = Field(default=None, min_length=1, max_length=40)
    template: str | None = Field(default=None, min_length=1, max_length=40)
    brand: str | None = Field(
        default=None, max_length=60, description="The key's brand; another one is refused."
    )

    @model_validator(mode="after")
    def _one_way(self) -> GenerateRequest:
        parts = (self.topic, self.platforms, self.duration, self.tone)
        if self.request is None and self.topic is None:
            raise ValueError("give either request (free text) or topic (with optional parts)")
        if self.request is not None and any(p is not None for p in parts):
            raise ValueError("give request alone, or topic with its parts, not both")
        if self.request is not None and not self.request.strip():
            raise ValueError("request is empty: say what the video is about")
        return self


class ScheduleRequest(_Body):
    """When to publish (read in the workspace's time zone unless it has an offset), or cancel."""

    when: str | None = Field(
        default=None, min_length=1, max_length=100, examples=["tomorrow 9am", "2026-12-01T10:00"]
    )
    cancel: bool = False

    @model_validator(mode="after")
    def _one_way(self) -> ScheduleRequest:
        if (self.when is None) == (not self.cancel):
            raise ValueError("give either when or cancel: true")
        return self


class PublishRequest(_Body):
    """The approved draft to publish."""

    draft_id: int = Field(ge=1)


class DraftSummary(BaseModel):
    """A draft as lists show it."""

    id: int
    state: str
    topic: str
    platforms: list[str]
    duration_s: int
    tone: str
    aspects: list[str]
    current_version: int
    scheduled_at: datetime | None
    template: str | None
    error: str | None
    requested_by: str | None
    chat: str
    created_at: datetime
    updated_at: datetime
    url: str


class DraftPage(BaseModel):
    """One page of drafts, newest first; `next` is the next page's URL (none on the last)."""

    items: list[DraftSummary]
    total: int
    limit: int
    offset: int
    next: str | None


class PlatformText(BaseModel):
    """A platform's title, caption and hashtags."""

    platform: str
    title: str
    caption: str
    hashtags: list[str]


class Files(BaseModel):
    """Signed links to a version's files; they expire at `expires_at`."""

    video: str
    thumbnail: str
    audio: str
    by_aspect: dict[str, str]
    expires_at: datetime


class VersionOut(BaseModel):
    """One version of a draft."""

    number: int
    created_at: datetime
    duration_s: float
    instruction: str | None
    script: dict[str, Any]
    metadata: list[PlatformText]
    files: Files


class PublicationOut(BaseModel):
    """A post of a version to one account."""

    platform: str
    state: str
    url: str | None
    error: str | None
    published_at: datetime | None


class ApprovalOut(BaseModel):
    """One decision on a version."""

    version: int
    decision: str
    by: str
    at: datetime


class DraftDetail(DraftSummary):
    """A draft with its versions, decisions and posts."""

    request_text: str
    versions: list[VersionOut]
    approvals: list[ApprovalOut]
    publications: list[PublicationOut]


class TaskOut(BaseModel):
    """A job: its queue status and where the draft it works on is."""

    id: str
    kind: str
    status: str
    stage: str
    draft_id: int
    draft_state: str
    version: int | None
    error: str | None
    url: str


class ActionResult(BaseModel):
    """What a call did: the chat's own words, the draft now, and the job that follows."""

    message: str
    draft: DraftSummary
    task: str | None = None


class GenerateResult(BaseModel):
    """A new draft and the job that makes it."""

    message: str
    draft: DraftSummary
    task: TaskOut


class AccountOut(BaseModel):
    """Where a platform's posts go."""

    platform: str
    kind: str
    name: str
    health: str


class AccountsOut(BaseModel):
    """The accounts posts go to, and the platforms that could be connected."""

    accounts: list[AccountOut]
    connectable: list[str]


class FiguresOut(BaseModel):
    """Views and interactions gained in a period."""

    views: int
    likes: int
    comments: int
    shares: int
    engagement_rate: float | None
    watch_time_s: float | None


class TopPost(BaseModel):
    """A post that gained views in the period."""

    draft_id: int
    platform: str
    title: str
    url: str | None
    published_at: datetime
    figures: FiguresOut


class PeriodOut(BaseModel):
    """The period figures cover: after `since`, up to `until`."""

    since: datetime
    until: datetime
    days: int
    timezone: str


class CostOut(BaseModel):
    """What the period used and cost."""

    usd: float
    quantities: dict[str, float]


class Overview(BaseModel):
    """A period's figures for the workspace (or one platform)."""

    period: PeriodOut
    platform: str | None
    totals: FiguresOut
    views_change: float | None
    by_platform: dict[str, FiguresOut]
    posts_by_platform: dict[str, int]
    top_posts: list[TopPost]
    cost: CostOut
    roi: RoiOverview | None = None  # the period's spend against what it earned (/stats)


class PlatformStats(Overview):
    """One platform's figures, with its views day by day."""

    daily_views: list[tuple[date, int]]


class Slot(BaseModel):
    """An hour or weekday with how its posts did (views at one week old)."""

    label: str
    posts: int
    average_views: float


class Trends(BaseModel):
    """Views day by day per platform, the change on the period before, and best times."""

    period: PeriodOut
    daily_views: dict[str, list[tuple[date, int]]]
    views_change: dict[str, float | None]
    timing_posts: int
    best_hours: list[Slot]
    best_weekdays: list[Slot]
