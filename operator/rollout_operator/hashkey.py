"""The per-install key for Secret hashes, kept in a Secret in the operator's namespace.

Created with 32 random bytes on first start; every replica (HA) reads the same one. Only
the operator's ServiceAccount (and whoever may read Secrets in its namespace) can read it,
which is what makes the keyed hashes in Rollout status impossible to brute-force.
"""

from __future__ import annotations

import base64
import logging
import secrets

from . import paths
from .api import Api, ApiError

log = logging.getLogger(__name__)

DATA_KEY = "key"


class KeyUnavailableError(Exception):
    """The key Secret can neither be read nor created; the message says why."""


def _decode(secret: dict[str, object], namespace: str, name: str) -> bytes:
    data = secret.get("data")
    value = data.get(DATA_KEY) if isinstance(data, dict) else None
    key = base64.b64decode(str(value)) if value else b""
    if len(key) < 16:
        raise KeyUnavailableError(
            f"Secret {namespace}/{name} has no usable data.{DATA_KEY} (>= 16 bytes); delete it "
            "and the operator makes a new one (Secret references then re-baseline, no restart)"
        )
    return key


async def load_or_create(api: Api, namespace: str, name: str) -> bytes:
    """The key from Secret `namespace/name`, creating it when it does not exist."""
    path = paths.secret(namespace, name)
    try:
        found = await api.get(path)
        if found is not None:
            return _decode(found, namespace, name)
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/name": "rollout-operator"},
            },
            "type": "Opaque",
            "data": {DATA_KEY: base64.b64encode(secrets.token_bytes(32)).decode()},
        }
        try:
            created = await api.create(paths.secrets(namespace), body)
            log.info("Created the Secret-hashing key %s/%s", namespace, name)
            return _decode(created, namespace, name)
        except ApiError as error:
            if error.status != 409:  # another replica made it first: read theirs
                raise
        again = await api.get(path)
        if again is None:
            raise KeyUnavailableError(f"Secret {namespace}/{name} vanished while being created")
        return _decode(again, namespace, name)
    except ApiError as error:
        raise KeyUnavailableError(
            f"cannot read or create the Secret-hashing key {namespace}/{name}: {error}; grant the "
            f"operator get/create on secrets in namespace {namespace!r} "
            "(manifests/overlays/secrets does)"
        ) from error
