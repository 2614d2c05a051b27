"""Sign-in, invites, the member cap, consent, deletion, token secrecy, single-flight refresh and key rotation."""

from __future__ import annotations

import dataclasses
import io
import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from recs.core.keys import SecretsError, TokenCipher
from recs.core.logs import RedactingFilter, setup_logging
from recs.spotify import MemberCacheHandler, RefreshLocks
from recs.storage import accounts as aq
from recs.storage import members as mq
from recs.storage import sync as sq
from recs.storage.listening import count_plays
from recs.usecases import accounts, ingest
from recs.usecases.budget import Budget

from .conftest import Household


def token_rows(household: Household) -> int:
    with household.instance.db.read() as conn:
        return len(aq.list_tokens(conn))


def complete(household: Household, query: dict[str, str | None]) -> accounts.SignInResult:
    return accounts.complete_sign_in(
        household.instance,
        state=query.get("state"),
        code=query.get("code"),
        error=query.get("error"),
        now=household.now,
    )


# --- sign-in and its abuse ---------------------------------------------------------------------


def test_the_authorize_url_uses_pkce_state_and_only_the_scopes_used(household: Household) -> None:
    start = accounts.begin_sign_in(household.instance, household.now)
    assert "code_challenge_method=S256" in start.authorize_url and f"state={start.state}" in start.authorize_url
    assert "user-read-email" not in start.authorize_url and "user-read-private" not in start.authorize_url
    with household.instance.db.read() as conn:
        (row,) = aq.states_since(conn, household.now() - timedelta(minutes=1))
    assert start.state not in row.state_hash and len(row.state_hash) == 64  # stored hashed


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (lambda q: {**q, "state": None}, "state"),
        (lambda q: {**q, "state": "forged-" + str(q["state"])}, "state"),
        (lambda q: {"state": q["state"], "error": "access_denied"}, "denied"),
        (lambda q: {"state": q["state"], "code": None}, "code"),
    ],
    ids=["missing-state", "wrong-state", "access-denied", "missing-code"],
)
def test_callback_abuse_stores_no_token_and_says_why(household: Household, tamper: object, code: str) -> None:
    query: dict[str, str | None] = dict(household.callback(household.users[0]))
    with pytest.raises(accounts.SignInError) as info:
        complete(household, tamper(query))  # type: ignore[operator]
    assert info.value.code == code and info.value.message
    assert token_rows(household) == 0


def test_a_state_is_accepted_once_and_a_code_only_once(household: Household) -> None:
    query: dict[str, str | None] = dict(household.callback(household.users[0]))
    complete(household, query)
    with pytest.raises(accounts.SignInError) as info:
        complete(household, query)  # the same callback replayed
    assert info.value.code == "state"
    # The code replayed under a fresh, valid state: Spotify refuses it, nothing new is stored.
    fresh = dict(household.callback(household.users[0]))
    with household.instance.db.read() as conn:
        before = aq.get_token(conn, 1)
    with pytest.raises(accounts.SignInError) as info:
        complete(household, {**fresh, "code": query["code"]})
    assert info.value.code == "code" and "already used" in info.value.message
    with household.instance.db.read() as conn:
        assert aq.get_token(conn, 1) == before


def test_a_state_expires_after_ten_minutes(household: Household) -> None:
    query: dict[str, str | None] = dict(household.callback(household.users[0]))
    household.sleep(601)
    with pytest.raises(accounts.SignInError) as info:
        complete(household, query)
    assert "expired" in info.value.message
    assert token_rows(household) == 0


def test_a_redirect_uri_spotify_would_refuse_is_refused_first(household: Household) -> None:
    bad = dataclasses.replace(household.instance.settings.spotify, redirect_uri="http://localhost:8000/auth/callback")
    household.instance.settings = dataclasses.replace(household.instance.settings, spotify=bad)
    with pytest.raises(accounts.SignInError) as info:
        accounts.begin_sign_in(household.instance, household.now)
    assert "localhost" in info.value.message


# --- who may join ------------------------------------------------------------------------------


def test_the_first_member_owns_the_instance_and_others_need_an_invite(household: Household) -> None:
    owner = household.sign_in(household.users[0])
    assert owner.role == "owner"
    with pytest.raises(accounts.SignInError) as info:
        household.sign_in(household.users[1])
    assert info.value.code == "invite" and token_rows(household) == 1
    # An invite naming the account.
    accounts.create_invite(household.instance, by_member_id=owner.id, now=household.now, spotify_id=household.users[1])
    assert household.sign_in(household.users[1]).role == "member"
    # A single-use link: works once.
    invite = accounts.create_invite(household.instance, by_member_id=owner.id, now=household.now)
    assert invite.code and invite.link and invite.code in invite.link
    household.sign_in(household.users[2], invite_code=invite.code)
    with pytest.raises(accounts.SignInError):
        household.sign_in(household.users[3], invite_code=invite.code)
    # Only the owner invites.
    with pytest.raises(PermissionError):
        accounts.create_invite(household.instance, by_member_id=2, now=household.now)
    assert token_rows(household) == 3


