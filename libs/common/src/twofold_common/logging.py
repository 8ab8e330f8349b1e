"""Structured JSON logs with a request id, and redaction of secrets before anything is written.

Redaction happens in the formatter, the last step before output, so neither a
careless ``log.info("... %s", url)`` nor an ``extra={"seed": ...}`` can leak a
seed, code, token or password.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

REDACTED = "[REDACTED]"
SECRET_KEYS = re.compile(
    r"(seed|secret|password|passwd|token|code|authorization|cookie|api[_-]?key|signature|otp|verifier)",
    re.IGNORECASE,
)
# key=value pairs in free text and query strings: seed=ABC, regToken=reg_..., "code": "123456"
_SECRET_PAIRS = re.compile(
    r"""(?P<key>[A-Za-z_\-]*(?:seed|secret|password|token|code|signature|otp)[A-Za-z_\-]*)"""
    r"""(?P<sep>["']?\s*[=:]\s*["']?)(?P<value>[^&\s"',;}]+)""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_TOKEN_SHAPES = re.compile(r"\b(reg|rt|ch|st|sk)_[A-Za-z0-9_-]{16,}")
# A word each of the three patterns above needs in its match: text without any (most of it: paths, ids, numbers)
# is passed as it is, without the three scans that cost a busy service most of its logging time.
_SECRET_WORDS = ("seed", "secret", "password", "token", "code", "signature", "otp", "bearer",
                 "reg_", "rt_", "ch_", "st_", "sk_")
_STD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "color_message"}


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> contextvars.Token:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


def redact_text(text: str) -> str:
    folded = text.casefold()
    if not any(word in folded for word in _SECRET_WORDS):
        return text
    text = _SECRET_PAIRS.sub(lambda m: f"{m['key']}{m['sep']}{REDACTED}", text)
    text = _BEARER.sub(rf"\1{REDACTED}", text)
    return _TOKEN_SHAPES.sub(lambda m: f"{m.group(1)}_{REDACTED}", text)


@functools.lru_cache(maxsize=1024)
def _is_secret_key(key: str) -> bool:
    """Log records use a few dozen keys: each is judged once."""
    return bool(SECRET_KEYS.search(key)) and not key.endswith(("_id", "Id"))


def redact(value: Any, key: str = "") -> Any:
    if key and _is_secret_key(key):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if request_id := _request_id.get():
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(redact(entry), default=str)


def configure_logging(service: str, level: str = "INFO", *, stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Our access log (twofold_common.http) replaces uvicorn's, which prints query strings.
    logging.getLogger("uvicorn.access").disabled = True
    # aiokafka logs every failed reconnect while the broker is away (hundreds a
    # second); the relay and the consumer log the outage once per retry instead.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
