"""SQLAlchemy models: workspaces, members, drafts and their versions, publications, records."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention Alembic can rely on."""

    metadata = MetaData(naming_convention=NAMING)


class Role(StrEnum):
    """What a member may do in a workspace, from most to least."""

    OWNER = "owner"
    APPROVER = "approver"
    CREATOR = "creator"
    VIEWER = "viewer"


class DraftState(StrEnum):
    """The states of a draft; transitions live in `services.drafts`."""

    REQUESTED = "requested"
    GENERATING = "generating"
    READY = "ready"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    PARTIALLY_PUBLISHED = "partially_published"
    REJECTED = "rejected"
    FAILED = "failed"


class PublicationState(StrEnum):
    """The states of one post of one draft version to one account."""

    QUEUED = "queued"
    UPLOADING = "uploading"
    PROCESSING = "processing"
    PUBLISHED = "published"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"


class AccountStatus(StrEnum):
    """Whether a connected account can still be used."""

    OK = "ok"
    RECONNECT = "reconnect"  # its tokens can no longer be refreshed: /connect again


class Workspace(Base):
    """One brand of a team: its members, chats, drafts, accounts, voice and budget.

    A team's brands are the workspaces sharing a `team_id` (the id of its first workspace;
    None on that first one), so everything scoped to a workspace is scoped to a brand."""

    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    allow_self_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    approvals_required: Mapped[int] = mapped_column(Integer, default=1)
    default_role: Mapped[str] = mapped_column(String(20), default=Role.CREATOR)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    brand: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    role_map: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    voice_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    monthly_budget_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    publish_options: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # What the team says one view and one click (engagement) are worth, for ROI; None: unset.
    value_per_view_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    value_per_click_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def team(self) -> int:
        """The team this brand belongs to."""
        return self.team_id or self.id


class Member(Base):
    """A person in a workspace, identified by frontend and user id, with one role."""

    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("workspace_id", "user_ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_ref: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatBinding(Base):
    """A chat (Telegram group, Discord channel, console) that belongs to a workspace."""

    __tablename__ = "chat_bindings"
    __table_args__ = (UniqueConstraint("chat_ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    chat_ref: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(20), default="main")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A digest schedule (see services.digest_schedule); no cadence means on demand only.
    digest_cadence: Mapped[str | None] = mapped_column(String(10), nullable=True)
    digest_weekday: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 0 is Monday
    digest_time: Mapped[str | None] = mapped_column(String(5), nullable=True)  # "HH:MM", local
    digest_last_slot: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Draft(Base):
    """A request being turned into a video and taken through approval to publication."""

    __tablename__ = "drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    chat_ref: Mapped[str] = mapped_column(String(200))
    requested_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    request_text: Mapped[str] = mapped_column(Text)
    topic: Mapped[str] = mapped_column(String(400))
    platforms: Mapped[list[str]] = mapped_column(JSON)
    duration_s: Mapped[int] = mapped_column(Integer)
    tone: Mapped[str] = mapped_column(String(40))
    aspects: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["9:16"])
    state: Mapped[str] = mapped_column(String(30), default=DraftState.REQUESTED, index=True)
    current_version: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    pending_instruction: Mapped[str | None] = mapped_column(Text, nullable=True)  # queued edit
    # The template the draft was made with: {"name": ..., "spec": {...}} (a snapshot), so
    # regenerations and edits keep following it even if the template changes later.
    template: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The campaign whose run made this draft (services.campaigns); None for a member's request.
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), nullable=True, index=True
    )
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    versions: Mapped[list[DraftVersion]] = relationship(
        back_populates="draft", order_by="DraftVersion.number", cascade="all, delete-orphan"
    )


