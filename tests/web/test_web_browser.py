"""A person's journey in a real browser (Debian's Chromium via Playwright) against the dashboard and the emulator."""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from waitress.server import create_server

from recs.emulator import EmulatorServer
from recs.storage import schema as s
from recs.usecases import accounts, feedback, imports, jobs
from recs.usecases.instance import Instance
from web import create_app

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
# Screenshots of every step at both widths (not committed: tmp/ is ignored).
ARTIFACTS = REPO / "tmp" / "test-output" / "dashboard"
# axe-core's browser build, from the npm registry: scripts/test.sh runs
# `npm install --prefix .cache/npm axe-core@4`; RECS_AXE_JS names another copy.
AXE_JS = Path(os.environ.get("RECS_AXE_JS") or REPO / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js")
WIDTHS = (1366, 390)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (apt-get install chromium)"
    ),
]


class Live:
    """The dashboard under waitress on 127.0.0.1:<ephemeral>, beside an emulator, sharing the test's database."""

    def __init__(self, instance: Instance, server: EmulatorServer) -> None:
        self.emulator = server
        self._app: Any = None
        self.http = create_server(self._dispatch, host="127.0.0.1", port=0, threads=4)
        self.url = f"http://127.0.0.1:{self.http.effective_port}"  # type: ignore[union-attr]
        spotify = dataclasses.replace(
            instance.settings.spotify,
            client_id=server.client_id,
            api_base_url=server.api_base_url,
            accounts_base_url=server.accounts_base_url,
            redirect_uri=f"{self.url}/auth/callback",
            request_timeout_s=5.0,
        )
        settings = dataclasses.replace(
            instance.settings,
            spotify=spotify,
            instance=dataclasses.replace(instance.settings.instance, public_url=self.url),
            training=dataclasses.replace(instance.settings.training, tuning_budget_s=2.0),
        )
        self.instance = Instance(
            settings=settings,
            secrets=dataclasses.replace(instance.secrets, client_secret=server.client_secret),
            db=instance.db,
        )
        self._app = create_app(overrides={"RECS_INSTANCE": self.instance, "RECS_CLOCK": self.now})
        self._thread = threading.Thread(target=self.http.run, daemon=True)
        self._thread.start()

    def _dispatch(self, environ: Any, start_response: Any) -> Any:
        return self._app(environ, start_response)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.emulator.emulator.now_ms / 1000, tz=UTC)

    def close(self) -> None:
        self.http.close()
        self._thread.join(timeout=10)


@pytest.fixture
def live(instance: Instance) -> Iterator[Live]:
    with EmulatorServer(seed=5, members=2, history_days=90) as server:
        running = Live(instance, server)
        try:
            yield running
        finally:
            running.close()


@pytest.fixture
def browser_page(live: Live) -> Iterator[Any]:
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        # bypass_csp: axe-core is injected as an inline script, which the dashboard's own CSP refuses.
        context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900}, bypass_csp=True)
        page = context.new_page()
        errors: list[str] = []
        # Only the dashboard's own pages count (the emulator's page has no favicon, for one).
        page.on(
            "console",
            lambda m: (
                errors.append(f"{m.location.get('url')}: {m.text}")
                if m.type == "error" and str(m.location.get("url", "")).startswith(live.url)
                else None
            ),
        )
        try:
            yield page
        finally:
            context.close()
            browser.close()
        # A CSP violation or a script error shows in the console.
        assert not errors, f"browser console errors: {errors}"


def _owner_joins(live: Live, user_id: str, tmp: Path) -> int:
    """The household's owner signed in earlier (without a browser) and imported their history."""
    start = accounts.begin_sign_in(live.instance, live.now)
    q = {k: v[0] for k, v in parse_qs(urlsplit(start.authorize_url).query).items()}
    back = live.emulator.control.authorize(
        q["client_id"], q["redirect_uri"], q["scope"], q["state"], code_challenge=q["code_challenge"], user_id=user_id
    )
    b = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    owner = accounts.complete_sign_in(live.instance, state=b["state"], code=b["code"], error=None, now=live.now).member
    for purpose in ("store", "train", "publish"):
        accounts.set_consent(live.instance, owner.id, purpose, True, live.now)  # type: ignore[arg-type]
    export = tmp / "owner.zip"
    export.write_bytes(live.emulator.control.export_zip(user_id))
    imports.run_import(live.instance.db, live.instance.settings, owner.id, [export], clock=live.now)
    return owner.id


