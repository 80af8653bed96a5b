"""Content hashes of ConfigMaps and Secrets: what decides whether pods must restart.

Only content counts (``data`` and ``binaryData``), hashed canonically, so metadata churn
(labels, managedFields, a re-apply of the same content) never restarts anything. Secret
values only ever pass through the hash function; nothing here keeps or logs them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def content_hash(obj: Mapping[str, Any]) -> str:
    """SHA-256 of a ConfigMap's or Secret's ``data`` and ``binaryData``, key order ignored."""
    content = {
        "data": dict(obj.get("data") or {}),
        "binaryData": dict(obj.get("binaryData") or {}),
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def combined_hash(hashes: Mapping[str, str]) -> str:
    """One hash over several objects' hashes, keyed by e.g. ``ConfigMap/name``."""
    lines = "\n".join(f"{key}={value}" for key, value in sorted(hashes.items()))
    return hashlib.sha256(lines.encode()).hexdigest()
