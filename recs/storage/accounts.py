"""Account queries: encrypted token rows with their refresh lease, OAuth sign-in states, and invites."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, and_, delete, or_, select, update

from recs.core.domain import InviteRow, StateRow, TokenRow
from recs.storage.leases import give_back_lease, take_lease
from recs.storage.schema import invites, members, oauth_states, tokens


def _token_row(row: object) -> TokenRow:
    m = row._mapping  # type: ignore[attr-defined]
    return TokenRow(
        member_id=m["member_id"],
        ciphertext=bytes(m["ciphertext"]),
        scope=m["scope"],
        access_expires_at=m["access_expires_at"],
        refresh_expires_at=m["refresh_expires_at"],
        authorised_at=m["authorised_at"],
        updated_at=m["updated_at"],
    )


def get_token(conn: Connection, member_id: int) -> TokenRow | None:
    row = conn.execute(select(tokens).where(tokens.c.member_id == member_id)).first()
    return _token_row(row) if row else None


def list_tokens(conn: Connection) -> list[TokenRow]:
    return [_token_row(r) for r in conn.execute(select(tokens).order_by(tokens.c.member_id))]


def put_token(
    conn: Connection,
    member_id: int,
    ciphertext: bytes,
    *,
    scope: str,
    access_expires_at: datetime,
    now: datetime,
    authorised_at: datetime | None = None,
    refresh_expires_at: datetime | None = None,
) -> None:
    """Store a member's token bundle. With *authorised_at*, a new sign-in (the refresh expiry restarts)."""
    values: dict[str, object] = {
        "ciphertext": ciphertext,
        "scope": scope,
        "access_expires_at": access_expires_at,
        "updated_at": now,
    }
    if authorised_at is not None:
        values["authorised_at"] = authorised_at
        values["refresh_expires_at"] = refresh_expires_at
        values["refresh_lease_owner"] = None
        values["refresh_lease_until"] = None
    updated = conn.execute(update(tokens).where(tokens.c.member_id == member_id).values(**values))
    if updated.rowcount == 0:
        if authorised_at is None:
            raise LookupError(f"member {member_id} has no stored token to update")
        conn.execute(tokens.insert().values(member_id=member_id, **values))


def set_token_ciphertext(conn: Connection, member_id: int, ciphertext: bytes) -> None:
    """Key rotation: the same bundle under a new key; nothing else changes."""
    conn.execute(update(tokens).where(tokens.c.member_id == member_id).values(ciphertext=ciphertext))


def acquire_refresh_lease(conn: Connection, member_id: int, owner: str, until: datetime, now: datetime) -> bool:
    """Take the member's refresh lease if it is free, expired or already ours. Atomic in one UPDATE."""
    return take_lease(
        conn,
        tokens,
        tokens.c.member_id == member_id,
        tokens.c.refresh_lease_owner,
        tokens.c.refresh_lease_until,
        owner=owner,
        until=until,
        now=now,
    )


def release_refresh_lease(conn: Connection, member_id: int, owner: str) -> None:
    give_back_lease(
        conn, tokens, tokens.c.member_id == member_id, tokens.c.refresh_lease_owner, tokens.c.refresh_lease_until, owner
    )


def delete_token(conn: Connection, member_id: int) -> None:
    conn.execute(delete(tokens).where(tokens.c.member_id == member_id))


# --- OAuth states -----------------------------------------------------------------------------


def add_state(
    conn: Connection, state_hash: str, verifier_ciphertext: bytes, now: datetime, invite_code_hash: str | None
) -> None:
    conn.execute(
        oauth_states.insert().values(
            state_hash=state_hash,
            verifier_ciphertext=verifier_ciphertext,
            created_at=now,
            invite_code_hash=invite_code_hash,
            used_at=None,
        )
    )


def states_since(conn: Connection, since: datetime) -> list[StateRow]:
    """Unused states created after *since* (the caller compares hashes in constant time)."""
    rows = conn.execute(
        select(oauth_states).where(oauth_states.c.created_at >= since, oauth_states.c.used_at.is_(None))
    ).all()
    return [
        StateRow(
            state_hash=r.state_hash,
            verifier_ciphertext=bytes(r.verifier_ciphertext),
            created_at=r.created_at,
            invite_code_hash=r.invite_code_hash,
            used_at=r.used_at,
        )
        for r in rows
    ]


def use_state(conn: Connection, state_hash: str, now: datetime) -> bool:
    """Mark a state used; False when it was already used (a replay that lost the race)."""
    result = conn.execute(
        update(oauth_states)
        .where(oauth_states.c.state_hash == state_hash, oauth_states.c.used_at.is_(None))
        .values(used_at=now)
    )
    return result.rowcount == 1


def prune_states(conn: Connection, before: datetime) -> int:
    result = conn.execute(delete(oauth_states).where(oauth_states.c.created_at < before))
    return int(result.rowcount)


# --- invites ----------------------------------------------------------------------------------


def _invite(r: object) -> InviteRow:
    m = r._mapping  # type: ignore[attr-defined]
    return InviteRow(
        id=m["id"],
        code_hash=m["code_hash"],
        spotify_id=m["spotify_id"],
        created_by=m["created_by"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        used_by=m["used_by"],
        used_at=m["used_at"],
    )


def add_invite(
    conn: Connection,
    *,
    code_hash: str | None,
    spotify_id: str | None,
    created_by: int | None,
    now: datetime,
    expires_at: datetime | None,
) -> int:
    result = conn.execute(
        invites.insert().values(
            code_hash=code_hash,
            spotify_id=spotify_id,
            created_by=created_by,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def open_invites(conn: Connection, now: datetime) -> list[InviteRow]:
    rows = conn.execute(
        select(invites)
        .where(invites.c.used_at.is_(None), or_(invites.c.expires_at.is_(None), invites.c.expires_at > now))
        .order_by(invites.c.id)
    ).all()
    return [_invite(r) for r in rows]


def use_invite(conn: Connection, invite_id: int, member_id: int, now: datetime) -> bool:
    """Spend a single-use invite; False when someone spent it first."""
    result = conn.execute(
        update(invites)
        .where(and_(invites.c.id == invite_id, invites.c.used_at.is_(None)))
        .values(used_by=member_id, used_at=now)
    )
    return result.rowcount == 1


def member_ids(conn: Connection) -> list[int]:
    return [r[0] for r in conn.execute(select(members.c.id).order_by(members.c.id))]


def rotate_state_verifiers(conn: Connection, rotate: Callable[[bytes], bytes]) -> int:
    rows = conn.execute(select(oauth_states.c.state_hash, oauth_states.c.verifier_ciphertext)).all()
    for state_hash, ciphertext in rows:
        conn.execute(
            update(oauth_states)
            .where(oauth_states.c.state_hash == state_hash)
            .values(verifier_ciphertext=rotate(bytes(ciphertext)))
        )
    return len(rows)
