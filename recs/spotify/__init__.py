"""Spotify adapter: the only importer of spotipy (and of requests for Spotify calls)."""

from __future__ import annotations

from recs.spotify.auth import MemberAuth, MemberCacheHandler, RefreshLocks, TokenStore
from recs.spotify.client import CallObserver, NullObserver, SpotifyApi, make_spotify
from recs.spotify.errors import TRANSIENT, ErrorKind, SpotifyError
from recs.spotify.library import SpotifyLibrary
from recs.spotify.oauth import (
    SCOPES,
    OAuthClient,
    TokenBundle,
    code_challenge,
    new_code_verifier,
    new_state,
    oauth_client,
)

__all__ = [
    "SCOPES",
    "TRANSIENT",
    "CallObserver",
    "ErrorKind",
    "MemberAuth",
    "MemberCacheHandler",
    "NullObserver",
    "OAuthClient",
    "RefreshLocks",
    "SpotifyApi",
    "SpotifyError",
    "SpotifyLibrary",
    "TokenBundle",
    "TokenStore",
    "code_challenge",
    "make_spotify",
    "new_code_verifier",
    "new_state",
    "oauth_client",
]
