"""The demo household: the emulated Spotify with five members, signed in, imported, synced, trained and published.

Training uses a community prior built from the emulator's ListenBrainz dumps (the same catalogue), so
Discover holds tracks no household member ever played; the demo says how many.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

from recs.core.config import Settings, load_settings
from recs.emulator import EmulatorServer
from recs.spotify.errors import ErrorKind, SpotifyError
from recs.storage.members import set_consent
from recs.usecases import blends, ingest, training
from recs.usecases.accounts import begin_sign_in, complete_sign_in, create_invite
from recs.usecases.imports import run_import
from recs.usecases.instance import Instance, init_instance, open_instance
from recs.usecases.playlists import publish_member

MARKER = ".recs-demo"
SEED = 2026
MEMBERS = 5
HISTORY_DAYS = 150


class DemoError(RuntimeError):
    """The demo cannot start (e.g. its folder holds something that is not a demo)."""


@dataclass
class DemoReport:
    members: list[str] = field(default_factory=list)
    imported_plays: int = 0
    synced_plays: int = 0
    run_id: int | None = None
    model: str = ""
    playlists: int = 0
    prior_tracks: int = 0
    open_tracks: int = 0  # discover entries no household member ever played
    seconds: float = 0.0
    steps: list[str] = field(default_factory=list)


def demo_environ(data_dir: Path, port: int, emulator: EmulatorServer) -> dict[str, str]:
    """Settings of the demo instance: its own folder, the emulator's URLs and app credentials."""
    return {
        "RECS_INSTANCE__DATA_DIR": str(data_dir),
        "RECS_INSTANCE__PUBLIC_URL": f"http://127.0.0.1:{port}",
        "RECS_WEB__PORT": str(port),
        "RECS_SPOTIFY__CLIENT_ID": emulator.client_id,
        "RECS_SPOTIFY__API_BASE_URL": emulator.api_base_url,
        "RECS_SPOTIFY__ACCOUNTS_BASE_URL": emulator.accounts_base_url,
        "RECS_SECRETS__CLIENT_SECRET": emulator.client_secret,
        # A short nightly search keeps the demo's set-up well under a minute.
        "RECS_TRAINING__TUNING_BUDGET_S": "8",
        "RECS_PRIOR__PATH": str(prior_path(data_dir)),
    }


def prior_path(data_dir: Path) -> Path:
    return data_dir / "demo.prior.npz"


def build_demo_prior(data_dir: Path, seed: int, end: datetime, members: int = MEMBERS) -> int:
    """Write the emulator's community dumps under the demo folder and build the prior from them; its tracks."""
    from recs.emulator.listenbrainz import write_community_dumps
    from recs.usecases.prior.build import BuildOptions, build_prior

    dumps = write_community_dumps(data_dir / "listenbrainz", seed=seed, members=members, end=end)
    options = BuildOptions(processes=1, min_listeners=2, min_user_tracks=3)
    summary = build_prior([f.path for f in dumps.files], prior_path(data_dir), options, now=end)
    return int(summary.manifest["counts"]["tracks"])


def prepare_folder(data_dir: Path) -> None:
    """Start from an empty demo folder; refuse to touch a folder that is not one of ours."""
    if data_dir.exists() and any(data_dir.iterdir()):
        if not (data_dir / MARKER).exists():
            raise DemoError(
                f"{data_dir} exists and is not a demo folder; the demo never mixes with a real instance. "
                "Choose another folder with --data-dir."
            )
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / MARKER).write_text("made by `recs demo`; deleted and rebuilt on each run\n")


def connect_member(instance: Instance, emulator: EmulatorServer, user_id: str, clock: Callable[[], datetime]) -> int:
    """Sign one emulated member in through the real authorization-code flow (the emulator answers without a browser)."""
    start = begin_sign_in(instance, clock)
    asked = {k: v[0] for k, v in parse_qs(urlsplit(start.authorize_url).query).items()}
    location = emulator.control.authorize(
        asked["client_id"],
        asked["redirect_uri"],
        asked.get("scope", ""),
        asked["state"],
        code_challenge=asked.get("code_challenge"),
        user_id=user_id,
    )
    query = parse_qs(urlsplit(location).query)
    if "code" not in query:
        raise DemoError(f"the emulator refused sign-in for {user_id}: {location}")
    result = complete_sign_in(instance, state=query["state"][0], code=query["code"][0], error=None, now=clock)
    with instance.db.write() as conn:
        # The demo household agrees to everything, the Blend too, so every page has something to show.
        for purpose in ("store", "train", "publish", "blend"):
            set_consent(conn, result.member.id, purpose, True, now=clock())
    return result.member.id


