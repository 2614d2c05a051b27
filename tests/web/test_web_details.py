"""Details a person or the owner relies on: gaps and how to fill them, reconnect notices, the budget, labels, `recs serve`."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from html.parser import HTMLParser
from importlib.metadata import entry_points

import pytest
from flask.testing import FlaskClient
from web_helpers import NOW, Household, csrf_token, sign_in

from recs.storage import Database
from recs.storage import schema as s
from recs.storage.members import update_member
from recs.usecases.instance import Instance
from web import create_app
from web import imports as web_imports


def test_the_hole_between_the_export_and_live_collection_is_a_gap_and_counts_match(
    client: FlaskClient, db: Database, household: Household
) -> None:
    from recs.core.domain import PlayRow
    from recs.storage.listening import insert_plays

    # The member's export ends five months ago (50 plays); live collection brought two plays today.
    with db.write() as conn:
        conn.execute(s.plays.delete().where(s.plays.c.member_id == household.member))
        old = [PlayRow(NOW - timedelta(days=150 + d), household.member_tracks[d % 10], "export") for d in range(50)]
        insert_plays(conn, household.member, old)
        insert_plays(
            conn,
            household.member,
            [PlayRow(NOW - timedelta(hours=h), household.member_tracks[h], "api") for h in (1, 2)],
        )
        conn.execute(
            s.sync_cursors.insert().values(
                member_id=household.member, stream="recently_played", last_success_at=NOW - timedelta(minutes=5)
            )
        )
    sign_in(client, household.member)
    html = client.get("/import").get_data(as_text=True)
    assert "No gaps found" not in html
    assert "Between the end of your export and the start of live collection, nothing is stored" in html
    text = re.sub(r"<[^>]+>", "", html)
    assert "as you listen: 2 plays, 18 Nov 2026 to 18 Nov 2026" in text
    assert "From your data exports: 50 plays, 03 May 2026 to 21 Jun 2026" in text
    assert "nothing is stored: 21 Jun 2026 → 18 Nov 2026" in text
    # Live polling that found only plays already exported says so, not "nothing yet".
    with db.write() as conn:
        conn.execute(s.plays.delete().where(s.plays.c.member_id == household.member, s.plays.c.source == "api"))
    html = client.get("/import").get_data(as_text=True)
    assert "every play found so far was already in your export" in html and "nothing yet" not in html


def test_import_page_lists_gaps_and_how_to_fill_them(client: FlaskClient, db: Database, household: Household) -> None:
    with db.write() as conn:
        conn.execute(
            s.sync_gaps.insert().values(
                member_id=household.member,
                gap_start=NOW - timedelta(days=3, hours=2),
                gap_end=NOW - timedelta(days=3),
                detected_at=NOW - timedelta(days=2),
            )
        )
    sign_in(client, household.member)
    html = client.get("/import").get_data(as_text=True)
    assert "Gaps" in html and "Extended streaming history" in html
    assert "15 Nov 2026 10:00 UTC" in html  # the member lives in UTC
    assert "member-secret-export.zip" in html  # the member's own past import is listed
    report = client.get(f"/import/{household.member_import}").get_data(as_text=True)
    assert "50</span> plays added" in report


def test_reconnect_and_allowlist_notices(client: FlaskClient, db: Database, household: Household) -> None:
    sign_in(client, household.member)
    with db.write() as conn:
        update_member(conn, household.member, reconnect_needed=True)
    html = client.get("/listening").get_data(as_text=True)
    assert "Reconnect Spotify" in html and "/signin?reconnect=1" in html
    assert "Reconnect with Spotify" in client.get("/signin?reconnect=1").get_data(as_text=True)
    with db.write() as conn:
        update_member(conn, household.member, reconnect_needed=False, not_allowlisted=True)
    assert "development mode allows five people" in client.get("/settings").get_data(as_text=True)


def test_settings_show_when_the_authorisation_expires(client: FlaskClient, db: Database, household: Household) -> None:
    with db.write() as conn:
        conn.execute(
            s.tokens.insert().values(
                member_id=household.member,
                ciphertext=b"x",
                scope="",
                authorised_at=NOW - timedelta(days=30),
                refresh_expires_at=NOW + timedelta(days=152),
                updated_at=NOW,
            )
        )
    sign_in(client, household.member)
    html = client.get("/settings").get_data(as_text=True)
    assert "Spotify ends that permission on <strong><time" in html and "19 Apr 2027" in html


def test_admin_shows_the_budget_and_a_quota_pause(owner_client: FlaskClient, db: Database) -> None:
    with db.write() as conn:
        for minutes in (10, 20, 60 * 30):  # the last one is outside the 24 h window
            conn.execute(
                s.api_calls.insert().values(
                    at=NOW - timedelta(minutes=minutes), purpose="sync", method="GET", endpoint="/me", status=200
                )
            )
        conn.execute(
            s.instance_state.insert().values(
                key="api_pause",
                value={"until": (NOW + timedelta(hours=13)).isoformat(), "reason": "QUOTA_EXCEEDED"},
                updated_at=NOW,
            )
        )
    html = owner_client.get("/admin").get_data(as_text=True)
    assert "<strong>2</strong> of 800 calls" in html
    assert "paused until" in html and "19 Nov 2026 02:00 CET" in html and "QUOTA_EXCEEDED" in html


def test_too_large_an_upload_gets_a_friendly_413(instance: Instance, household: Household) -> None:
    app = create_app(overrides={"RECS_INSTANCE": instance, "TESTING": True, "MAX_CONTENT_LENGTH": 1024})
    client = app.test_client()
    sign_in(client, household.member)
    token = csrf_token(client, "/import")
    response = client.post(
        "/import",
        data={"csrf_token": token, "export": (io.BytesIO(b"x" * 4096), "big.zip")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert "That file is too large" in response.get_data(as_text=True)


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.labelled: set[str] = set()
        self.controls: list[tuple[str, str | None]] = []
        self.titles: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "label" and a.get("for"):
            self.labelled.add(str(a["for"]))
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.controls.append((tag, a.get("id")))
        self._in_title = tag == "title"

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.titles.append(data)
            self._in_title = False


def test_every_form_control_has_a_label_and_every_page_a_title(owner_client: FlaskClient) -> None:
    for page in ["/listening", "/recommendations", "/import", "/settings", "/admin", "/consent"]:
        parser = _Form()
        parser.feed(owner_client.get(page).get_data(as_text=True))
        unlabelled = [c for c in parser.controls if c[1] is None or c[1] not in parser.labelled]
        assert not unlabelled, f"{page}: controls without a label: {unlabelled}"
        assert parser.titles and parser.titles[0].endswith("· recs"), page


def test_recs_serve_is_registered_as_an_entry_point() -> None:
    (ep,) = [e for e in entry_points(group="recs.commands") if e.name == "serve"]
    assert ep.value == "web.commands:serve"
    command = ep.load()
    assert command.name == "serve"
    assert {p.name for p in command.params} >= {"host", "port", "threads"}


@pytest.mark.slow  # several seconds of real processes or training: CI runs it, `pytest` alone does not
def test_the_web_process_never_loads_the_model_libraries() -> None:
    """The dashboard reads what training stored; importing it must not pull in implicit or the scheduler."""
    import subprocess
    import sys

    code = (
        "import sys, web, web.auth, web.admin, web.account, web.imports, web.listening, web.recommendations; "
        "print(sorted(m for m in ('implicit', 'threadpoolctl', 'apscheduler') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_a_page_reads_through_one_connection(owner_client: FlaskClient, db: Database) -> None:
    """A GET page takes one connection from the pool for all its reads (each checkout runs the pragmas' checks)."""
    import sqlalchemy as sa

    opened: list[object] = []

    def count(*_args: object) -> None:
        opened.append(1)

    sa.event.listen(db.engine, "checkout", count)
    try:
        for page in ["/listening", "/recommendations", "/import", "/settings", "/admin"]:
            opened.clear()
            assert owner_client.get(page).status_code == 200
            assert len(opened) == 1, f"{page} took {len(opened)} connections"
    finally:
        sa.event.remove(db.engine, "checkout", count)


def test_the_shared_read_connection_refuses_writes(app: object, household: Household) -> None:
    import pytest

    from web import instance_of

    reads = instance_of(app).db.shared_reads()  # type: ignore[arg-type]
    try:
        with pytest.raises(RuntimeError, match="must not write"), reads.write():
            pass
        with reads.read() as first, reads.read() as second:
            assert first is second
    finally:
        reads.release()


def test_after_sign_in_only_local_paths_are_followed(app: object) -> None:
    from web.auth import _safe_next

    with app.test_request_context():  # type: ignore[attr-defined]
        assert _safe_next("/recommendations?mode=rediscover") == "/recommendations?mode=rediscover"
        for hostile in ("//evil.example/x", "https://evil.example", "/\\evil.example", "", None):
            assert _safe_next(hostile) == "/listening"


def test_the_import_page_keeps_history_spans_until_plays_change(
    db: Database, household: Household, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recs.core.domain import PlayRow
    from recs.storage import stats as q
    from recs.storage.listening import insert_plays
    from recs.usecases.stats import CoverageCache, history_coverage

    cache = CoverageCache()
    first = cache.coverage(db, household.member)
    assert first == history_coverage(db, household.member)
    read_spans = q.play_spans_by_source

    def refuse(*_args: object) -> object:
        raise AssertionError("the spans were read again although no play changed")

    monkeypatch.setattr(q, "play_spans_by_source", refuse)
    assert cache.coverage(db, household.member) == first
    later = NOW + timedelta(days=1)
    with db.write() as conn:
        insert_plays(conn, household.member, [PlayRow(later, household.member_tracks[0], "api")])
    monkeypatch.setattr(q, "play_spans_by_source", read_spans)
    changed = cache.coverage(db, household.member)
    assert changed.api_last == later and changed == history_coverage(db, household.member)
    assert cache.coverage(db, household.owner) == history_coverage(db, household.owner)  # members apart


def test_listening_charts_are_drawn_once_per_statistics(db: Database, household: Household) -> None:
    from recs.usecases.stats import compute_listening_stats
    from web.listening import ChartCache

    stats = compute_listening_stats(db, household.member, "UTC", NOW)
    cache = ChartCache()
    first = cache.get(stats, "hours", "52w")
    assert cache.get(stats, "hours", "52w") is first
    plays = cache.get(stats, "plays", "52w")
    assert plays.bars != first.bars and "Plays of music per week" in plays.bars
    assert cache.get(stats, "hours", "all") is not first  # each period is drawn apart
    recomputed = compute_listening_stats(db, household.member, "UTC", NOW)  # what the cache hands out next hour
    again = cache.get(recomputed, "hours", "52w")
    assert again is not first and again == first


def test_a_get_page_reads_consents_once(
    client: FlaskClient, household: Household, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recs.usecases import accounts

    calls: list[int] = []
    read = accounts.consents

    def counted(db: object, member_id: int) -> object:
        calls.append(member_id)
        return read(db, member_id)  # type: ignore[arg-type]

    monkeypatch.setattr(accounts, "consents", counted)
    sign_in(client, household.member)
    assert client.get("/import").status_code == 200  # the guard and the upload form both ask
    assert calls == [household.member]
    assert client.get("/settings").status_code == 200  # the next request reads them again
    assert calls == [household.member, household.member]


def test_settings_suggest_every_timezone(client: FlaskClient, household: Household) -> None:
    from web.account import zones

    sign_in(client, household.member)
    page = client.get("/settings").get_data(as_text=True)
    datalist = page[page.index('<datalist id="zones">') : page.index("</datalist>")]
    assert datalist.count("<option ") == len(zones()) > 300
    assert '<option value="Europe/Paris">' in datalist and '<option value="America/Argentina/Buenos_Aires">' in datalist


@pytest.mark.parametrize(
    ("filename", "body", "words"),
    [
        ("fake.zip", b"this is not a zip", "fake.zip: not a readable zip archive; download the export"),
        (
            "Streaming_History_Audio_2024.json",
            '[{"ts": "2024-01-01T00:00:00Z"}]'.encode("utf-16"),
            "not valid JSON: it is not UTF-8 text",
        ),
    ],
)
def test_a_refused_upload_names_the_members_file_not_the_servers_path(
    client: FlaskClient, household: Household, instance: Instance, filename: str, body: bytes, words: str
) -> None:
    sign_in(client, household.member)
    token = csrf_token(client, "/import")
    response = client.post(
        "/import",
        data={"csrf_token": token, "export": (io.BytesIO(body), filename)},
        content_type="multipart/form-data",
    )
    location = response.headers["Location"]
    page = client.get(location).get_data(as_text=True)
    if "/import/progress/" in location:  # the import ran in the background: wait for its end
        import_id = int(location.rsplit("/", 1)[1])
        with client.application.app_context():
            web_imports.runs().wait(import_id, 30)
        page = client.get(location).get_data(as_text=True)
    assert words in page
    for leak in ("uploads", str(instance.settings.data_path.resolve()), "File is not a zip file", "b'", "\\x"):
        assert leak not in page, leak