def test_the_development_mode_cap_is_explained_where_it_bites(household: Household) -> None:
    capped = dataclasses.replace(household.instance.settings.spotify, max_members=2)
    household.instance.settings = dataclasses.replace(household.instance.settings, spotify=capped)
    owner = household.sign_in(household.users[0])
    accounts.create_invite(household.instance, by_member_id=owner.id, now=household.now, spotify_id=household.users[1])
    accounts.create_invite(household.instance, by_member_id=owner.id, now=household.now, spotify_id=household.users[2])
    household.sign_in(household.users[1])
    with pytest.raises(accounts.SignInError) as info:
        household.sign_in(household.users[2])
    assert info.value.code == "cap" and "development mode" in info.value.message
    with pytest.raises(ValueError, match="development mode"):
        accounts.create_invite(household.instance, by_member_id=owner.id, now=household.now)
    assert token_rows(household) == 2


def test_an_account_missing_from_the_dashboard_list_is_told_so_and_nothing_is_stored(household: Household) -> None:
    household.control.set_allowlisted(household.users[0], False)
    with pytest.raises(accounts.SignInError) as info:
        household.sign_in(household.users[0])
    assert info.value.code == "allowlist" and "User Management" in info.value.message
    assert token_rows(household) == 0
    with household.instance.db.read() as conn:
        assert mq.count_members(conn) == 0


def test_the_refresh_expiry_is_six_months_after_authorisation(household: Household) -> None:
    signed = household.now()
    household.sign_in(household.users[0])
    (status,) = accounts.member_statuses(household.instance)
    assert status.refresh_expires_at is not None
    assert status.refresh_expires_at.month == (signed.month + 6 - 1) % 12 + 1
    assert status.refresh_expires_at.day == signed.day


# --- consent and deletion ----------------------------------------------------------------------


def test_consent_is_off_until_given_and_revoking_stops_ingestion_at_once(household: Household) -> None:
    member = household.sign_in(household.users[0], consent=False)
    with household.instance.db.read() as conn:
        assert not any(c.granted for c in mq.get_consents(conn, member.id).values())
    (report,) = ingest.sync_all(household.instance, now=household.now, member_ids=[member.id])
    assert report.skipped and report.calls == 0
    accounts.set_consent(household.instance, member.id, "store", True, household.now)
    ingest.sync_member(household.instance, member.id, now=household.now)
    with household.instance.db.read() as conn:
        stored = count_plays(conn, member.id)
    assert stored > 0
    accounts.set_consent(household.instance, member.id, "store", False, household.now)
    household.sleep(6 * 3600)
    report = ingest.sync_member(household.instance, member.id, now=household.now, force=True)
    assert report.calls == 0
    with household.instance.db.read() as conn:
        assert count_plays(conn, member.id) == stored
        assert member.id not in mq.members_with_consent(conn, "train")


def test_delete_my_data_removes_every_row_and_token(household: Household) -> None:
    owner, other = household.join_all(2)
    ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)
    assert accounts.delete_my_data(household.instance, owner.id)
    with household.instance.db.read() as conn:
        assert mq.get_member(conn, owner.id) is None
        assert aq.get_token(conn, owner.id) is None
        assert count_plays(conn, owner.id) == 0
        assert sq.count_saved_tracks(conn, owner.id) == 0
        assert sq.list_cursors(conn, owner.id) == []
        # The household keeps an owner, and the other member's data stays.
        remaining = mq.get_member(conn, other.id)
        assert remaining is not None and remaining.role == "owner"
        assert count_plays(conn, other.id) > 0


# --- tokens: secrecy, single flight, rotation ----------------------------------------------------


def test_no_plaintext_token_in_the_database_or_its_wal(household: Household) -> None:
    member = household.sign_in(household.users[0])
    ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)
    household.sleep(2 * 3600)
    ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)  # a refresh too
    bundle = accounts.StoredTokens(
        household.instance.db, household.instance.secrets.cipher(), member.id, household.now
    ).load()
    assert bundle is not None
    path = Path(str(household.instance.db.engine.url.database))
    blobs = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert path.with_name(path.name + "-wal").exists()
    for secret in (bundle.access_token, bundle.refresh_token):
        assert secret.encode() not in blobs


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Everything logged at DEBUG, through the app's logging set-up (redaction included)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    root = logging.getLogger()
    saved = (root.level, {n: logging.getLogger(n).level for n in ("recs", "spotipy", "urllib3", "requests")})
    setup_logging("DEBUG", handler=handler)
    # Let the chattiest libraries speak too: redaction must hold even then.
    for name in ("spotipy", "urllib3"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)


def test_debug_logs_hold_no_token_code_or_state(household: Household, debug_log: io.StringIO) -> None:
    query = household.callback(household.users[0])
    result = complete(household, dict(query))
    accounts.set_consent(household.instance, result.member.id, "store", True, household.now)
    ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)
    household.sleep(2 * 3600)
    household.control.add_fault("GET", "/v1/me/player/recently-played", 401)
    ingest.sync_all(household.instance, now=household.now, sleep=household.sleep, force=True)
    bundle = accounts.StoredTokens(
        household.instance.db, household.instance.secrets.cipher(), result.member.id, household.now
    ).load()
    assert bundle is not None
    text = debug_log.getvalue()
    assert "recently-played" in text  # the log did capture the traffic
    for secret in (query["code"], query["state"], bundle.access_token, bundle.refresh_token):
        assert secret not in text
    assert any(isinstance(f, RedactingFilter) for h in logging.getLogger().handlers for f in h.filters)


