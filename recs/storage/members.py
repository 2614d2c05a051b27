"""Member queries: members, roles, consents and the intervals each was off, and deleting a member with everything of theirs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.exc import IntegrityError

from recs.core.domain import PURPOSES, Consent, Member, Purpose
from recs.storage.schema import consent_intervals, consents, members


class OwnerTaken(ValueError):
    """The instance already has an owner (another first sign-in got there first)."""


def _member(row: object) -> Member:
    m = row._mapping  # type: ignore[attr-defined]
    return Member(
        id=m["id"],
        spotify_id=m["spotify_id"],
        account_id=m["account_id"],
        display_name=m["display_name"],
        role=m["role"],
        timezone=m["timezone"],
        created_at=m["created_at"],
        reconnect_needed=bool(m["reconnect_needed"]),
        not_allowlisted=bool(m["not_allowlisted"]),
    )


def create_member(
    conn: Connection,
    spotify_id: str,
    display_name: str,
    *,
    account_id: str | None = None,
    role: str = "member",
    timezone: str = "UTC",
    now: datetime | None = None,
) -> Member:
    now = now or datetime.now(UTC)
    if role == "owner" and conn.execute(select(members.c.id).where(members.c.role == "owner")).first():
        raise OwnerTaken("this instance already has an owner")
    try:
        result = conn.execute(
            members.insert().values(
                spotify_id=spotify_id,
                account_id=account_id,
                display_name=display_name,
                role=role,
                timezone=timezone,
                created_at=now,
                reconnect_needed=False,
                not_allowlisted=False,
            )
        )
    except IntegrityError as exc:
        # The caller's transaction is lost either way; name the race so the caller can explain it.
        message = str(exc.orig)
        if role == "owner" and ("uq_members_one_owner" in message or "members.role" in message):
            raise OwnerTaken("this instance already has an owner") from None
        raise
    member_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    for purpose in PURPOSES:
        conn.execute(consents.insert().values(member_id=member_id, purpose=purpose, granted=False, updated_at=now))
    member = get_member(conn, member_id)
    assert member is not None
    return member


def get_member(conn: Connection, member_id: int) -> Member | None:
    row = conn.execute(select(members).where(members.c.id == member_id)).first()
    return _member(row) if row else None


def get_member_by_spotify_id(conn: Connection, spotify_id: str) -> Member | None:
    row = conn.execute(select(members).where(members.c.spotify_id == spotify_id)).first()
    return _member(row) if row else None


def list_members(conn: Connection) -> list[Member]:
    return [_member(r) for r in conn.execute(select(members).order_by(members.c.id))]


def count_members(conn: Connection) -> int:
    return len(conn.execute(select(members.c.id)).all())


def update_member(conn: Connection, member_id: int, **values: object) -> None:
    allowed = {
        "display_name",
        "account_id",
        "timezone",
        "role",
        "reconnect_needed",
        "not_allowlisted",
        "open_data",
    }
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"cannot update member fields: {', '.join(sorted(unknown))}")
    conn.execute(update(members).where(members.c.id == member_id).values(**values))


def delete_member(conn: Connection, member_id: int) -> bool:
    """Delete a member; foreign keys cascade to every row of theirs. Returns whether they existed."""
    result = conn.execute(delete(members).where(members.c.id == member_id))
    return result.rowcount > 0


def get_consents(conn: Connection, member_id: int) -> dict[Purpose, Consent]:
    rows = conn.execute(select(consents).where(consents.c.member_id == member_id)).all()
    out: dict[Purpose, Consent] = {
        p: Consent(purpose=p, granted=False, granted_at=None, revoked_at=None) for p in PURPOSES
    }
    for r in rows:
        m = r._mapping
        out[m["purpose"]] = Consent(
            purpose=m["purpose"],
            granted=bool(m["granted"]),
            granted_at=m["granted_at"],
            revoked_at=m["revoked_at"],
        )
    return out


def set_consent(conn: Connection, member_id: int, purpose: Purpose, granted: bool, now: datetime | None = None) -> None:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown consent purpose {purpose!r}")
    now = now or datetime.now(UTC)
    was = conn.execute(
        select(consents.c.granted).where(consents.c.member_id == member_id, consents.c.purpose == purpose)
    ).scalar_one_or_none()
    if granted:
        conn.execute(
            update(consent_intervals)
            .where(
                consent_intervals.c.member_id == member_id,
                consent_intervals.c.purpose == purpose,
                consent_intervals.c.off_until.is_(None),
            )
            .values(off_until=now)
        )
    elif was:
        # Switched off after being granted: an interval opens (never granted is not an interval, or
        # an export's history from before joining could not be imported).
        conn.execute(consent_intervals.insert().values(member_id=member_id, purpose=purpose, off_from=now))
    values: dict[str, object] = {"granted": granted, "updated_at": now}
    if granted:
        values["granted_at"] = now
        values["revoked_at"] = None
    else:
        values["revoked_at"] = now
    updated = conn.execute(
        update(consents).where(consents.c.member_id == member_id, consents.c.purpose == purpose).values(**values)
    )
    if updated.rowcount == 0:
        conn.execute(consents.insert().values(member_id=member_id, purpose=purpose, **values))


def members_with_consent(conn: Connection, purpose: Purpose) -> list[int]:
    stmt = (
        select(consents.c.member_id)
        .where(consents.c.purpose == purpose, consents.c.granted.is_(True))
        .order_by(consents.c.member_id)
    )
    return [r[0] for r in conn.execute(stmt)]


OffInterval = tuple[datetime, datetime | None]


def off_intervals(conn: Connection, member_id: int, purpose: Purpose = "store") -> list[OffInterval]:
    """Every (off_from, off_until) in which the member had *purpose* switched off; off_until None: still off."""
    rows = conn.execute(
        select(consent_intervals.c.off_from, consent_intervals.c.off_until)
        .where(consent_intervals.c.member_id == member_id, consent_intervals.c.purpose == purpose)
        .order_by(consent_intervals.c.off_from)
    )
    return [(r[0], r[1]) for r in rows]


def may_store(intervals: Sequence[OffInterval], at: datetime) -> bool:
    """Whether a play (or stream) at *at* may be kept, given the member's 'store' *intervals*.

    Not while storing is off (an open interval: nothing at all is written, however old), and never
    when *at* falls in an interval that is over (from inclusive, until exclusive).
    """
    return all(end is not None and not start <= at < end for start, end in intervals)


def open_data_members(conn: Connection, member_ids: Sequence[int]) -> set[int]:
    """Those of *member_ids* who take recommendations from open listening data (the default)."""
    ids = sorted(set(member_ids))
    out: set[int] = set()
    for start in range(0, len(ids), 500):
        stmt = select(members.c.id).where(members.c.id.in_(ids[start : start + 500]), members.c.open_data.is_(True))
        out.update(int(r[0]) for r in conn.execute(stmt))
    return out
