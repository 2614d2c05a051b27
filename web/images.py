"""Cover images asked for at the size shown: Spotify serves each cover at 64, 300 and 640 px (three URLs)."""

from __future__ import annotations

import re

# i.scdn.co album covers: one hash, a size code in front of it.
_SCDN = re.compile(r"^(https://i\.scdn\.co/image/ab67616d)(0000b273|00001e02|00004851)([0-9a-f]+)$")
_SCDN_CODES = {640: "0000b273", 300: "00001e02", 64: "00004851"}
# The emulator's covers: /image/<id>?size=N (any size; it stands in for the three).
_EMULATOR = re.compile(r"^(https?://[^?#]+/image/[^?#/]+)\?size=\d+$")
SIZES = (64, 300, 640)


def sized(url: str, px: int) -> str:
    """The URL of the same cover at *px* (one of SIZES); an unknown kind of URL is returned as it is."""
    m = _SCDN.match(url)
    if m:
        return f"{m.group(1)}{_SCDN_CODES[px]}{m.group(3)}"
    e = _EMULATOR.match(url)
    if e:
        return f"{e.group(1)}?size={px}"
    return url


def srcset(url: str) -> str:
    """A `srcset` of the cover's three sizes (empty when the URL's sizes are unknown): the browser takes the
    smallest that fills the box it is shown in, at the screen's pixel density."""
    if not (_SCDN.match(url) or _EMULATOR.match(url)):
        return ""
    return ", ".join(f"{sized(url, px)} {px}w" for px in SIZES)
