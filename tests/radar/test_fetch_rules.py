"""Release Radar's fetch rules on a small in-memory discography: window, credits, editions, remasters, compilations."""

from __future__ import annotations

from recs.core.radar import AlbumRef, KnownTracks, ReleasedTrack, find_new_tracks, song_key

A, B = "artistA", "artistB"


class Discography:
    """A ReleasesSource over fixed albums, newest first, pages of two; counts calls."""

    def __init__(self, albums: list[tuple[AlbumRef, list[ReleasedTrack]]]) -> None:
        self.albums = sorted(albums, key=lambda x: x[0].release_date, reverse=True)
        self.calls = 0

    def artist_albums(self, artist_id: str, offset: int) -> tuple[list[AlbumRef], bool]:
        self.calls += 1
        refs = [a for a, _ in self.albums]
        return refs[offset : offset + 2], offset + 2 < len(refs)

    def album_tracks(self, album_id: str) -> list[ReleasedTrack]:
        self.calls += 1
        return next(ts for a, ts in self.albums if a.spotify_id == album_id)


def t(track_id: str, name: str, *artists: str, isrc: str | None = None) -> ReleasedTrack:
    return ReleasedTrack(track_id, name, artists or (A,), isrc)


def test_rules() -> None:
    old = AlbumRef("old", "Night Harbour", "2024-05-01", "album")
    source = Discography(
        [
            (old, [t("o1", "River"), t("o2", "Glass")]),
            (AlbumRef("ancient", "First", "2010-01-01", "album"), [t("x1", "Early")]),
            (AlbumRef("single", "Fever", "2026-11-20", "single"), [t("s1", "Fever")]),
            (AlbumRef("lp", "Bloom", "2026-11-25", "album"), [t("l1", "Fever"), t("l2", "Tide")]),
            (
                AlbumRef("deluxe", "Night Harbour (Deluxe Edition)", "2026-11-26", "album"),
                [t("d1", "River"), t("d2", "Glass"), t("d3", "Bonus Moon")],
            ),
            (
                AlbumRef("remaster", "First (2026 Remaster)", "2026-11-27", "album"),
                [t("r1", "Early - Remastered 2026")],
            ),
            (AlbumRef("comp", "Greatest Hits", "2026-11-28", "compilation"), [t("c1", "Comet")]),
            (
                AlbumRef("feat", "Their Song", "2026-11-29", "appears_on", (B,)),
                [t("f1", "Their Song", B, A), t("f2", "Not Me", B)],
            ),
            (AlbumRef("isrc", "Again", "2026-11-30", "single"), [t("i1", "Other Name", isrc="ISRC1")]),
        ]
    )
    known = KnownTracks(isrcs={"ISRC1"}, songs={song_key(A, "Early")})
    found = find_new_tracks(source, A, "2026-11-15", known)
    assert [n.track.spotify_id for n in found] == ["s1", "l2", "d3", "f1"]
    assert {n.album.group for n in found} == {"single", "album", "appears_on"}
    # 9 albums at 2 a page: 4 pages to reach one older than the window (then it stops), the tracks of
    # the six non-compilation releases in the window, and the original of the deluxe edition
    assert source.calls == 4 + 6 + 1
    # a second run the next week finds nothing new: all of it is known now
    assert find_new_tracks(source, A, "2026-11-15", known) == []
