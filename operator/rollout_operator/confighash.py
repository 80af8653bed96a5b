"""Content hashes of ConfigMaps and Secrets: what decides whether pods must restart.

Only content counts (``data`` and ``binaryData``), hashed canonically, so metadata churn
(labels, managedFields, a re-apply of the same content) never restarts anything.

A ConfigMap's hash is its plain SHA-256: anyone may check it against the ConfigMap.
A Secret's hash is shown where Secret readers are not the only readers (Rollout status,
the workload's pod template), so a plain digest of a short secret could be brute-forced by
a namespace `view` user. Secret hashes are therefore HMAC-SHA256 under a per-install random
key that only the operator holds, over the Secret's kind, namespace and name as well as its
content: without the key nothing can be tried offline, and equal content in two Secrets
never shows equal values (no oracle). Secret values only pass through these functions.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Final

PLAIN_PREFIX: Final = "sha256:"
KEYED_PREFIX: Final = "hmac-sha256:"


def _canonical(obj: Mapping[str, Any]) -> bytes:
    content = {
        "data": dict(obj.get("data") or {}),
        "binaryData": dict(obj.get("binaryData") or {}),
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(obj: Mapping[str, Any]) -> str:
    """Plain SHA-256 of a ConfigMap's ``data`` and ``binaryData``, key order ignored."""
    return PLAIN_PREFIX + hashlib.sha256(_canonical(obj)).hexdigest()


def key_id(key: bytes) -> str:
    """A short, non-secret fingerprint of the hashing key, carried in keyed hashes.

    A Secret hash made under another key (the key Secret was deleted and made anew) is
    then recognisably incomparable instead of looking like a content change.
    """
    return hmac.new(key, b"rollout-operator key id", hashlib.sha256).hexdigest()[:8]


def keyed_hash(key: bytes, kind: str, namespace: str, name: str, obj: Mapping[str, Any]) -> str:
    """HMAC-SHA256 under `key` of the object's identity and canonical content."""
    identity = "\0".join((kind, namespace, name)).encode() + b"\0"
    digest = hmac.new(key, identity + _canonical(obj), hashlib.sha256).hexdigest()
    return f"{KEYED_PREFIX}{key_id(key)}:{digest}"


def comparable(a: str, b: str) -> bool:
    """Whether two hashes were made the same way (plain, or keyed under the same key)."""
    return a.rpartition(":")[0] == b.rpartition(":")[0]


def combined_hash(hashes: Mapping[str, str]) -> str:
    """One hash over several objects' hashes, keyed by e.g. ``ConfigMap/name``."""
    lines = "\n".join(f"{key}={value}" for key, value in sorted(hashes.items()))
    return hashlib.sha256(lines.encode()).hexdigest()
