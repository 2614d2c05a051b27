"""Members' accounts: sign-in with Spotify (PKCE, state, invites), encrypted tokens, consent, deletion and key rotation."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from recs import storage
from recs.core.config import Settings
from recs.core.domain import PURPOSES, Consent, InviteRow, Member, Purpose, StateRow, TokenRow
from recs.core.keys import SecretsError, TokenCipher
from recs.core.payloads import Profile
from recs.spotify import (
    ErrorKind,
    MemberAuth,
    OAuthClient,
    RefreshLocks,
    SpotifyApi,
    SpotifyError,
    SpotifyLibrary,
    TokenBundle,
    new_code_verifier,
    new_state,
    oauth_client,
)
from recs.spotify.auth import PROCESS_LOCKS
from recs.storage import Database
from recs.usecases.budget import Budget
from recs.usecases.instance import Instance

log = logging.getLogger(__name__)

STATE_TTL = timedelta(minutes=10)
INVITE_TTL = timedelta(days=7)
# Spotify refresh tokens die six months after the member authorised; refreshing does not extend that.
REFRESH_LIFETIME_MONTHS = 6

Clock = Callable[[], datetime]


class SignInError(Exception):
    """Sign-in refused; the message is safe to show the person (it holds no token, code or state)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        # A short machine-readable reason for the web layer: 'state', 'denied', 'code', 'invite', 'cap', ...
        self.code = code


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time *months* later (clamped to the month's last day)."""
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    for day in range(moment.day, 27, -1):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return moment.replace(year=year, month=month, day=min(moment.day, 28))


# --- token storage -----------------------------------------------------------------------------


class StoredTokens:
    """The TokenStore of one member, backed by the tokens table and encrypted with the instance keys."""

    def __init__(self, db: Database, cipher: TokenCipher, member_id: int, now: Clock) -> None:
        self.db = db
        self.cipher = cipher
        self.member_id = member_id
        self.now = now

    def load(self) -> TokenBundle | None:
        with self.db.read() as conn:
            row = storage.accounts.get_token(conn, self.member_id)
        return self._bundle(row)

    def _bundle(self, row: TokenRow | None) -> TokenBundle | None:
        if row is None:
            return None
        try:
            return TokenBundle.from_json(self.cipher.decrypt(row.ciphertext))
        except SecretsError:
            # Keys were replaced without `recs rotate-key`: the member is unaffected elsewhere, but must
            # sign in again unless the old key is put back.
            raise SpotifyError(
                ErrorKind.NO_TOKEN,
                "the stored token cannot be decrypted with the configured keys (restore the old key, "
                "or the member signs in again)",
            ) from None

    def save(self, bundle: TokenBundle) -> None:
        with self.db.write() as conn:
            self._put(conn, bundle)

    def _put(self, conn: Any, bundle: TokenBundle) -> None:
        storage.accounts.put_token(
            conn,
            self.member_id,
            self.cipher.encrypt(bundle.to_json()),
            scope=bundle.scope,
            access_expires_at=bundle.access_expires_at,
            now=self.now(),
        )

    def acquire_refresh_lease(self, owner: str, until: datetime) -> TokenBundle | None:
        with self.db.write() as conn:
            if not storage.accounts.acquire_refresh_lease(conn, self.member_id, owner, until, self.now()):
                return None
            row = storage.accounts.get_token(conn, self.member_id)
        return self._bundle(row)

    def save_refreshed(self, bundle: TokenBundle, owner: str) -> None:
        with self.db.write() as conn:
            self._put(conn, bundle)
            storage.accounts.release_refresh_lease(conn, self.member_id, owner)

    def release_refresh_lease(self, owner: str) -> None:
        with self.db.write() as conn:
            storage.accounts.release_refresh_lease(conn, self.member_id, owner)

    def drop_for_reconnect(self) -> None:
        with self.db.write() as conn:
            storage.accounts.delete_token(conn, self.member_id)
            storage.members.update_member(conn, self.member_id, reconnect_needed=True)
        log.warning("member %s must sign in again: Spotify refused their refresh token", self.member_id)


def member_client(
    instance: Instance,
    member_id: int,
    now: Clock,
    *,
    budget: Budget | None = None,
    locks: RefreshLocks = PROCESS_LOCKS,
    wait: Callable[[float], None] | None = None,
) -> SpotifyApi:
    """A Web API client for one member: stored tokens, single-flight refresh, every call through the budget.

    The one way to reach Spotify as a member (syncing, publishing, search): wrap it in the port the job needs
    (`SpotifyLibrary`, `SpotifyPlaylists`, `SpotifyTrackSearch`). *budget* defaults to the instance's.
    """
    if budget is None:
        budget = Budget(instance.db, instance.settings.budget, now)
    store = StoredTokens(instance.db, instance.secrets.cipher(), member_id, now)
    observer = budget.observer(member_id)

    def count_refresh() -> None:
        budget.record(member_id, "token", "POST api/token", None, None)

    kwargs = {"wait": wait} if wait is not None else {}
    auth = MemberAuth(
        (instance.db.url, member_id),
        store,
        _oauth(instance),
        now,
        locks=locks,
        on_refresh=count_refresh,
        **kwargs,
    )
    return SpotifyApi(
        instance.settings.spotify,
        auth,
        observer,
        long_retry_s=float(instance.settings.budget.max_retry_after_s),
    )


def _oauth(instance: Instance) -> OAuthClient:
    return oauth_client(instance.settings, instance.secrets.client_secret)


# --- sign-in -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignInStart:
    authorize_url: str
    # Also inside the URL; returned so a web layer may bind it to the browser session.
    state: str


def check_redirect_uri(settings: Settings) -> str:
    """The redirect URI, refused early when Spotify would refuse it (HTTPS or a loopback literal only)."""
    uri = settings.redirect_uri
    if uri.startswith("https://") or uri.startswith("http://127.0.0.1:") or uri.startswith("http://[::1]:"):
        return uri
    raise SignInError(
        f"redirect URI {uri!r} is not accepted by Spotify: use HTTPS, or http://127.0.0.1:PORT "
        "(localhost is rejected); set spotify.redirect_uri or instance.public_url",
        code="config",
    )


def begin_sign_in(instance: Instance, now: Clock, *, invite_code: str | None = None) -> SignInStart:
    """Start the authorization-code flow with PKCE: remember state (hashed) and verifier (encrypted)."""
    check_redirect_uri(instance.settings)
    state = new_state()
    verifier = new_code_verifier()
    moment = now()
    with instance.db.write() as conn:
        storage.accounts.prune_states(conn, moment - timedelta(days=1))
        storage.accounts.add_state(
            conn,
            _sha256(state),
            instance.secrets.cipher().encrypt(verifier.encode()),
            moment,
            _sha256(invite_code) if invite_code else None,
        )
    return SignInStart(_oauth(instance).authorize_url(state, verifier), state)


@dataclass(frozen=True)
class SignInResult:
    member: Member
    # True for a member who signed in before (a reconnect), False for a new member.
    returning: bool
    refresh_expires_at: datetime


def _take_state(instance: Instance, state: str | None, moment: datetime) -> StateRow:
    if not state:
        raise SignInError("the sign-in link is incomplete (no state); start again from the sign-in page", code="state")
    wanted = _sha256(state)
    with instance.db.write() as conn:
        # Compare every recent candidate in constant time rather than looking the hash up by value.
        found: StateRow | None = None
        for row in storage.accounts.states_since(conn, moment - timedelta(days=1)):
            if hmac.compare_digest(row.state_hash, wanted):
                found = row
        if found is None:
            raise SignInError(
                "this sign-in attempt is unknown or was already used; start again from the sign-in page", code="state"
            )
        if not storage.accounts.use_state(conn, found.state_hash, moment):
            raise SignInError("this sign-in attempt was already used; start again from the sign-in page", code="state")
    if moment - found.created_at > STATE_TTL:
        raise SignInError("this sign-in attempt expired (10 minutes); start again from the sign-in page", code="state")
    return found


def complete_sign_in(
    instance: Instance,
    *,
    state: str | None,
    code: str | None,
    error: str | None,
    now: Clock,
    budget: Budget | None = None,
) -> SignInResult:
    """Finish sign-in from the callback's query; stores tokens only for an admitted, allowlisted account."""
    moment = now()
    found = _take_state(instance, state, moment)
    if error:
        if error == "access_denied":
            raise SignInError("you declined access on Spotify, so nothing was stored", code="denied")
        raise SignInError(f"Spotify reported an error during sign-in ({error[:60]})", code="denied")
    if not code:
        raise SignInError("Spotify sent no authorization code; start again from the sign-in page", code="code")
    verifier = instance.secrets.cipher().decrypt(found.verifier_ciphertext).decode()
    oauth = _oauth(instance)
    try:
        bundle = oauth.exchange_code(code, verifier, now)
    except SpotifyError as exc:
        if exc.kind is ErrorKind.INVALID_GRANT:
            raise SignInError(
                "Spotify refused the authorization code (already used or expired); sign in again", code="code"
            ) from None
        raise SignInError(
            f"could not reach Spotify to finish sign-in ({exc.kind.value}); try again", code="network"
        ) from None
    budget = budget or Budget(instance.db, instance.settings.budget, now)
    profile = _profile(instance, bundle, budget, now)
    return _admit(instance, profile, bundle, found.invite_code_hash, now())


class _FixedTokens:
    """A TokenStore holding a just-granted bundle in memory: used for `GET /me` before anything is stored."""

    def __init__(self, bundle: TokenBundle) -> None:
        self.bundle = bundle

    def load(self) -> TokenBundle | None:
        return self.bundle

    def save(self, bundle: TokenBundle) -> None:
        self.bundle = bundle

    def acquire_refresh_lease(self, owner: str, until: datetime) -> TokenBundle | None:
        return self.bundle

    def save_refreshed(self, bundle: TokenBundle, owner: str) -> None:
        self.bundle = bundle

    def release_refresh_lease(self, owner: str) -> None:
        return None

    def drop_for_reconnect(self) -> None:
        return None


def _profile(instance: Instance, bundle: TokenBundle, budget: Budget, now: Clock) -> Profile:
    auth = MemberAuth(object(), _FixedTokens(bundle), _oauth(instance), now, locks=RefreshLocks())
    api = SpotifyApi(instance.settings.spotify, auth, budget.observer(None))
    try:
        return SpotifyLibrary(api.call).profile()
    except SpotifyError as exc:
        if exc.kind is ErrorKind.MALFORMED:
            raise SignInError("Spotify sent a profile this app cannot read; try again", code="network") from None
        if exc.kind is ErrorKind.NOT_ALLOWLISTED:
            raise SignInError(
                "Spotify refused this account: it is not on the app's user list in the Spotify Dashboard. "
                "In development mode the app owner must add each member (at most 5) under "
                "Dashboard > your app > User Management, then you can sign in again.",
                code="allowlist",
            ) from None
        if exc.kind is ErrorKind.BUDGET:
            raise SignInError(
                f"Spotify calls are paused for now ({exc.message}); try again later", code="budget"
            ) from None
        raise SignInError(
            f"could not read your Spotify profile ({exc.kind.value}); try again", code="network"
        ) from None


def _admit(
    instance: Instance, profile: Profile, bundle: TokenBundle, invite_code_hash: str | None, moment: datetime
) -> SignInResult:
    cipher = instance.secrets.cipher()
    refresh_expires = add_months(moment, REFRESH_LIFETIME_MONTHS)
    cap = instance.settings.spotify.max_members
    with instance.db.write() as conn:
        member = storage.members.get_member_by_spotify_id(conn, profile.spotify_id)
        if member is None and profile.account_id:
            # account_id is the stable key Spotify recommends for linking; the id may have changed.
            member = next((m for m in storage.members.list_members(conn) if m.account_id == profile.account_id), None)
        returning = member is not None
        if member is None:
            existing = storage.members.count_members(conn)
            invite_id: int | None = None
            if existing > 0:
                invite_id = _find_invite(storage.accounts.open_invites(conn, moment), profile, invite_code_hash)
                if invite_id is None:
                    raise SignInError(
                        "this Spotify account has not been invited to this instance; ask its owner for an invite",
                        code="invite",
                    )
                if existing >= cap:
                    raise SignInError(
                        f"this instance already has {existing} members, the most a Spotify app in development "
                        f"mode allows ({cap}); the owner must remove someone first",
                        code="cap",
                    )
            try:
                member = storage.members.create_member(
                    conn,
                    profile.spotify_id,
                    profile.display_name,
                    account_id=profile.account_id,
                    role="owner" if existing == 0 else "member",
                    now=moment,
                )
            except storage.members.OwnerTaken:
                raise SignInError(
                    "someone else became this instance's owner at the same moment; ask them for an invite",
                    code="invite",
                ) from None
            if invite_id is not None and not storage.accounts.use_invite(conn, invite_id, member.id, moment):
                raise SignInError("this invite was just used by someone else; ask for a new one", code="invite")
        else:
            storage.members.update_member(
                conn,
                member.id,
                reconnect_needed=False,
                not_allowlisted=False,
                display_name=profile.display_name,
                account_id=profile.account_id,
            )
        storage.accounts.put_token(
            conn,
            member.id,
            cipher.encrypt(bundle.to_json()),
            scope=bundle.scope,
            access_expires_at=bundle.access_expires_at,
            now=moment,
            authorised_at=moment,
            refresh_expires_at=refresh_expires,
        )
        fresh = storage.members.get_member(conn, member.id)
    assert fresh is not None
    log.info("member %s signed in (%s)", fresh.id, "returning" if returning else "new")
    return SignInResult(fresh, returning, refresh_expires)


def _find_invite(open_invites: list[InviteRow], profile: Profile, code_hash: str | None) -> int | None:
    """An open invite naming this account (its id or account_id), else the invite whose link started this sign-in."""
    names = {profile.spotify_id, profile.account_id} - {None}
    for inv in open_invites:
        if inv.spotify_id is not None and inv.spotify_id in names:
            return inv.id
    if code_hash is None:
        return None
    for inv in open_invites:
        if inv.code_hash is not None and hmac.compare_digest(inv.code_hash, code_hash) and inv.spotify_id is None:
            return inv.id
    return None


# --- invites -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invite:
    id: int
    spotify_id: str | None
    # Shown once: only its hash is stored.
    code: str | None
    link: str | None
    expires_at: datetime


def create_invite(
    instance: Instance,
    *,
    by_member_id: int | None,
    now: Clock,
    spotify_id: str | None = None,
    ttl: timedelta = INVITE_TTL,
) -> Invite:
    """An invite for a named Spotify account id, or (without one) a single-use link."""
    moment = now()
    code = None if spotify_id else secrets.token_urlsafe(24)
    with instance.db.write() as conn:
        if by_member_id is not None:
            by = storage.members.get_member(conn, by_member_id)
            if by is None or not by.is_owner:
                raise PermissionError("only the instance owner can invite members")
        count = storage.members.count_members(conn)
        cap = instance.settings.spotify.max_members
        if count >= cap:
            raise ValueError(
                f"the instance has {count} members, the most a Spotify app in development mode allows ({cap})"
            )
        invite_id = storage.accounts.add_invite(
            conn,
            code_hash=_sha256(code) if code else None,
            spotify_id=spotify_id,
            created_by=by_member_id,
            now=moment,
            expires_at=moment + ttl,
        )
    link = None
    if code:
        link = instance.settings.instance.public_url.rstrip("/") + f"/auth/login?invite={code}"
    return Invite(invite_id, spotify_id, code, link, moment + ttl)


# --- consent, status, deletion -----------------------------------------------------------------


def set_consent(instance: Instance, member_id: int, purpose: Purpose, granted: bool, now: Clock) -> None:
    """Grant or revoke one purpose; revoking 'store' stops ingestion at the next page, 'train' the next training."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown consent purpose {purpose!r}; expected one of {', '.join(PURPOSES)}")
    moment = now()
    with instance.db.write() as conn:
        if storage.members.get_member(conn, member_id) is None:
            raise LookupError(f"no member with id {member_id}")
        # The storage query also records the interval a purpose is off (plays from it are never kept).
        storage.members.set_consent(conn, member_id, purpose, granted, moment)


@dataclass(frozen=True)
class MemberStatus:
    member: Member
    consents: dict[Purpose, Consent]
    has_token: bool
    refresh_expires_at: datetime | None
    last_sync_at: datetime | None
    last_error: str | None
    open_gaps: int

    @property
    def status(self) -> str:
        if self.member.not_allowlisted:
            return "not on the Spotify Dashboard user list"
        if self.member.reconnect_needed or not self.has_token:
            return "reconnect needed"
        if not self.consents["store"].granted:
            return "not syncing (no consent to store listening)"
        return "ok"


def find_member(db: Database, member_id: int) -> Member | None:
    """The member with this id, or None (deleted meanwhile)."""
    with db.read() as conn:
        return storage.members.get_member(conn, member_id)


def owner(db: Database) -> Member | None:
    """The instance's owner (the first member who signed in), or None before anyone has."""
    with db.read() as conn:
        return next((m for m in storage.members.list_members(conn) if m.is_owner), None)


def consenting(db: Database, purpose: Purpose) -> list[int]:
    """Ids of the members whose consent to this purpose is on now."""
    with db.read() as conn:
        return storage.members.members_with_consent(conn, purpose)


def consents(db: Database, member_id: int) -> dict[Purpose, Consent]:
    """The member's choice for each purpose (store, train, publish)."""
    with db.read() as conn:
        return storage.members.get_consents(conn, member_id)


def member_statuses(instance: Instance) -> list[MemberStatus]:
    out = []
    with instance.db.read() as conn:
        for m in storage.members.list_members(conn):
            token = storage.accounts.get_token(conn, m.id)
            cursor = storage.sync.get_cursor(conn, m.id, "recently_played")
            out.append(
                MemberStatus(
                    member=m,
                    consents=storage.members.get_consents(conn, m.id),
                    has_token=token is not None,
                    refresh_expires_at=token.refresh_expires_at if token else None,
                    last_sync_at=cursor.last_success_at if cursor else None,
                    last_error=cursor.last_error if cursor else None,
                    open_gaps=len(storage.sync.list_gaps(conn, m.id, open_only=True)),
                )
            )
    return out


def delete_my_data(instance: Instance, member_id: int) -> bool:
    """Remove the member, every row of theirs (foreign keys cascade) and their tokens; the ledger keeps unnamed rows."""
    with instance.db.write() as conn:
        member = storage.members.get_member(conn, member_id)
        if member is None:
            return False
        storage.accounts.delete_token(conn, member_id)
        storage.members.delete_member(conn, member_id)
        if member.is_owner:
            # The household keeps an owner: the longest-standing member takes over.
            rest = storage.members.list_members(conn)
            if rest:
                storage.members.update_member(conn, rest[0].id, role="owner")
    log.info("member %s deleted with all their data", member_id)
    return True


def rotate_tokens(db: Database, cipher: TokenCipher) -> int:
    """Re-encrypt every stored token and sign-in verifier with the newest key; returns tokens rotated."""
    with db.write() as conn:
        rows = storage.accounts.list_tokens(conn)
        for row in rows:
            storage.accounts.set_token_ciphertext(conn, row.member_id, cipher.rotate(row.ciphertext))
        storage.accounts.rotate_state_verifiers(conn, cipher.rotate)
    return len(rows)