class DraftVersion(Base):
    """One generated take of a draft: script, voice, video, thumbnail, per-platform metadata."""

    __tablename__ = "draft_versions"
    __table_args__ = (UniqueConstraint("draft_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    script: Mapped[dict[str, Any]] = mapped_column(JSON)
    metadata_json: Mapped[list[dict[str, Any]]] = mapped_column("metadata", JSON)
    words: Mapped[list[list[Any]]] = mapped_column(JSON)
    audio_path: Mapped[str] = mapped_column(String(500))
    video_path: Mapped[str] = mapped_column(String(500))
    thumbnail_path: Mapped[str] = mapped_column(String(500))
    duration_s: Mapped[float] = mapped_column(Float)
    render_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    instruction: Mapped[str | None] = mapped_column(Text, nullable=True)
    outputs: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    draft: Mapped[Draft] = relationship(back_populates="versions")


class MediaItem(Base):
    """A video or image a member added to the workspace's library with /media."""

    __tablename__ = "media_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    added_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(20))
    path: Mapped[str] = mapped_column(String(500))
    original_name: Mapped[str] = mapped_column(String(300))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Template(Base):
    """A reusable format saved from a draft with /template save (see services.templates)."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CampaignState(StrEnum):
    """Whether a campaign makes drafts on its cadence."""

    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"


class Campaign(Base):
    """A recurring series: a draft per slot of its cadence, in the workspace's time zone
    (see services.campaigns); its topics come from a list, a feed or the writer's ideas."""

    __tablename__ = "campaigns"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    chat_ref: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(60))
    weekdays: Mapped[list[int]] = mapped_column(JSON)  # 0 is Monday
    times: Mapped[list[str]] = mapped_column(JSON)  # "HH:MM", local
    template: Mapped[str | None] = mapped_column(String(40), nullable=True)
    platforms: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    source: Mapped[str] = mapped_column(String(10))  # list | feed | ideas
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    next_topic: Mapped[int] = mapped_column(Integer, default=0)
    feed_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    feed_seen: Mapped[list[str]] = mapped_column(JSON, default=list)  # entry ids used
    auto_publish_after_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(10), default=CampaignState.ACTIVE, index=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    last_slot: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CampaignRun(Base):
    """One slot of a campaign (its planned time, UTC); the unique key makes it run once."""

    __tablename__ = "campaign_runs"
    __table_args__ = (UniqueConstraint("campaign_id", "slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    slot: Mapped[datetime] = mapped_column(UTCDateTime)
    draft_id: Mapped[int | None] = mapped_column(
        ForeignKey("drafts.id", ondelete="SET NULL"), nullable=True
    )
    topic: Mapped[str | None] = mapped_column(String(400), nullable=True)
    # The campaign's auto-publish delay when the run was made: its draft publishes this long
    # after its current version is ready unless someone rejects it (None: approval needed).
    auto_publish_after_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outcome: Mapped[str] = mapped_column(String(20), index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When a worker last took the run on; a run still pending long after is taken up again.
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Approval(Base):
    """One member's decision on one version of a draft."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("draft_id", "version", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    decision: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SocialAccount(Base):
    """A connected account on a platform (or the local outbox); tokens encrypted at rest."""

    __tablename__ = "social_accounts"
    __table_args__ = (UniqueConstraint("workspace_id", "platform", "kind", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20), default="outbox")
    external_id: Mapped[str] = mapped_column(String(200), default="local")
    display_name: Mapped[str] = mapped_column(String(200))
    token_ciphertext: Mapped[bytes | None] = mapped_column(nullable=True)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default=AccountStatus.OK)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    extra: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    connected_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Publication(Base):
    """One draft version posted to one account; the idempotency key makes it happen once."""

    __tablename__ = "publications"
    __table_args__ = (UniqueConstraint("idempotency_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("draft_versions.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("social_accounts.id"))
    platform: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), default=PublicationState.QUEUED)
    external_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    url: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    remote_ref: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OAuthState(Base):
    """One started /connect: who asked, from which chat, and the PKCE verifier; used once."""

    __tablename__ = "oauth_states"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(20))
    chat_ref: Mapped[str] = mapped_column(String(200))
    code_verifier: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MetricSnapshot(Base):
    """A publication's figures at one moment."""

    __tablename__ = "metric_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publications.id", ondelete="CASCADE"))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    views: Mapped[int] = mapped_column(BigInteger, default=0)
    likes: Mapped[int] = mapped_column(BigInteger, default=0)
    comments: Mapped[int] = mapped_column(BigInteger, default=0)
    shares: Mapped[int] = mapped_column(BigInteger, default=0)
    watch_time_s: Mapped[float | None] = mapped_column(Float, nullable=True)


class UsageRecord(Base):
    """A metered use of a paid or costly resource (model tokens, voice characters, render time)."""

    __tablename__ = "usage_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    draft_id: Mapped[int | None] = mapped_column(ForeignKey("drafts.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(40))
    provider: Mapped[str] = mapped_column(String(40))
    quantity: Mapped[float] = mapped_column(Float)
    cost_usd: Mapped[float] = mapped_column(Numeric(12, 6, asdecimal=False), default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class AuditEntry(Base):
    """Who did what to which object, and when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
