"""hashkey.py: one Secret-hashing key per install, shared by every replica (FakeApi)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from rollout_operator import paths
from rollout_operator.api import ApiError
from rollout_operator.hashkey import KeyUnavailableError, load_or_create

pytestmark = pytest.mark.asyncio

NS, NAME = "ops", "rollout-operator-hash-key"
PATH = paths.secret(NS, NAME)


def secret(data: dict[str, str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": NAME}}
    if data is not None:
        body["data"] = data
    return body


def encoded(key: bytes) -> dict[str, str]:
    return {"key": base64.b64encode(key).decode()}


async def test_creates_the_key_secret_when_missing_and_reads_it_afterwards(fake_api):
    key = await load_or_create(fake_api, NS, NAME)
    assert len(key) == 32
    stored = fake_api.objects[PATH]
    assert base64.b64decode(stored["data"]["key"]) == key
    assert stored["type"] == "Opaque"
    assert await load_or_create(fake_api, NS, NAME) == key  # a restart reads the same key
    assert [verb for verb, _ in fake_api.calls] == ["get", "create", "get"]


async def test_reads_an_existing_key_without_writing(fake_api):
    fake_api.put(PATH, secret(encoded(b"k" * 32)))
    assert await load_or_create(fake_api, NS, NAME) == b"k" * 32
    assert [verb for verb, _ in fake_api.calls] == ["get"]


async def test_a_409_on_create_reads_the_key_the_other_replica_made(fake_api):
    theirs = b"t" * 32

    def other_replica_creates_first(verb: str, path: str, body: Any) -> None:
        if verb == "create" and PATH not in fake_api.objects:
            fake_api.put(PATH, secret(encoded(theirs)))

    fake_api.hooks.append(other_replica_creates_first)
    assert await load_or_create(fake_api, NS, NAME) == theirs
    assert [verb for verb, _ in fake_api.calls] == ["get", "create", "get"]


async def test_two_replicas_starting_together_get_the_same_key(fake_api):
    first, second = await asyncio.gather(
        load_or_create(fake_api, NS, NAME), load_or_create(fake_api, NS, NAME)
    )
    assert first == second
    assert [verb for verb, _ in fake_api.calls].count("create") == 2  # one of them lost


@pytest.mark.parametrize(
    "data",
    [None, {}, {"key": ""}, encoded(b"short"), encoded(b"x" * 15)],
    ids=["no-data", "empty-data", "empty-key", "5-bytes", "15-bytes"],
)
async def test_an_absent_or_short_key_is_unavailable_with_a_clear_message(fake_api, data):
    fake_api.put(PATH, secret(data))
    with pytest.raises(KeyUnavailableError) as caught:
        await load_or_create(fake_api, NS, NAME)
    message = str(caught.value)
    assert f"Secret {NS}/{NAME} has no usable data.key (>= 16 bytes)" in message
    assert "delete it and the operator makes a new one" in message


async def test_a_forbidden_read_is_unavailable_naming_the_permission(fake_api):
    fake_api.faults["get"] = [ApiError(403, "Forbidden", 'secrets "x" is forbidden')]
    with pytest.raises(KeyUnavailableError) as caught:
        await load_or_create(fake_api, NS, NAME)
    assert f"grant the operator get/create on secrets in namespace '{NS}'" in str(caught.value)


async def test_a_key_secret_that_vanishes_during_the_race_is_unavailable(fake_api):
    fake_api.faults["create"] = [ApiError(409, "AlreadyExists", "exists")]  # but gone again
    with pytest.raises(KeyUnavailableError, match="vanished while being created"):
        await load_or_create(fake_api, NS, NAME)
