"""Process settings from the environment and an optional `.env`, parsed once at the entry point."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.net_guard import Allowlist


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line naming it."""


class Settings(BaseSettings):
    """Everything the process can be configured with; nothing is required to start."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    media_dir: Path = Field(default=Path("data"), alias="MEDIA_DIR")
    secret_key: SecretStr | None = Field(default=None, alias="SECRET_KEY")
    public_url: str | None = Field(default=None, alias="PUBLIC_URL")
    web_port: int = Field(default=8080, ge=1, le=65535, alias="WEB_PORT")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    worker_jobs: int = Field(default=2, ge=1, le=64, alias="WORKER_JOBS")
    job_lease_s: float = Field(default=60.0, ge=2, le=3600, alias="JOB_LEASE_S")
    # The HTTP API (/api/v1): token lifetimes, calls per key per minute, browser origins.
    api_token_ttl_s: int = Field(default=900, ge=30, le=86_400, alias="API_TOKEN_TTL_S")
    api_refresh_ttl_s: int = Field(
        default=30 * 86_400, ge=300, le=365 * 86_400, alias="API_REFRESH_TTL_S"
    )
    api_rate_limit_per_min: int = Field(
        default=120, ge=1, le=100_000, alias="API_RATE_LIMIT_PER_MIN"
    )
    api_cors_origins: str = Field(default="", alias="API_CORS_ORIGINS")

    telegram_bot_token: SecretStr | None = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    telegram_api_base_url: str | None = Field(default=None, alias="TELEGRAM_API_BASE_URL")
    telegram_webhook_secret: SecretStr | None = Field(default=None, alias="TELEGRAM_WEBHOOK_SECRET")
    discord_bot_token: SecretStr | None = Field(default=None, alias="DISCORD_BOT_TOKEN")
    discord_api_base_url: str | None = Field(default=None, alias="DISCORD_API_BASE_URL")
    discord_gateway_url: str | None = Field(default=None, alias="DISCORD_GATEWAY_URL")
    openai_api_key: SecretStr | None = Field(default=None, alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, alias="OPENAI_BASE_URL")
    openai_model: str = Field(default="gpt-4o-mini", alias="OPENAI_MODEL")
    openai_price_input_per_mtok: float = Field(
        default=0.15, ge=0, alias="OPENAI_PRICE_INPUT_PER_MTOK"
    )
    openai_price_output_per_mtok: float = Field(
        default=0.60, ge=0, alias="OPENAI_PRICE_OUTPUT_PER_MTOK"
    )
    elevenlabs_api_key: SecretStr | None = Field(default=None, alias="ELEVENLABS_API_KEY")
    elevenlabs_base_url: str | None = Field(default=None, alias="ELEVENLABS_BASE_URL")
    elevenlabs_voice_id: str = Field(default="21m00Tcm4TlvDq8ikWAM", alias="ELEVENLABS_VOICE_ID")
    elevenlabs_model_id: str = Field(default="eleven_multilingual_v2", alias="ELEVENLABS_MODEL_ID")
    elevenlabs_price_per_1k_chars: float = Field(
        default=0.30, ge=0, alias="ELEVENLABS_PRICE_PER_1K_CHARS"
    )
    render_cost_per_minute_usd: float = Field(
        default=0.0, ge=0, alias="RENDER_COST_PER_MINUTE_USD"
    )
    # Media in an S3-compatible store (AWS S3, MinIO) instead of only MEDIA_DIR: needed when
    # the bot and workers run on different machines. S3_BUCKET turns it on.
    s3_bucket: str | None = Field(default=None, alias="S3_BUCKET")
    s3_endpoint_url: str | None = Field(default=None, alias="S3_ENDPOINT_URL")
    s3_region: str = Field(default="us-east-1", alias="S3_REGION")
    s3_access_key_id: str | None = Field(default=None, alias="S3_ACCESS_KEY_ID")
    s3_secret_access_key: SecretStr | None = Field(default=None, alias="S3_SECRET_ACCESS_KEY")
    s3_prefix: str = Field(default="", alias="S3_PREFIX")
    max_upload_mb: int = Field(default=200, ge=1, le=4096, alias="MAX_UPLOAD_MB")
    generations_per_hour: int = Field(default=20, ge=0, le=10_000, alias="GENERATIONS_PER_HOUR")
    # Hosts, addresses or CIDR networks that feeds may be fetched from although they are not
    # on the public internet (services.net_guard refuses internal addresses otherwise).
    fetch_allow: str = Field(default="", alias="FETCH_ALLOW")
    # How long a reviewer link (/review) stays valid, in hours.
    review_link_ttl_h: int = Field(default=72, ge=1, le=24 * 90, alias="REVIEW_LINK_TTL_H")

    # Publishing platforms: OAuth client of each, and its endpoints (real defaults; tests point
    # them at loopback fakes).
    youtube_client_id: str | None = Field(default=None, alias="YOUTUBE_CLIENT_ID")
    youtube_client_secret: SecretStr | None = Field(default=None, alias="YOUTUBE_CLIENT_SECRET")
    youtube_auth_url: str = Field(
        default="https://accounts.google.com/o/oauth2/v2/auth", alias="YOUTUBE_AUTH_URL"
    )
    youtube_token_url: str = Field(
        default="https://oauth2.googleapis.com/token", alias="YOUTUBE_TOKEN_URL"
    )
    youtube_api_base_url: str = Field(
        default="https://www.googleapis.com", alias="YOUTUBE_API_BASE_URL"
    )
    instagram_client_id: str | None = Field(default=None, alias="INSTAGRAM_CLIENT_ID")
    instagram_client_secret: SecretStr | None = Field(default=None, alias="INSTAGRAM_CLIENT_SECRET")
    instagram_auth_url: str = Field(
        default="https://www.facebook.com/v21.0/dialog/oauth", alias="INSTAGRAM_AUTH_URL"
    )
    instagram_graph_url: str = Field(
        default="https://graph.facebook.com/v21.0", alias="INSTAGRAM_GRAPH_URL"
    )
    facebook_client_id: str | None = Field(default=None, alias="FACEBOOK_CLIENT_ID")
    facebook_client_secret: SecretStr | None = Field(default=None, alias="FACEBOOK_CLIENT_SECRET")
    facebook_auth_url: str = Field(
        default="https://www.facebook.com/v21.0/dialog/oauth", alias="FACEBOOK_AUTH_URL"
    )
    facebook_graph_url: str = Field(
        default="https://graph.facebook.com/v21.0", alias="FACEBOOK_GRAPH_URL"
    )
    # The token Meta's webhook subscription handshake (hub.verify_token) must carry.
    meta_webhook_verify_token: SecretStr | None = Field(
        default=None, alias="META_WEBHOOK_VERIFY_TOKEN"
    )
    tiktok_client_id: str | None = Field(default=None, alias="TIKTOK_CLIENT_ID")
    tiktok_client_secret: SecretStr | None = Field(default=None, alias="TIKTOK_CLIENT_SECRET")
    tiktok_auth_url: str = Field(
        default="https://www.tiktok.com/v2/auth/authorize/", alias="TIKTOK_AUTH_URL"
    )
    tiktok_api_base_url: str = Field(
        default="https://open.tiktokapis.com", alias="TIKTOK_API_BASE_URL"
    )

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://", "postgresql://")):
            raise ValueError("use sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db")
        if value.startswith("postgresql://"):
            value = "postgresql+asyncpg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("use redis://host:port/db")
        return value

    @field_validator(
        "public_url",
        "s3_endpoint_url",
        "telegram_api_base_url",
        "openai_base_url",
        "elevenlabs_base_url",
        "youtube_auth_url",
        "youtube_token_url",
        "youtube_api_base_url",
        "instagram_auth_url",
        "instagram_graph_url",
        "facebook_auth_url",
        "facebook_graph_url",
        "tiktok_auth_url",
        "tiktok_api_base_url",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("s3_bucket")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value):
            raise ValueError("a bucket name is 3-63 lowercase letters, digits, dots and hyphens")
        return value

    @field_validator("fetch_allow")
    @classmethod
    def _fetch_allow(cls, value: str) -> str:
        Allowlist.parse(_entries(value))  # raises ValueError naming the entry it can't read
        return value

    @field_validator("api_cors_origins")
    @classmethod
    def _cors_origins(cls, value: str) -> str:
        for origin in _entries(value):
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return value

    @property
    def api_cors_origin_list(self) -> tuple[str, ...]:
        """API_CORS_ORIGINS' origins, one entry each (none: no browser origin may call)."""
        return _entries(self.api_cors_origins)

    @property
    def fetch_allow_entries(self) -> tuple[str, ...]:
        """FETCH_ALLOW's hosts and networks, one entry each."""
        return _entries(self.fetch_allow)

    @field_validator("discord_gateway_url")
    @classmethod
    def _ws_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("must start with ws:// or wss://")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("use DEBUG, INFO, WARNING or ERROR")
        return level

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the media folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.media_dir / 'socialbot.db').resolve()}"

    def secret_values(self) -> list[str]:
        """Every secret setting's value (for the log redactor)."""
        values = [v.get_secret_value() for v in self.__dict__.values() if isinstance(v, SecretStr)]
        return [v for v in values if v]

    @property
    def outbox_dir(self) -> Path:
        """Where the local outbox publisher writes posts."""
        return self.media_dir / "outbox"


def _entries(value: str) -> tuple[str, ...]:
    return tuple(entry.strip() for entry in value.split(",") if entry.strip())


def load_settings(**overrides: object) -> Settings:
    """Read settings once; turn a validation failure into one line naming the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        name = _env_name(field)
        raise SettingsError(f"setting {name} is malformed: {first['msg']}") from None


def _env_name(field: str) -> str:
    info = Settings.model_fields.get(field)
    if info is not None and info.alias:
        return info.alias
    return field.upper()
