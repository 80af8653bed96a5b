"""Logging: one line per outcome, with the Rollout's namespace and name as fields.

Call sites pass `extra=about(namespace, name, reason)`; JSON lines carry them as fields
`namespace`, `rollout`, `reason`, and text lines start with `[namespace/name]`, so both
formats carry the same facts. (`name` itself is taken: it is the logger's name.)
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Final

FIELDS: Final = ("namespace", "rollout", "reason", "target")


def about(namespace: str, rollout: str, reason: str | None = None) -> dict[str, str]:
    """The `extra=` of a log line about one Rollout."""
    fields = {"namespace": namespace, "rollout": rollout}
    if reason:
        fields["reason"] = reason
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the known fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "severity": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time level logger [namespace/name] message`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(where)s%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        namespace, rollout = getattr(record, "namespace", None), getattr(record, "rollout", None)
        record.where = f"[{namespace}/{rollout}] " if namespace and rollout else ""
        return super().format(record)


def configure(log_format: str, verbose: bool) -> None:
    """Root logging for the operator process (kopf's own loggers included)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        for noisy in ("aiohttp.access", "kopf.objects", "kopf.activities"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
