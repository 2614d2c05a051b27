"""A failed playlist publish in words: its kind from Spotify's error kind, and what it means for the member and the owner."""

from __future__ import annotations

from dataclasses import dataclass

# Spotify error kinds (recs.spotify.errors.ErrorKind values) -> the failure kind stored with the playlist.
_BY_ERROR_KIND = {
    "forbidden": "forbidden",
    "not_allowlisted": "not_allowlisted",
    "unauthorized": "access",
    "invalid_grant": "access",
    "no_token": "access",
    "not_found": "not_found",
    "rate_limited": "busy",
    "quota_exceeded": "busy",
    "budget": "budget",
    "server": "busy",
    "timeout": "busy",
    "network": "busy",
    "malformed": "busy",
    "bad_request": "refused",
}
KINDS = frozenset({*_BY_ERROR_KIND.values(), "error"})
DETAIL_MAX = 300  # characters of Spotify's message kept (it never holds a token)


def failure_kind(error_kind: str | None) -> str:
    """The stored failure kind for a Spotify error kind's value ("error" for a failure that is not Spotify's answer)."""
    return _BY_ERROR_KIND.get(error_kind or "", "error")


@dataclass(frozen=True)
class FailureWords:
    member: str  # one sentence for the member: what happened
    member_todo: str  # what the member can do (or that nothing is needed)
    owner: str  # the admin page's state in words
    owner_todo: str  # what the owner can do


def describe(kind: str, detail: str | None) -> FailureWords:
    """What a failed publish of this kind means, in words; *detail* is what Spotify said, quoted when useful."""
    said = f" (Spotify said: “{detail.strip().rstrip('.')}”)" if detail and detail.strip() else ""
    if kind == "forbidden":
        return FailureWords(
            f"Spotify refused to let recs change the playlist{said}.",
            "Reconnect Spotify under Settings & privacy so recs may write playlists; if you gave the playlist "
            "to someone else or made it collaborative, delete it in Spotify and recs writes a new one.",
            f"last publish refused by Spotify (403 on the playlist){said}",
            "Ask them to reconnect, or to delete the playlist in Spotify so recs creates a new one.",
        )
    if kind == "not_allowlisted":
        return FailureWords(
            "Spotify refused the write: your account is not on this app's list of users.",
            "Ask whoever runs recs to add your Spotify account to the app's users.",
            "last publish refused: not on the app's Spotify allow-list",
            "Add their Spotify account under the app's users in the Spotify Dashboard.",
        )
    if kind == "access":
        return FailureWords(
            "Spotify no longer lets recs use your account.",
            "Reconnect Spotify under Settings & privacy.",
            "last publish failed: Spotify access revoked or expired",
            "Ask them to sign in again to reconnect.",
        )
    if kind == "not_found":
        return FailureWords(
            f"Spotify could not find the playlist{said}.",
            "Nothing to do: recs creates it again at the next publish.",
            f"last publish failed: playlist not found{said}",
            "Nothing to do: the next publish creates it again.",
        )
    if kind == "busy":
        return FailureWords(
            "Spotify was busy or could not be reached.",
            "Nothing to do: recs tries again at the next publish.",
            "last publish failed: Spotify busy or unreachable",
            "It is retried at the next publish; check the API budget if it keeps failing.",
        )
    if kind == "budget":
        return FailureWords(
            "recs had used up its daily allowance of Spotify calls.",
            "Nothing to do: recs tries again at the next publish.",
            "last publish skipped: the daily API budget was spent",
            "It is retried when the budget frees up (see the API budget above).",
        )
    if kind == "refused":
        return FailureWords(
            f"Spotify refused the write{said}.",
            "Nothing to do: recs tries again at the next publish, and the owner can see the details.",
            f"last publish refused by Spotify{said}",
            "Look for the publish job's error below; it is retried at the next publish.",
        )
    return FailureWords(
        "Something went wrong inside recs while writing it.",
        "Nothing to do: recs tries again at the next publish, and the owner can see the details.",
        "last publish failed inside recs",
        "See the publish job's error below and the worker's log.",
    )
