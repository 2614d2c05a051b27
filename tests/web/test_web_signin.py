"""Sign-in and import through the dashboard against the Spotify emulator served over real HTTP."""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from web_helpers import csrf_token

from recs.emulator import EmulatorServer
from recs.usecases.instance import Instance
from web import create_app
from web.imports import runs


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(seed=11, members=2, history_days=60) as server:
        yield server


def emulated(instance: Instance, server: EmulatorServer) -> Instance:
    spotify = dataclasses.replace(
        instance.settings.spotify,
        client_id=server.client_id,
        api_base_url=server.api_base_url,
        accounts_base_url=server.accounts_base_url,
        redirect_uri="http://127.0.0.1:8000/auth/callback",
        request_timeout_s=5.0,
    )
    return Instance(
        settings=dataclasses.replace(instance.settings, spotify=spotify),
        secrets=dataclasses.replace(instance.secrets, client_secret=server.client_secret),
        db=instance.db,
    )


@pytest.fixture
def live_app(instance: Instance, emulator: EmulatorServer) -> Flask:
    def clock() -> datetime:
        return datetime.fromtimestamp(emulator.emulator.now_ms / 1000, tz=UTC)

    return create_app(overrides={"RECS_INSTANCE": emulated(instance, emulator), "TESTING": True, "RECS_CLOCK": clock})


def sign_in_through_emulator(client: FlaskClient, server: EmulatorServer, user_id: str) -> object:
    token = csrf_token(client, "/signin")
    start = client.post("/signin", data={"csrf_token": token, "invite": ""})
    assert start.status_code == 302
    authorize = start.headers["Location"]
    assert authorize.startswith(server.accounts_base_url.rstrip("/"))
    q = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    back = server.control.authorize(
        q["client_id"], q["redirect_uri"], q["scope"], q["state"], code_challenge=q["code_challenge"], user_id=user_id
    )
    parts = urlsplit(back)
    return client.get(f"{parts.path}?{parts.query}")


def test_sign_in_consent_import_and_charts(live_app: Flask, emulator: EmulatorServer) -> None:
    client = live_app.test_client()
    user = emulator.control.members()[0]["user_id"]
    callback = sign_in_through_emulator(client, emulator, user)
    assert callback.status_code == 302 and callback.headers["Location"].endswith("/consent")  # type: ignore[attr-defined]
    page = client.get("/consent").get_data(as_text=True)
    assert "What is stored" in page
    saved = client.post(
        "/consent",
        data={"csrf_token": csrf_token(client, "/consent"), "store": "yes", "train": "yes", "publish": "yes"},
    )
    assert saved.headers["Location"].endswith("/listening")
    assert "No plays yet" in client.get("/listening").get_data(as_text=True)
    # The owner (first member) sees the admin page with themselves in it.
    assert client.get("/admin").status_code == 200

    export = emulator.control.export_zip(user)
    upload = client.post(
        "/import",
        data={"csrf_token": csrf_token(client, "/import"), "export": (io.BytesIO(export), "my_spotify_data.zip")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 302
    import_id = int(upload.headers["Location"].rsplit("/", 1)[-1])
    with live_app.app_context():
        registry = runs()
    assert registry.wait(import_id, timeout=60)
    progress = client.get(upload.headers["Location"])
    assert progress.status_code == 302, progress.get_data(as_text=True)
    report = client.get(progress.headers["Location"]).get_data(as_text=True)
    added = int(re.search(r'class="big">([\d,]+)</span> plays added', report).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert added > 100
    listening = client.get("/listening").get_data(as_text=True)
    assert listening.count('<svg class="chart') == 4 and "No plays yet" not in listening
    imports_page = client.get("/import").get_data(as_text=True)
    assert "my_spotify_data.zip" in imports_page


def test_a_refused_upload_says_why_and_adds_nothing(live_app: Flask, emulator: EmulatorServer) -> None:
    client = live_app.test_client()
    user = emulator.control.members()[0]["user_id"]
    sign_in_through_emulator(client, emulator, user)
    client.post("/consent", data={"csrf_token": csrf_token(client, "/consent"), "store": "yes"})
    upload = client.post(
        "/import",
        data={"csrf_token": csrf_token(client, "/import"), "export": (io.BytesIO(b"{not json"), "endsong_0.json")},
        content_type="multipart/form-data",
    )
    import_id = int(upload.headers["Location"].rsplit("/", 1)[-1])
    with live_app.app_context():
        assert runs().wait(import_id, timeout=30)
    page = client.get(upload.headers["Location"]).get_data(as_text=True)
    assert "The import did not go through" in page and "endsong_0.json" in page
    assert "No plays yet" in client.get("/listening").get_data(as_text=True)


def test_a_callback_from_another_browser_is_refused(live_app: Flask, emulator: EmulatorServer) -> None:
    attacker = live_app.test_client()
    token = csrf_token(attacker, "/signin")
    start = attacker.post("/signin", data={"csrf_token": token})
    q = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["Location"]).query).items()}
    user = emulator.control.members()[0]["user_id"]
    back = emulator.control.authorize(
        q["client_id"], q["redirect_uri"], q["scope"], q["state"], code_challenge=q["code_challenge"], user_id=user
    )
    victim = live_app.test_client()
    parts = urlsplit(back)
    response = victim.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 400
    assert "did not start in this browser" in response.get_data(as_text=True)
    assert victim.get("/listening").status_code == 302


