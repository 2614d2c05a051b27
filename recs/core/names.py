"""Name normalisation for matching tracks and artists known only by name (account-data exports)."""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def normalise(text: str) -> str:
    """Casefold, drop accents and punctuation, collapse spaces: 'Beyoncé – Halo!' -> 'beyonce halo'."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NON_WORD.sub(" ", stripped.casefold()).split())


def track_key(artist: str, track: str) -> str:
    """The name key of a track: normalised primary artist and title."""
    return f"{normalise(artist)}|{normalise(track)}"
