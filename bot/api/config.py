"""What the HTTP API is configured with, read once from the settings at the entry point."""

from __future__ import annotations

from dataclasses import dataclass

from services.settings import Settings


@dataclass(frozen=True)
class ApiConfig:
    """The API's secret (tokens are signed with a key derived from it), limits and origins."""

    secret_key: bytes
    token_ttl_s: int = 900
    refresh_ttl_s: int = 30 * 86_400
    rate_limit_per_min: int = 120
    cors_origins: tuple[str, ...] = ()
    public_url: str | None = None  # where file links point; else the request's own origin

    @classmethod
    def from_settings(cls, settings: Settings, *, secret_key: bytes) -> ApiConfig:
        """The API's configuration from API_* settings and the process's secret key."""
        return cls(
            secret_key=secret_key,
            token_ttl_s=settings.api_token_ttl_s,
            refresh_ttl_s=settings.api_refresh_ttl_s,
            rate_limit_per_min=settings.api_rate_limit_per_min,
            cors_origins=settings.api_cors_origin_list,
            public_url=settings.public_url,
        )
