"""Per-member access tokens for spotipy: a CacheHandler over a TokenStore, and single-flight refresh."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from spotipy.cache_handler import CacheHandler

from recs.spotify.errors import ErrorKind, SpotifyError
from recs.spotify.oauth import OAuthClient, TokenBundle

# Refresh a little before expiry so a call never starts with a token about to die.
EXPIRY_MARGIN = timedelta(seconds=60)
# How long one refresher may hold the lease; longer than the token endpoint's timeout.
LEASE = timedelta(seconds=30)


class TokenStore(Protocol):
    """One member's stored tokens, as the use case provides them (backed by the database)."""

    def load(self) -> TokenBundle | None: ...

    def save(self, bundle: TokenBundle) -> None: ...

    def acquire_refresh_lease(self, owner: str, until: datetime) -> TokenBundle | None:
        """Take the refresh lease unless another owner holds an unexpired one; returns the tokens read under it."""
        ...

    def save_refreshed(self, bundle: TokenBundle, owner: str) -> None:
        """Store the refreshed tokens and release *owner*'s lease in one transaction."""
        ...

    def release_refresh_lease(self, owner: str) -> None: ...

    def drop_for_reconnect(self) -> None:
        """invalid_grant: delete the tokens and mark the member as needing to sign in again."""
        ...


class MemberCacheHandler(CacheHandler):  # type: ignore[misc]
    """spotipy's cache interface over a TokenStore (never a .cache file or a Flask session)."""

    def __init__(self, store: TokenStore) -> None:
        self.store = store

    def get_cached_token(self) -> dict[str, Any] | None:
        bundle = self.store.load()
        if bundle is None:
            return None
        return {
            "access_token": bundle.access_token,
            "refresh_token": bundle.refresh_token,
            "expires_at": int(bundle.access_expires_at.timestamp()),
            "scope": bundle.scope,
            "token_type": "Bearer",
        }

    def save_token_to_cache(self, token_info: dict[str, Any]) -> None:
        self.store.save(
            TokenBundle(
                access_token=token_info["access_token"],
                refresh_token=token_info["refresh_token"],
                access_expires_at=datetime.fromtimestamp(int(token_info["expires_at"]), tz=UTC),
                scope=str(token_info.get("scope") or ""),
            )
        )


class RefreshLocks:
    """In-process locks per member; the lease in the store covers other processes."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[object, threading.Lock] = {}

    def lock(self, key: object) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


PROCESS_LOCKS = RefreshLocks()


class MemberAuth:
    """spotipy auth manager for one member: hands out a valid access token, refreshing single-flight."""

    def __init__(
        self,
        key: object,
        store: TokenStore,
        oauth: OAuthClient,
        now: Callable[[], datetime],
        *,
        locks: RefreshLocks = PROCESS_LOCKS,
        wait: Callable[[float], None] = time.sleep,
        on_refresh: Callable[[], None] | None = None,
    ) -> None:
        self.key = key
        self.store = store
        self.cache_handler = MemberCacheHandler(store)
        self.oauth = oauth
        self.now = now
        self.locks = locks
        self.wait = wait
        self.owner = uuid.uuid4().hex
        # Called before each token request (the budget ledger counts them).
        self.on_refresh = on_refresh

    def get_access_token(self, as_dict: bool = False) -> str:
        return self.valid_token(stale=None).access_token

    def valid_token(self, stale: str | None) -> TokenBundle:
        """A token that is not expiring and is not *stale* (an access token the API just rejected)."""
        with self.locks.lock(self.key):
            deadline = self.now() + LEASE * 2
            step = 0.05
            while True:
                bundle = self.store.load()
                if bundle is None:
                    raise SpotifyError(ErrorKind.NO_TOKEN, "no stored token: the member must sign in")
                if self._usable(bundle, stale):
                    return bundle
                leased = self.store.acquire_refresh_lease(self.owner, self.now() + LEASE)
                if leased is not None:
                    return self._refresh(leased, stale)
                # Another process is refreshing: wait for its result rather than refreshing twice.
                if self.now() > deadline:
                    raise SpotifyError(ErrorKind.TIMEOUT, "another process held the token refresh too long")
                self.wait(step)
                step = min(step * 2, 2.0)  # a dead holder's lease runs out; poll less meanwhile

    def _usable(self, bundle: TokenBundle, stale: str | None) -> bool:
        if stale is not None and bundle.access_token == stale:
            return False
        return bundle.access_expires_at - EXPIRY_MARGIN > self.now()

    def _refresh(self, bundle: TokenBundle, stale: str | None) -> TokenBundle:
        try:
            if self._usable(bundle, stale):  # refreshed by someone between our read and the lease
                self.store.release_refresh_lease(self.owner)
                return bundle
            if self.on_refresh is not None:
                self.on_refresh()
            fresh = self.oauth.refresh(bundle.refresh_token, self.now)
        except SpotifyError as exc:
            if exc.kind is ErrorKind.INVALID_GRANT:
                self.store.drop_for_reconnect()
            else:
                self.store.release_refresh_lease(self.owner)
            raise
        except BaseException:
            self.store.release_refresh_lease(self.owner)
            raise
        self.store.save_refreshed(fresh, self.owner)
        return fresh