T = TypeVar("T")
DEMO_RATE_LIMIT_PER_30S = 1000


def _patiently(step: Callable[[], T], tries: int = 4) -> T:
    """Run a demo step; on Spotify's rate limit, wait what Retry-After asks (at most 30 s) and run it again."""
    for attempt in range(tries):
        try:
            return step()
        except SpotifyError as exc:
            if exc.kind is not ErrorKind.RATE_LIMITED or attempt == tries - 1:
                raise
            time.sleep(min(30.0, exc.retry_after_s or 1.0) + 0.5)
    raise AssertionError("unreachable")


def build(
    data_dir: Path, port: int, *, say: Callable[[str], None] = print, seed: int = SEED
) -> tuple[Instance, EmulatorServer, DemoReport]:
    """Start the emulator and set up the demo instance; the caller serves the dashboard and stops the emulator."""
    t0 = time.perf_counter()
    report = DemoReport()
    prepare_folder(data_dir)
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    # The demo writes five members' playlists, their playability checks and the Blend within seconds: more
    # than Spotify's rolling limit (the emulator's default, 150 calls in 30 s) lets through, which stopped
    # the demo with "rate limited". The demo raises the limit; `_patiently` still waits out a 429.
    emulator = EmulatorServer(
        seed=seed, members=MEMBERS, history_days=HISTORY_DAYS, start=start, rate_limit_per_30s=DEMO_RATE_LIMIT_PER_30S
    ).start()
    try:
        env = demo_environ(data_dir, port, emulator)
        settings: Settings = load_settings(None, env)
        init_instance(settings, env)
        instance = open_instance(settings, env)
        clock = emulator.control.now
        say(f"emulated Spotify on {emulator.base_url} ({MEMBERS} members, {HISTORY_DAYS} days of listening)")
        users = emulator.control.members()
        owner: int | None = None
        for user in users:
            if owner is not None:
                create_invite(instance, by_member_id=owner, now=clock, spotify_id=user["user_id"])
            member_id = connect_member(instance, emulator, user["user_id"], clock)
            owner = owner or member_id
            report.members.append(user["display_name"])
        say(f"signed in {', '.join(report.members)} through the OAuth code flow; {report.members[0]} owns the instance")
        export = data_dir / "uploads" / "demo-export.zip"
        export.parent.mkdir(parents=True, exist_ok=True)
        export.write_bytes(emulator.control.export_zip(users[0]["user_id"]))
        imported = run_import(instance.db, settings, owner or 1, [export], clock=clock)
        export.unlink()
        report.imported_plays = imported.plays_imported
        say(f"imported {users[0]['display_name']}'s data export: {imported.plays_imported:,} plays")
        reports = ingest.sync_all(instance, now=clock, force=True)
        report.synced_plays = sum(r.new_plays for r in reports)
        errors = [e for r in reports for e in r.errors]
        say(
            f"synced every member from the Web API: {report.synced_plays:,} new plays"
            + (f" ({len(errors)} errors)" if errors else "")
        )
        report.prior_tracks = build_demo_prior(data_dir, seed, clock())
        say(f"built a community prior from the emulator's ListenBrainz dumps: {report.prior_tracks:,} tracks")
        summary = training.train(instance, now=clock())
        report.run_id, report.model = summary.run_id, summary.model_kind
        say(
            f"trained run {summary.run_id}: serving {summary.model_kind}"
            + (f" - {summary.note}" if summary.note else "")
        )
        prior = summary.params.get("prior") or {}
        report.open_tracks = int(prior.get("open_recommendations", 0))
        say(f"Discover holds {report.open_tracks} tracks no household member ever played (from open listening data)")
        with instance.db.read() as conn:
            from recs.storage.members import list_members

            member_ids = [m.id for m in list_members(conn)]
        for member_id in member_ids:
            for result in _patiently(partial(publish_member, instance, member_id, clock(), clock=clock)):
                if result.status in ("created", "written", "unchanged"):
                    report.playlists += 1
        say(f"published {report.playlists} playlists to the members' (emulated) Spotify accounts")
        blend = blends.make_blend(instance, clock())
        _patiently(lambda: blends.write_copies(instance, blend, clock(), clock=clock))
        say(f"made the household Blend: {len(blend.uris)} tracks from {len(blend.participants)} members, a copy each")
    except BaseException:
        emulator.stop()
        raise
    report.seconds = time.perf_counter() - t0
    return instance, emulator, report