def expire_access_token(household: Household) -> None:
    household.sleep(3600 + 120)


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_ten_threads_needing_a_fresh_token_cause_one_token_request(household: Household, processes: bool) -> None:
    member = household.sign_in(household.users[0])
    expire_access_token(household)
    household.control.clear_requests()
    budget = Budget(household.instance.db, household.instance.settings.budget, household.now)
    shared = RefreshLocks()
    barrier = threading.Barrier(10)
    tokens: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            # Separate lock registries stand for separate processes: only the lease row serialises them.
            locks = RefreshLocks() if processes else shared
            api = accounts.member_client(
                household.instance,
                member.id,
                household.now,
                budget=budget,
                locks=locks,
                wait=lambda s: time.sleep(0.002),
            )
            barrier.wait()
            tokens.append(api.get_access_token())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert len(tokens) == 10 and len(set(tokens)) == 1
    assert len([r for r in household.control.requests() if r["path"] == "/api/token"]) == 1


def test_rotate_key_re_encrypts_every_token_with_the_new_key(household: Household) -> None:
    member = household.sign_in(household.users[0])
    old = household.instance.secrets.token_keys
    new_key = Fernet.generate_key().decode()
    both = TokenCipher((new_key, *old))
    assert accounts.rotate_tokens(household.instance.db, both) == 1
    with household.instance.db.read() as conn:
        row = aq.get_token(conn, member.id)
    assert row is not None
    TokenCipher((new_key,)).decrypt(row.ciphertext)
    with pytest.raises(SecretsError):
        TokenCipher(old).decrypt(row.ciphertext)


def test_the_spotipy_cache_handler_reads_and_writes_the_encrypted_store(household: Household) -> None:
    member = household.sign_in(household.users[0])
    store = accounts.StoredTokens(household.instance.db, household.instance.secrets.cipher(), member.id, household.now)
    handler = MemberCacheHandler(store)
    cached = handler.get_cached_token()
    assert cached is not None and cached["token_type"] == "Bearer" and cached["refresh_token"]
    handler.save_token_to_cache(
        {**cached, "access_token": "fake-access-token-123", "expires_at": cached["expires_at"] + 60}
    )
    assert handler.get_cached_token() == {
        **cached,
        "access_token": "fake-access-token-123",
        "expires_at": cached["expires_at"] + 60,
    }
    with household.instance.db.read() as conn:
        row = aq.get_token(conn, member.id)
    assert row is not None and b"fake-access-token-123" not in row.ciphertext


def test_an_invite_may_name_the_account_id_instead_of_the_user_id(household: Household) -> None:
    owner = household.sign_in(household.users[0])
    account_id = next(m["account_id"] for m in household.control.members() if m["user_id"] == household.users[1])
    accounts.create_invite(household.instance, by_member_id=owner.id, now=household.now, spotify_id=account_id)
    member = household.sign_in(household.users[1])
    assert member.account_id == account_id and member.spotify_id == household.users[1]


def test_a_token_no_key_can_decrypt_fails_that_member_only_with_a_clear_error(household: Household) -> None:
    first, second = household.join_all(2)
    stranger = TokenCipher((Fernet.generate_key().decode(),))
    with household.instance.db.write() as conn:
        aq.set_token_ciphertext(conn, first.id, stranger.encrypt(b"{}"))
    reports = {r.member_id: r for r in ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)}
    assert any("cannot be decrypted" in e for e in reports[first.id].errors)
    assert not reports[second.id].errors and reports[second.id].new_plays > 0


def test_plays_made_while_storing_was_off_are_not_stored_after_it_is_back_on(household: Household) -> None:
    member = household.sign_in(household.users[0])
    ingest.sync_member(household.instance, member.id, now=household.now)
    accounts.set_consent(household.instance, member.id, "store", False, household.now)
    off = household.now()
    household.sleep(6 * 3600)
    track_id = household.control.ground_truth(household.users[0])["plays"][-1]["track_id"]
    at_ms = int(household.now().timestamp() * 1000)
    made = [{"track_id": track_id, "played_at_ms": at_ms - 60_000 * (i + 1), "ms_played": 90_000} for i in range(3)]
    assert household.control.add_plays(household.users[0], made) == 3
    accounts.set_consent(household.instance, member.id, "store", True, household.now)
    on = household.now()
    household.sleep(3600)
    ingest.sync_member(household.instance, member.id, now=household.now, force=True)
    with household.instance.db.read() as conn:
        assert not [at for at, _ in sq.play_keys(conn, member.id) if off <= at < on]
    truth = household.control.ground_truth(household.users[0])["plays"]
    assert any(off.timestamp() * 1000 <= p["played_at_ms"] < on.timestamp() * 1000 for p in truth)
