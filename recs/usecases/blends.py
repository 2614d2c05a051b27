"""The household Blend, weekly: mix it from what training stored, keep it, and write each participant's own copy.

Training stores each Blend member's favourites and how much each is likely to enjoy them (recs.core.household_blend);
`make_blend` mixes this week's Blend for the members who take part now (Blend and training consent, and
favourites in the current run), with every participant's vetoes, and stores it; `write_copies` writes the same
tracks to each participant's Spotify, in place; `run_job` does both (the worker's weekly "blend" job and
`recs blend`). No model is loaded here: the dashboard reads the stored Blend with `blend_view`.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from recs import storage
from recs.core import household_blend as hb
from recs.core.domain import BlendTrack, StoredBlend, TrackRow
from recs.storage import Database
from recs.usecases.instance import Instance
from recs.usecases.playlists import (
    PlaylistPort,
    PortFactory,
    PublishResult,
    content_hash,
    default_port,
    marked_playlist,
    playlist_mark,
    write_items,
)

log = logging.getLogger(__name__)

KIND = "blend"
NAME = "recs · Blend"


def participants_now(db: Database) -> list[int]:
    """Members who take part in the Blend now: they agreed to it and to the household model it is made with."""
    with db.read() as conn:
        blend = set(storage.members.members_with_consent(conn, "blend"))
        train = set(storage.members.members_with_consent(conn, "train"))
    return sorted(blend & train)


@dataclass
class BlendOutcome:
    """What one round of the Blend did."""

    status: str  # 'made', 'too-few' (fewer than two participants: none made), 'no-run' (no training yet)
    blend_id: int | None = None
    participants: list[int] = field(default_factory=list)
    uris: list[str] = field(default_factory=list)
    copies: list[PublishResult] = field(default_factory=list)


def make_blend(instance: Instance, now: datetime) -> BlendOutcome:
    """Mix and store this week's Blend from the current run (see the module docstring); nothing is written to Spotify."""
    settings = instance.settings
    consenting = participants_now(instance.db)
    with instance.db.read() as conn:
        run_id = storage.publishing.current_run_id(conn)
        if run_id is None:
            return BlendOutcome("no-run")
        favs = storage.blends.run_favourites(conn, run_id, consenting)
        participants = [m for m in consenting if favs.get(m)]
        enjoyment = storage.blends.run_enjoyment(conn, run_id, participants)
        filters = [storage.feedback.member_filters(conn, m, now.date()) for m in participants]
        tracks = {t for m in participants for t in favs[m]}
        artists = storage.training.track_artist_sets(conn, tracks)
        spotify = storage.blends.spotify_ids(conn, tracks)
        rejected = storage.publishing.rejected_track_ids(conn)
    picks: list[hb.BlendPick] = []
    if len(participants) >= hb.MIN_PARTICIPANTS:
        picks = hb.mix(
            hb.turn_order(participants, now),
            {m: favs[m] for m in participants},
            enjoyment,
            filters,
            artists,
            size=settings.publish.blend_size,
            cap=settings.recommend.artist_cap,
            # A track Spotify has no id for, or refused before, cannot go on a playlist.
            exclude=frozenset(t for t in tracks if not spotify.get(t)) | frozenset(rejected),
        )
    if len(participants) < hb.MIN_PARTICIPANTS or not picks:
        # Nobody's name or taste is kept for a Blend that is not made.
        with instance.db.write() as conn:
            blend_id = storage.blends.save_blend(conn, now, run_id, [], [], [])
        return BlendOutcome("too-few", blend_id)
    matches = [
        (a, b, v)
        for a, b in itertools.combinations(sorted(participants), 2)
        if (v := hb.taste_match(a, b, favs, enjoyment)) is not None
    ]
    rows = [BlendTrack(i, p.track_id, p.member_id, p.shared_with) for i, p in enumerate(picks, start=1)]
    with instance.db.write() as conn:
        blend_id = storage.blends.save_blend(conn, now, run_id, participants, rows, matches)
    uris = [f"spotify:track:{spotify[p.track_id]}" for p in picks]
    return BlendOutcome("made", blend_id, list(participants), uris)


