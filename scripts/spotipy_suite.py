"""Run spotipy's own integration suite against the emulator and list each test's outcome (docs/emulator.md).

Usage: .venv/bin/python scripts/spotipy_suite.py SPOTIPY_CHECKOUT [--junit OUT.xml]

SPOTIPY_CHECKOUT is a checkout of github.com/spotipy-dev/spotipy (its tests/ folder is used as is, never
copied here). The emulator is started in-process (seed 0, no quota or rate limit); its first member is signed
in with every scope the suite asks for and the token is put in spotipy's cache file, so
`prompt_for_user_token` finds it without a browser. Every Web API answer comes 30 ms late, as over the
internet (a delay-only fault rule). A pytest plugin written to a temporary folder points
spotipy's API prefix and accounts URLs at the emulator: only URLs change.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from recs.emulator import EmulatorServer
from recs.emulator.control import ALL_SCOPES

SUITE_SCOPES = (
    "playlist-modify-public user-library-read user-follow-read user-library-modify user-read-private "
    "user-top-read user-follow-modify user-read-recently-played ugc-image-upload user-read-playback-state"
)

LATENCY_S = 0.03

PLUGIN = """
import spotipy, spotipy.oauth2 as oauth2

API = {api!r}
ACCOUNTS = {accounts!r}
_init = spotipy.Spotify.__init__


def _pointed(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.prefix = API


spotipy.Spotify.__init__ = _pointed
for cls in (oauth2.SpotifyClientCredentials, oauth2.SpotifyOAuth, oauth2.SpotifyPKCE):
    cls.OAUTH_TOKEN_URL = ACCOUNTS + "api/token"
    if hasattr(cls, "OAUTH_AUTHORIZE_URL"):
        cls.OAUTH_AUTHORIZE_URL = ACCOUNTS + "authorize"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkout", type=Path)
    parser.add_argument("--junit", type=Path, default=None)
    args = parser.parse_args()
    tests = args.checkout / "tests" / "integration"
    if not tests.is_dir():
        sys.exit(f"no tests/integration in {args.checkout}: give a checkout of spotipy-dev/spotipy")
    redirect = "http://127.0.0.1:8080/callback"
    with (
        EmulatorServer(seed=0, members=5, quota_per_day=None, rate_limit_per_30s=None) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        # the network between a client and api.spotify.com: every Web API answer ~30 ms late (spotipy's
        # test_search_timeout expects a 10 ms timeout to be missed, as it always is over the internet)
        server.control.add_fault("*", "/v1/*", delay_s=LATENCY_S, times=None)
        user = server.control.members()[0]["user_id"]
        scopes = " ".join(sorted(set((ALL_SCOPES + " " + SUITE_SCOPES).split())))
        token = server.control.sign_in(user, redirect_uri=redirect, scope=scopes)
        token["expires_at"] = int(time.time()) + 3000
        # spotipy's cache for this username, in the folder the suite runs from
        (args.checkout / f".cache-{user}").write_text(json.dumps(token))
        Path(tmp, "spotipy_emulator_plugin.py").write_text(
            PLUGIN.format(api=server.api_base_url, accounts=server.accounts_base_url)
        )
        junit = args.junit or Path(tmp, "junit.xml")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([tmp, str(args.checkout)]),
            "SPOTIPY_CLIENT_ID": server.client_id,
            "SPOTIPY_CLIENT_SECRET": server.client_secret,
            "SPOTIPY_REDIRECT_URI": redirect,
            "SPOTIPY_CLIENT_USERNAME": user,
        }
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "spotipy_emulator_plugin",
                "-p",
                "no:cacheprovider",
                "-o",
                "filterwarnings=default",
                f"--junitxml={junit}",
                # these two sign in interactively (a browser and a local redirect server): they would wait forever
                "-k",
                "not SpotipyImplicitGrantTests and not SpotifyPKCETests",
                *map(str, sorted(tests.glob("*/test.py"))),
            ],
            cwd=args.checkout,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        (args.checkout / f".cache-{user}").unlink(missing_ok=True)
        root = ET.parse(junit).getroot()
        passed = failed = 0
        for case in root.iter("testcase"):
            problem = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
            name = f"{case.get('classname', '').rsplit('.', 1)[-1]}.{case.get('name')}"
            if problem is None:
                passed += 1
                print(f"PASS {name}")
            else:
                failed += problem.tag != "skipped"
                print(f"{problem.tag.upper()} {name}: {(problem.get('message') or '').splitlines()[0][:160]}")
        print(f"{passed} passed, {failed} failed or errored")


if __name__ == "__main__":
    main()
