"""Spec edits of `set image`, `restart` and `undo`: computed from the Rollout alone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from rollout_operator.plugin.edits import (
    EditError,
    ImageChange,
    containers_patch,
    find_revision,
    parse_image_changes,
    restart_patch,
    restart_value,
    set_images,
    template_images,
    undo_containers,
    undo_target,
)

REPO = "registry.local:5000/team/app"


def test_parse_image_changes_full_image_and_tag():
    assert parse_image_changes([f"app={REPO}:v2", "side=:1.4"]) == [
        ImageChange("app", image=f"{REPO}:v2"),
        ImageChange("side", tag="1.4"),
    ]


@pytest.mark.parametrize(
    "arg", ["app", "=img", "app=", "app=:", "app=:bad tag", "app=UPPER/Case:x", "app=x:"]
)
def test_parse_image_changes_rejects_malformed(arg):
    with pytest.raises(ValueError, match=r".+"):
        parse_image_changes([arg])


def test_parse_image_changes_rejects_a_container_twice():
    with pytest.raises(ValueError, match="twice"):
        parse_image_changes(["app=:v1", "app=:v2"])


def test_set_images_replaces_named_entries_and_appends_new_ones_in_order():
    spec = {"containers": [{"name": "app", "tag": "v1"}, {"name": "side", "image": "proxy:1"}]}
    changes = [ImageChange("app", image=f"{REPO}:v2"), ImageChange("init", tag="3")]
    assert set_images(spec, changes) == [
        {"name": "app", "image": f"{REPO}:v2"},
        {"name": "side", "image": "proxy:1"},
        {"name": "init", "tag": "3"},
    ]
    assert spec["containers"][0] == {"name": "app", "tag": "v1"}  # input untouched


def test_set_images_refuses_a_container_the_workload_does_not_have():
    with pytest.raises(EditError, match=r"'apq'.*it has: app, side"):
        set_images({}, [ImageChange("apq", tag="v2")], known={"app", "side"})


def test_template_images_include_init_containers():
    workload = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "app", "image": "a:1"}],
                    "initContainers": [{"name": "migrate", "image": "m:1"}],
                }
            }
        }
    }
    assert template_images(workload) == {"app": "a:1", "migrate": "m:1"}


def test_restart_value_is_now_and_always_new():
    now = datetime(2025, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    assert restart_value(now, None) == "2025-01-02T03:04:05Z"
    assert restart_value(now, "2025-01-02T03:04:05Z") == "2025-01-02T03:04:05.600000Z"
    assert restart_patch("x") == {"spec": {"restartedAt": "x"}}


def entry(revision: int, app: str, side: str = "proxy:1", **extra: Any) -> dict[str, Any]:
    images = [{"container": "app", "image": app}, {"container": "side", "image": side}]
    return {"revision": revision, "images": images, **extra}


HISTORY = {
    "revision": 4,
    "history": [
        entry(4, f"{REPO}:v3", trigger="Config"),  # a restart: same images as 3
        entry(3, f"{REPO}:v3"),
        entry(2, f"{REPO}:v2"),
        entry(1, f"{REPO}:v1"),
    ],
}


def test_undo_defaults_to_the_previous_revision_with_other_images():
    assert undo_target(HISTORY, None)["revision"] == 2


def test_undo_to_a_named_revision():
    assert undo_target(HISTORY, 1)["revision"] == 1


def test_undo_to_an_unknown_revision_names_the_ones_there_are():
    with pytest.raises(EditError, match=r"revision 9 not found.*4, 3, 2, 1"):
        undo_target(HISTORY, 9)


def test_undo_without_history_or_without_other_images_is_refused():
    with pytest.raises(EditError, match="empty"):
        undo_target({}, None)
    with pytest.raises(EditError, match="nothing to undo"):
        undo_target({"revision": 1, "history": [entry(1, "a:1")]}, None)


def test_undo_containers_write_full_images_only_where_needed():
    spec = {"containers": [{"name": "app", "tag": "v3"}]}
    current = {"app": f"{REPO}:v3", "side": "proxy:1"}
    # The side container ran the same image: undo leaves it unmanaged.
    assert undo_containers(spec, current, entry(2, f"{REPO}:v2")) == [
        {"name": "app", "image": f"{REPO}:v2"}
    ]
    # A side container whose image changed since is written too.
    assert undo_containers(spec, current, entry(1, f"{REPO}:v1", side="proxy:0")) == [
        {"name": "app", "image": f"{REPO}:v1"},
        {"name": "side", "image": "proxy:0"},
    ]


def test_undo_keeps_spec_entries_the_revision_does_not_know():
    spec = {"containers": [{"name": "new", "tag": "x"}]}
    assert undo_containers(
        spec, {"app": "a:2"}, {"images": [{"container": "app", "image": "a:1"}]}
    ) == [
        {"name": "new", "tag": "x"},
        {"name": "app", "image": "a:1"},
    ]


def test_find_revision():
    assert find_revision(HISTORY, 3)["revision"] == 3


def test_containers_patch_is_conditional_on_the_version_read():
    patch = containers_patch([{"name": "app", "image": "a:1"}], "42")
    assert patch == {
        "metadata": {"resourceVersion": "42"},
        "spec": {"containers": [{"name": "app", "image": "a:1"}]},
    }


def test_undo_to_a_revision_without_history_says_which_revisions_exist():
    with pytest.raises(EditError, match=r"revision 2 not found.*revisions: none"):
        undo_target({}, 2)
