"""structlog set-up: key-value lines to stderr, or to a file when the console owns the terminal.

Every line passes a redactor first: the configured secrets (bot tokens, API keys, client
secrets, SECRET_KEY) and anything shaped like a credential (bearer tokens, `access_token=`
and similar query parameters, Telegram bot tokens in Bot API URLs) become `[redacted]`, in
structlog events and in the standard library's records (httpx logs every request URL).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any

import structlog

REDACTED = "[redacted]"
_PATTERNS = (
    # Bot API URLs carry the bot token: /bot123456:AAE.../getUpdates
    re.compile(r"(?<=/bot)\d{3,}:[A-Za-z0-9_-]{20,}"),
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)(?<=[?&\s\"'])(?:access_token|refresh_token|client_secret|code|"
        r"fb_exchange_token|input_token|upload_token|api_key|key|token)=[^&\s\"']+"
    ),
    re.compile(r"(?i)(?<=[\"'])(?:access_token|refresh_token|client_secret)[\"']:\s*[\"'][^\"']+"),
    # a password in a database or Redis URL: scheme://user:password@host
    re.compile(r"(?<=://)[^:/@\s]*:[^@/\s]+(?=@)"),
)


class Redactor(logging.Filter):
    """Removes secrets from log text: as a structlog processor and as a logging filter."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def text(self, value: str) -> str:
        """`value` with every secret and credential-shaped part replaced."""
        for secret in self._secrets:
            value = value.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            value = pattern.sub(_keep_name, value)
        return value

    def __call__(
        self, logger: Any, name: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """structlog processor: redact every string value of the event."""
        for key, value in event.items():
            if isinstance(value, str):
                event[key] = self.text(value)
            elif value is not None and not isinstance(value, int | float | bool):
                event[key] = self.text(str(value))
        return event

    def filter(self, record: logging.LogRecord) -> bool:
        """logging filter: redact the formatted message (arguments folded in)."""
        if isinstance(record.msg, dict):  # a structlog event: redacted by the processor
            return True
        message = record.getMessage()
        cleaned = self.text(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def _keep_name(match: re.Match[str]) -> str:
    found = match.group(0)
    if "://" in match.string[max(0, match.start() - 3) : match.start()]:
        return f"{found.partition(':')[0]}:{REDACTED}"  # user:password → user:[redacted]
    for sep in ("=", ":"):
        name, hit, _ = found.partition(sep)
        if hit and name.strip("\"' ").replace("_", "").isalpha():
            return f"{name}{sep}{REDACTED}" if sep == "=" else f"{name}{sep} {REDACTED}"
    return REDACTED


def configure_logging(
    *,
    level: str,
    file: Path | None = None,
    secrets: Iterable[str] = (),
    json_lines: bool | None = None,
) -> Redactor:
    """Route structlog and the standard library's logging to one place at one level, with
    secrets redacted; returns the redactor. Lines are JSON unless they go to a terminal
    (`json_lines` decides instead when given), the standard library's records included, and
    each carries the context bound with structlog.contextvars (job, draft, chat)."""
    redactor = Redactor(secrets)
    if json_lines is None:
        json_lines = file is not None or not sys.stderr.isatty()
    handler: logging.Handler
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_formatter(redactor, json_lines=json_lines))
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("arq").setLevel(max(logging.getLevelName(level), logging.WARNING))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redactor,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return redactor


def _formatter(redactor: Redactor, *, json_lines: bool) -> logging.Formatter:
    """One rendering for structlog events and the standard library's records (arq, httpx):
    JSON objects, or key=value lines on a terminal; the rendered line is redacted again, for
    credentials in key names."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json_lines
        else structlog.processors.KeyValueRenderer(
            key_order=["timestamp", "level", "logger", "event"], drop_missing=True
        )
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _record_exception,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
            lambda _logger, _name, line: redactor.text(str(line)),
        ],
    )


def _record_exception(logger: Any, name: str, event: MutableMapping[str, Any]) -> Any:
    """A standard library record's traceback (redacted by the filter) into the event."""
    record = event.get("_record")
    if record is not None and record.exc_text:
        event["exception"] = record.exc_text
    return event
