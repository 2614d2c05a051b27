"""Positive feedback on a card: "More like this" (stored, undone, weighed by training) and the way back to the card."""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from flask.testing import FlaskClient
from web_helpers import NOW, Household, post

from recs.core.interactions import Signals, Weighting, build_interactions
from recs.storage import Database
from recs.storage import schema as s
from recs.storage.training import read_signals


def _liked(db: Database, member_id: int) -> list[int]:
    with db.read() as conn:
        return sorted(
            conn.execute(sa.select(s.liked_tracks.c.track_id).where(s.liked_tracks.c.member_id == member_id)).scalars()
        )


def test_more_like_this_is_stored_shown_pressed_and_undone(
    owner_client: FlaskClient, db: Database, household: Household
) -> None:
    track = household.owner_tracks[7]
    response = post(owner_client, "/recommendations/like", {"track_id": track, "at": track}, page="/recommendations")
    # Back at the card it was asked on, not the top of the page.
    assert response.headers["Location"].endswith(f"/recommendations?mode=discover#rec-{track}")  # type: ignore[attr-defined]
    assert _liked(db, household.owner) == [track]
    page = owner_client.get("/recommendations").get_data(as_text=True)
    assert "your next list leans towards songs like this one" in page
    card = page.split(f'id="rec-{track}"')[1].split("</li>")[0]
    assert 'aria-pressed="true"' in card and 'name="undo" value="yes"' in card
    post(owner_client, "/recommendations/like", {"track_id": track}, page="/recommendations")
    assert _liked(db, household.owner) == [track]  # twice is once
    post(owner_client, "/recommendations/like", {"track_id": track, "undo": "yes"}, page="/recommendations")
    assert _liked(db, household.owner) == []
    page = owner_client.get("/recommendations").get_data(as_text=True)
    assert 'aria-pressed="true"' not in page.split(f'id="rec-{track}"')[1].split("</li>")[0]


def test_another_members_track_cannot_be_liked(owner_client: FlaskClient, db: Database, household: Household) -> None:
    response = post(
        owner_client, "/recommendations/like", {"track_id": household.member_tracks[0]}, page="/recommendations"
    )
    assert response.status_code == 404  # type: ignore[attr-defined]
    assert _liked(db, household.owner) == []


def test_not_for_me_returns_to_the_next_card(owner_client: FlaskClient, household: Household) -> None:
    hidden, following = household.owner_tracks[7], household.owner_tracks[8]
    page = owner_client.get("/recommendations").get_data(as_text=True)
    form = page.split(f'id="rec-{hidden}"')[1].split("</li>")[0].split('action="/recommendations/hide"')[1]
    assert f'name="at" value="{following}"' in form
    response = post(
        owner_client, "/recommendations/hide", {"track_id": hidden, "at": following}, page="/recommendations"
    )
    assert response.headers["Location"].endswith(f"#rec-{following}")  # type: ignore[attr-defined]


def test_training_reads_a_like_at_its_weight(owner_client: FlaskClient, db: Database, household: Household) -> None:
    track = household.owner_tracks[7]
    post(owner_client, "/recommendations/like", {"track_id": track}, page="/recommendations")
    with db.read() as conn:
        signals = read_signals(conn, [household.owner, household.member], "both", NOW.date())
    assert list(zip(signals.liked_member.tolist(), signals.liked_track.tolist(), strict=True)) == [
        (household.owner, track)
    ]
    weighting = Weighting(sessions=False, playlists=False)
    inter = build_interactions(signals, weighting, NOW.timestamp(), [household.owner, household.member])
    cell = inter.matrix[inter.row_of(household.owner), inter.items.index_of(track)]
    assert cell == np.float32(weighting.liked_weight) == np.float32(2.0)  # never played: the like alone
    # Without the like the track is not in the owner's row at all.
    bare = Signals(
        **{**signals.__dict__, "liked_member": signals.liked_member[:0], "liked_track": signals.liked_track[:0]}
    )
    without = build_interactions(bare, weighting, NOW.timestamp(), [household.owner, household.member])
    index = without.items.index_of(track)
    assert index < 0 or without.matrix[without.row_of(household.owner), index] == 0