def _axe(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (one line each)."""
    if not AXE_JS.exists():
        if os.environ.get("CI"):
            pytest.fail(f"axe-core is missing at {AXE_JS}: scripts/test.sh installs it from the npm registry")
        pytest.skip(f"axe-core is not installed at {AXE_JS} (npm install --prefix .cache/npm axe-core@4)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    result = page.evaluate("async () => await window.axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def _shot(page: Any, name: str) -> None:
    """A full-page screenshot at each width, with axe-core run at each: a serious or critical violation fails."""
    width = page.viewport_size["width"]
    found: list[str] = []
    for w in WIDTHS:
        page.set_viewport_size({"width": w, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{w}.png"), full_page=True)
        found += [f"{w} px: {v}" for v in _axe(page)]
    page.set_viewport_size({"width": width, "height": 900})
    assert not found, f"axe-core on {name} ({page.url}):\n" + "\n".join(found)


def test_new_member_signs_in_imports_sees_charts_hides_and_publishes(
    live: Live, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    owner_user, new_user = (m["user_id"] for m in live.emulator.control.members()[:2])
    owner_id = _owner_joins(live, owner_user, tmp_path)
    accounts.create_invite(live.instance, by_member_id=owner_id, now=live.now, spotify_id=new_user)

    # Sign in through the emulator's own consent page.
    page.goto(f"{live.url}/")
    assert page.title() == "Sign in · recs"
    _shot(page, "01-signin")
    page.get_by_role("button", name="Sign in with Spotify").click()
    page.wait_for_url(f"{live.emulator.accounts_base_url.rstrip('/')}/**")
    page.check(f"input[value='{new_user}']")
    page.get_by_role("button", name="Agree").click()
    page.wait_for_url(f"{live.url}/consent")
    _shot(page, "02-consent")
    for label in ("Keep my listening", "Use my listening for the household", "Write playlists to my Spotify"):
        page.get_by_label(label).check()
    page.get_by_role("button", name="Save my choices").click()
    page.wait_for_url(f"{live.url}/listening")
    assert page.get_by_text("No plays yet").is_visible()

    # Upload the export; the progress page follows the import to its report.
    export = tmp_path / "my_spotify_data.zip"
    export.write_bytes(live.emulator.control.export_zip(new_user))
    page.get_by_role("link", name="Import", exact=True).click()
    _shot(page, "03-import")
    wrong = tmp_path / "notes.txt"
    wrong.write_text("not an export")
    page.set_input_files("#export", str(wrong))
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text("“notes.txt” is not a .zip or .json file").wait_for(timeout=10_000)
    page.set_input_files("#export", str(export))
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_url(re.compile(r".*/import/\d+$"), timeout=60_000)
    assert page.get_by_role("heading", name="Import report").is_visible()
    added = int(page.locator(".tile .big").first.inner_text().replace(",", ""))
    assert added > 100
    _shot(page, "03-import-report")
    assert page.get_by_text("my_spotify_data.zip, started").is_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My listening").click()
    assert page.locator("svg.chart:visible").count() == 3
    assert page.get_by_role("heading", name="Your top music").is_visible()
    _shot(page, "04-listening")

    # The worker trains (requested from the queue, as the owner's button would).
    feedback.request_job(live.instance.db, "train", None, owner_id, live.now())
    outcomes = jobs.execute_requests(live.instance, now=live.now, in_process=True)
    assert [o.status for o in outcomes] == ["succeeded"], outcomes

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My recommendations").click()
    cards = page.locator("li.rec")
    assert cards.count() > 3
    first = cards.first.locator("h2").inner_text()
    # On the emulator the track exists only there: the link says so and opens the emulator's own page.
    link = cards.first.get_by_role("link", name="Open in the emulator")
    assert (link.get_attribute("href") or "").startswith(live.emulator.base_url + "/track/")
    _shot(page, "05-recommendations")
    # Playlist settings sit above the list, folded; saving keeps them open with the confirmation in view (item 9).
    settings = page.locator("#playlist-settings")
    assert settings.bounding_box()["y"] < cards.first.bounding_box()["y"]
    settings.locator("summary").click()
    page.get_by_role("button", name="Save playlist settings").click()
    in_view = "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight; }"
    assert page.get_by_text("Playlist settings saved.").evaluate(in_view)
    assert page.get_by_role("button", name="Save playlist settings").is_visible()
    cards.first.get_by_role("button", name="Not for me").click()
    assert page.get_by_text("Hidden: that song will not come back").is_visible()
    assert first not in [h.inner_text() for h in page.locator("li.rec h2").all()]

    # Publish: queued by the page, written by the worker, held by the emulator.
    # The button says exactly what it will write (issue 15 item 1).
    assert page.get_by_text(re.compile(r"Writes your Discover playlist \(\d+ songs?\)")).is_visible()
    page.get_by_role("button", name="Publish to Spotify now").click()
    assert page.get_by_text("Publishing is queued: your Discover playlist").is_visible()
    outcomes = jobs.execute_requests(live.instance, now=live.now, in_process=True)
    assert [(o.job, o.status) for o in outcomes] == [("publish", "succeeded")], outcomes
    with live.instance.db.read() as conn:
        row = conn.execute(
            sa.select(s.published_playlists.c.spotify_playlist_id, s.published_playlists.c.track_uris)
            .join(s.members, s.members.c.id == s.published_playlists.c.member_id)
            .where(s.members.c.spotify_id == new_user)
        ).one()
    playlist = live.emulator.emulator.household.playlists[row[0]]
    assert playlist.owner_id == new_user
    held = [f"spotify:track:{item.track_id}" for item in playlist.items]
    assert held == list(row[1]) and held
    hidden_uri = None
    with live.instance.db.read() as conn:
        hidden_uri = conn.execute(
            sa.select(s.tracks.c.spotify_id).join(s.hidden_tracks, s.hidden_tracks.c.track_id == s.tracks.c.id)
        ).scalar_one()
    assert f"spotify:track:{hidden_uri}" not in held
    # The page names the playlist Spotify now holds and when the next one is written (issue 15 item 8).
    page.reload()
    assert page.get_by_text(re.compile(r"“recs · Discover”\s+in your Spotify, written")).is_visible()
    assert page.get_by_text("Next publish:").is_visible()
    _shot(page, "05-recommendations-published")

    page.get_by_role("link", name="Settings & privacy").click()
    assert page.get_by_role("heading", name="Your Spotify connection").is_visible()
    _shot(page, "06-settings")
    # Download my data: the zip the browser saves holds the member's plays (issue 15 item 7).
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download my data (.zip)").click()
    saved = ARTIFACTS / "my-data.zip"
    download_info.value.save_as(str(saved))
    with zipfile.ZipFile(saved) as archive:
        rows = archive.read("plays.csv").decode().splitlines()
    assert len(rows) - 1 >= added  # the header, then at least every play the import added
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My listening").click()
    _shot(page, "07-listening-phone")
    # Keyboard: the skip link is the first stop and lands on the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"


def test_owner_admin_page_in_the_browser(live: Live, browser_page: Any, tmp_path: Path) -> None:
    owner_user = live.emulator.control.members()[0]["user_id"]
    owner_id = _owner_joins(live, owner_user, tmp_path)
    page = browser_page
    page.goto(f"{live.url}/signin")
    page.get_by_role("button", name="Sign in with Spotify").click()
    page.get_by_role("button", name="Agree").click()
    page.wait_for_url(f"{live.url}/listening")
    feedback.request_job(live.instance.db, "train", None, owner_id, live.now())
    jobs.execute_requests(live.instance, now=live.now, in_process=True)
    page.get_by_role("link", name="Admin").click()
    assert page.get_by_role("heading", name="Members and sync health").is_visible()
    page.get_by_role("button", name="Sync listening now").click()
    assert page.get_by_text("“sync” is queued").is_visible()
    _shot(page, "08-admin")


def _second_member_joins(live: Live, user_id: str, owner_id: int, tmp: Path) -> int:
    """A second member, invited by the owner, signs in (without a browser) and imports their history."""
    accounts.create_invite(live.instance, by_member_id=owner_id, now=live.now, spotify_id=user_id)
    start = accounts.begin_sign_in(live.instance, live.now)
    q = {k: v[0] for k, v in parse_qs(urlsplit(start.authorize_url).query).items()}
    back = live.emulator.control.authorize(
        q["client_id"], q["redirect_uri"], q["scope"], q["state"], code_challenge=q["code_challenge"], user_id=user_id
    )
    b = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    member = accounts.complete_sign_in(live.instance, state=b["state"], code=b["code"], error=None, now=live.now).member
    for purpose in ("store", "train", "publish", "blend"):
        accounts.set_consent(live.instance, member.id, purpose, True, live.now)  # type: ignore[arg-type]
    export = tmp / "member.zip"
    export.write_bytes(live.emulator.control.export_zip(user_id))
    imports.run_import(live.instance.db, live.instance.settings, member.id, [export], clock=live.now)
    return member.id


def test_the_blend_page_in_the_browser(live: Live, browser_page: Any, tmp_path: Path) -> None:
    users = [m["user_id"] for m in live.emulator.control.members()]
    owner_id = _owner_joins(live, users[0], tmp_path)
    accounts.set_consent(live.instance, owner_id, "blend", True, live.now)
    _second_member_joins(live, users[1], owner_id, tmp_path)
    feedback.request_job(live.instance.db, "train", None, owner_id, live.now())
    feedback.request_job(live.instance.db, "blend", None, owner_id, live.now())
    jobs.execute_requests(live.instance, now=live.now, in_process=True)
    page = browser_page
    page.goto(f"{live.url}/signin")
    page.get_by_role("button", name="Sign in with Spotify").click()
    page.get_by_role("button", name="Agree").click()
    page.wait_for_url(f"{live.url}/listening")
    page.get_by_role("link", name="Blend").click()
    assert page.get_by_role("heading", name="Household Blend").is_visible()
    assert page.get_by_role("heading", name="Taste match").is_visible()
    assert page.get_by_text("from your taste").first.is_visible()
    _shot(page, "09-blend")