def test_declining_on_spotify_is_explained(live_app: Flask, emulator: EmulatorServer) -> None:
    client = live_app.test_client()
    start = client.post("/signin", data={"csrf_token": csrf_token(client, "/signin")})
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    response = client.get(f"/auth/callback?error=access_denied&state={state}")
    assert response.status_code == 400
    assert "you declined access on Spotify" in response.get_data(as_text=True)


# Known open-redirect bypasses: each must end on this site, whatever a browser makes of it.
HOSTILE_NEXT = [
    "/%09/evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/x\r\nSet-Cookie: stolen=1",
    "//evil.example",
    "///evil.example",
    "////evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "/%2f/evil.example",
    "/%2F%2Fevil.example",
    "/%5cevil.example",
    "/%5C%5Cevil.example",
    "/%252f%252fevil.example",
    "/%0d%0a/evil.example",
    "/\x00/evil.example",
    "/\x0b/evil.example",
    " //evil.example",
    "\t//evil.example",
    "https:evil.example",
    "https://evil.example",
    "http:/\\evil.example",
    "HTTPS://evil.example/listening",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/\u3002evil.example",
    "/\uff0fevil.example",
    "/\uff3cevil.example",
    "\uff0f\uff0fevil.example",
    "//evil\u3002example",
    "/%E3%80%82evil.example",
    "/%EF%BC%8F/evil.example",
    "evil.example",
    "@evil.example",
    "/" + "a" * 3000,
]
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))


def _as_a_browser_reads(location: str, origin: str = "http://localhost") -> tuple[str, str]:
    """(scheme, host) a browser goes to for this Location (WHATWG URL parsing: C0 and space trimmed, tabs
    and newlines dropped, `\\` read as `/`)."""
    cleaned = location.strip(_C0_AND_SPACE)
    cleaned = "".join(c for c in cleaned if c not in "\t\r\n").replace("\\", "/")
    parts = urlsplit(urljoin(origin + "/", cleaned))
    return parts.scheme, parts.netloc


def _sign_in_with_next(live_app: Flask, server: EmulatorServer, user_id: str, target: str) -> str:
    """The whole sign-in with *target* as `next` (on the sign-in link, and posted as an attacker can); the final Location."""
    client = live_app.test_client()
    page = client.get("/signin", query_string={"next": target})
    assert page.status_code == 200
    start = client.post("/signin", data={"csrf_token": csrf_token(client, "/signin"), "invite": "", "next": target})
    assert start.status_code == 302
    q = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["Location"]).query).items()}
    back = server.control.authorize(
        q["client_id"], q["redirect_uri"], q["scope"], q["state"], code_challenge=q["code_challenge"], user_id=user_id
    )
    parts = urlsplit(back)
    done = client.get(f"{parts.path}?{parts.query}")
    assert done.status_code == 302, (target, done.status_code)
    return str(done.headers["Location"])


def test_sign_in_redirects_only_to_this_site(live_app: Flask, emulator: EmulatorServer) -> None:
    user = emulator.control.members()[0]["user_id"]
    first = live_app.test_client()
    sign_in_through_emulator(first, emulator, user)
    first.post("/consent", data={"csrf_token": csrf_token(first, "/consent"), "store": "yes"})
    # Addresses of this site survive the round trip through Spotify, query included.
    for target in ["/listening?days=30", "/recommendations", "/import", "/settings?tab=privacy#top"]:
        assert _sign_in_with_next(live_app, emulator, user, target).endswith(target), target
    for target in HOSTILE_NEXT:
        location = _sign_in_with_next(live_app, emulator, user, target)
        assert _as_a_browser_reads(location) == ("http", "localhost"), (target, location)
        assert urlsplit(location).path == "/listening", (target, location)


def test_sign_in_page_does_not_carry_a_foreign_next(live_app: Flask) -> None:
    client = live_app.test_client()
    html = client.get("/signin", query_string={"next": "/%09/evil.example"}).get_data(as_text=True)
    assert 'name="next" value=""' in html
    html = client.get("/signin", query_string={"next": "/recommendations"}).get_data(as_text=True)
    assert 'name="next" value="/recommendations"' in html