def description_for(participants: int, now: datetime, mark: str) -> str:
    return (
        f"The household Blend made by recs: favourites of {participants} members who opted in, in equal shares. "
        f"Written {now:%Y-%m-%d %H:%M} UTC. [{mark}]"
    )


def write_copy(
    instance: Instance, member_id: int, uris: list[str], participants: int, port: PlaylistPort, now: datetime
) -> PublishResult:
    """Make the member's own Blend playlist hold *uris*: created once, then replaced in place; unchanged is not rewritten.

    As for the recommendation playlists: the id is stored as soon as it exists, the description carries this
    instance's mark (a create whose answer was lost is adopted), and a write cut short is redone.
    """
    result = PublishResult(member_id, KIND, "written", uris=list(uris))
    with instance.db.read() as conn:
        state = storage.publishing.get_playlist_state(conn, member_id, KIND)
        run_id = storage.publishing.current_run_id(conn)
    with instance.db.write() as conn:
        mark = playlist_mark(storage.publishing.instance_tag(conn, secrets.token_hex(4), now), member_id, KIND)
    owned = port.owned_playlists()
    playlist_id = state.spotify_playlist_id if state.spotify_playlist_id in owned else None
    digest = content_hash(uris)
    if playlist_id is not None and digest == state.content_hash and state.pending_hash is None:
        with instance.db.write() as conn:
            storage.publishing.save_playlist_state(conn, member_id, KIND, written_at=now)
        result.status, result.playlist_id = "unchanged", playlist_id
        return result
    description = description_for(participants, now, mark)
    if playlist_id is None and (adopted := marked_playlist(owned, mark)) is not None:
        playlist_id = adopted
    if playlist_id is None:
        playlist_id = port.create(NAME, description, instance.settings.publish.public)
        result.status = "created"
    else:
        port.describe(playlist_id, description)
    with instance.db.write() as conn:
        storage.publishing.save_playlist_state(
            conn, member_id, KIND, spotify_playlist_id=playlist_id, content_hash=None, pending_hash=digest
        )
    dropped = write_items(port, playlist_id, uris)
    written = [u for u in uris if u not in dropped]
    with instance.db.write() as conn:
        for reason in set(dropped.values()):
            ids = [u.rsplit(":", 1)[-1] for u, r in dropped.items() if r == reason]
            storage.publishing.record_rejected(conn, ids, member_id, KIND, reason, now)
        storage.publishing.save_playlist_state(
            conn,
            member_id,
            KIND,
            spotify_playlist_id=playlist_id,
            run_id=run_id,
            content_hash=content_hash(written),
            track_uris=written,
            written_at=now,
            pending_hash=None,
        )
        storage.publishing.log_publish(conn, member_id, KIND, run_id, playlist_id, now, written)
    if dropped:
        result.note = f"Spotify refused {len(dropped)} track(s)"
        result.dropped = dropped
    result.uris, result.playlist_id = written, playlist_id
    return result


def write_copies(
    instance: Instance,
    outcome: BlendOutcome,
    now: datetime,
    *,
    port_factory: PortFactory = default_port,
    clock: Callable[[], datetime] | None = None,
) -> list[PublishResult]:
    """Each participant's copy of the Blend (the same tracks); with no Blend made, the copies of members still
    opted in are emptied, so no one's copy keeps the tracks of someone who left. A leaver's account is never touched."""
    if outcome.status == "made":
        targets, uris = outcome.participants, outcome.uris
    elif outcome.status == "too-few":
        consenting = participants_now(instance.db)
        with instance.db.read() as conn:
            states = {m: storage.publishing.get_playlist_state(conn, m, KIND) for m in consenting}
        targets, uris = (
            [m for m, s in states.items() if s.spotify_playlist_id and s.content_hash != content_hash([])],
            [],
        )
    else:
        return []
    results: list[PublishResult] = []
    for member_id in targets:
        with instance.db.read() as conn:
            member = storage.members.get_member(conn, member_id)
        if member is None:
            continue
        if member.reconnect_needed:
            results.append(PublishResult(member_id, KIND, "skipped", note="Spotify authorisation expired: reconnect"))
            continue
        try:
            port = port_factory(instance, member_id, clock or (lambda: now))
            before = port.calls
            r = write_copy(instance, member_id, uris, len(outcome.participants), port, now)
            r.calls = port.calls - before
        except Exception as exc:  # one member's failure must not stop the others' copies
            log.warning("writing member %s's Blend failed: %s", member_id, exc)
            r = PublishResult(member_id, KIND, "failed", note=str(exc))
        results.append(r)
    return results


