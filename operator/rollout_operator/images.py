"""Container image references: parse, validate and re-tag without losing the registry.

Follows the distribution reference grammar (`[host[:port]/]path[:tag][@digest]`) closely
enough to tell a registry port from a tag, which a naive `split(":")` gets wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_COMPONENT: Final = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST: Final = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)"  # noqa: E501
_DIGEST: Final = r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}"
#: Also used verbatim in the CRD's OpenAPI schema (a unit test keeps the two equal).
_TAG: Final = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
TAG_PATTERN: Final = rf"^{_TAG}$"
IMAGE_PATTERN: Final = rf"^{_HOST}?{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?$"
_IMAGE_RE: Final = re.compile(IMAGE_PATTERN)
_TAG_RE: Final = re.compile(TAG_PATTERN)


class InvalidImageError(ValueError):
    """An image reference or tag that a container runtime would refuse."""


@dataclass(frozen=True)
class ImageRef:
    """An image reference split into repository (with registry), tag and digest."""

    repository: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.repository}{tag}{digest}"


def parse_image(image: str) -> ImageRef:
    """Split `image`; the tag is the part after the last `:` that follows the last `/`."""
    if not _IMAGE_RE.match(image):
        raise InvalidImageError(f"invalid image reference {image!r}")
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return ImageRef(name[:colon], name[colon + 1 :], digest or None)
    return ImageRef(name, None, digest or None)


def with_tag(image: str, tag: str) -> str:
    """Return `image` with its tag replaced by `tag`, dropping any digest.

    A digest pins the old content, so keeping it would make the new tag meaningless.
    """
    if not _TAG_RE.match(tag):
        raise InvalidImageError(f"invalid image tag {tag!r}")
    return str(ImageRef(parse_image(image).repository, tag))
