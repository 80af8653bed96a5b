import pytest

from rollout_operator.images import ImageRef, InvalidImageError, parse_image, with_tag

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("nginx", ImageRef("nginx")),
        ("nginx:1.27", ImageRef("nginx", "1.27")),
        ("library/nginx:latest", ImageRef("library/nginx", "latest")),
        ("localhost:5000/app", ImageRef("localhost:5000/app")),
        ("localhost:5000/app:v1", ImageRef("localhost:5000/app", "v1")),
        (
            "registry.example.com:443/team/app:3f2c1ab",
            ImageRef("registry.example.com:443/team/app", "3f2c1ab"),
        ),
        (f"app@{DIGEST}", ImageRef("app", None, DIGEST)),
        (f"reg.io:5000/app:v1@{DIGEST}", ImageRef("reg.io:5000/app", "v1", DIGEST)),
        (
            "okteto.dev/codingpot-pr12er-server:3f2c1ab",
            ImageRef("okteto.dev/codingpot-pr12er-server", "3f2c1ab"),
        ),
    ],
)
def test_parse_image_round_trips(image, expected):
    assert parse_image(image) == expected
    assert str(expected) == image


@pytest.mark.parametrize(
    ("image", "tag", "expected"),
    [
        ("nginx", "1.27", "nginx:1.27"),
        ("nginx:1.25", "1.27", "nginx:1.27"),
        ("localhost:5000/app", "v2", "localhost:5000/app:v2"),
        ("localhost:5000/app:v1", "v2", "localhost:5000/app:v2"),
        (f"app:v1@{DIGEST}", "v2", "app:v2"),
        (f"reg.io/app@{DIGEST}", "v2", "reg.io/app:v2"),
    ],
)
def test_with_tag_keeps_repository_and_drops_digest(image, tag, expected):
    assert with_tag(image, tag) == expected


@pytest.mark.parametrize("image", ["", "team/UPPER", "app:", "app:-bad", "app@sha256:short", "a b"])
def test_invalid_images_are_rejected(image):
    with pytest.raises(InvalidImageError):
        parse_image(image)


@pytest.mark.parametrize("tag", ["", "-x", "a" * 129, "a/b", "v1@x"])
def test_invalid_tags_are_rejected(tag):
    with pytest.raises(InvalidImageError):
        with_tag("nginx", tag)