def run_job(
    instance: Instance, _member_id: int | None, now: datetime, port_factory: PortFactory = default_port
) -> dict[str, Any]:
    """The weekly Blend: make it, then write every participant's copy; raises when a copy failed (after all the others)."""
    outcome = make_blend(instance, now)
    outcome.copies = write_copies(instance, outcome, now, port_factory=port_factory)
    failed = [f"member {r.member_id}: {r.note}" for r in outcome.copies if r.status == "failed"]
    summary: dict[str, Any] = {
        "status": outcome.status,
        "participants": len(outcome.participants),
        "tracks": len(outcome.uris),
        "written": sum(1 for r in outcome.copies if r.status in ("written", "created")),
        "calls": sum(r.calls for r in outcome.copies),
    }
    if failed:
        raise RuntimeError("; ".join(failed))
    return summary


# ---- what the dashboard shows ----------------------------------------------------------------------


@dataclass(frozen=True)
class BlendLine:
    """One track of the Blend as the page shows it."""

    position: int
    track: TrackRow
    member_id: int
    shared_with: tuple[int, ...]


@dataclass(frozen=True)
class BlendView:
    """The latest Blend for one viewer; `reason` says why there is none to show ("" when there is)."""

    reason: str  # '', 'not-participant', 'none-yet', 'too-few'
    made_at: datetime | None = None
    names: dict[int, str] = field(default_factory=dict)  # participant -> display name
    shares: dict[int, int] = field(default_factory=dict)
    lines: tuple[BlendLine, ...] = ()
    matches: tuple[tuple[int, int, float], ...] = ()
    consenting: int = 0  # members who take part from the next Blend on


def blend_view(instance: Instance, db: Database, viewer_id: int) -> BlendView:
    """What the Blend page shows *viewer_id*: the latest Blend only when they are one of its participants
    and still take part (a non-participant sees nothing of it: no names, tracks or counts)."""
    with db.read() as conn:
        blend = storage.blends.latest_blend(conn)
    now_in = set(participants_now(db))
    if viewer_id not in now_in:
        return BlendView("not-participant")
    consenting = len(now_in)
    if blend is None:
        return BlendView("none-yet", consenting=consenting)
    if len(blend.shares) < hb.MIN_PARTICIPANTS:
        return BlendView("too-few", made_at=blend.made_at, consenting=consenting)
    if viewer_id not in blend.shares:
        # Joined since it was made: they see it from the next one, in which they take part.
        return BlendView("none-yet", consenting=consenting)
    return _view(db, blend, now_in)


def _view(db: Database, blend: StoredBlend, now_in: set[int]) -> BlendView:
    """The Blend with only what members who still take part agreed to share: one who left since is not shown."""
    with db.read() as conn:
        names = {m: storage.members.get_member(conn, m) for m in blend.shares if m in now_in}
        tracks = storage.catalog.get_tracks(conn, [t.track_id for t in blend.tracks if t.member_id in now_in])
    shown = {m: member.display_name for m, member in names.items() if member is not None}
    lines = tuple(
        BlendLine(t.position, tracks[t.track_id], t.member_id, tuple(x for x in t.shared_with if x in shown))
        for t in blend.tracks
        if t.track_id in tracks and t.member_id in shown
    )
    return BlendView(
        "",
        made_at=blend.made_at,
        names=shown,
        shares={m: n for m, n in blend.shares.items() if m in shown},
        lines=lines,
        matches=tuple((a, b, v) for a, b, v in blend.matches if a in shown and b in shown),
        consenting=len(now_in),
    )
