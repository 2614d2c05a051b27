"""Concurrent clients and a moving clock share one emulator without errors or lost writes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from recs.emulator import EmulatorServer


def test_parallel_reads_writes_and_clock() -> None:
    with EmulatorServer(seed=4, members=4, quota_per_day=None, rate_limit_per_30s=None) as srv:
        members = [m["user_id"] for m in srv.control.members()]
        tokens = {u: srv.control.sign_in(u)["access_token"] for u in members}
        pool = [f"spotify:track:{t}" for t in list(srv.emulator.catalog.tracks)[:200]]

        def member_work(user_id: str) -> list[int]:
            headers = {"Authorization": f"Bearer {tokens[user_id]}"}
            statuses = []
            with requests.Session() as http:
                made = http.post(
                    srv.api_base_url + "me/playlists", json={"name": f"p {user_id}"}, headers=headers, timeout=10
                )
                statuses.append(made.status_code)
                for k in range(20):
                    answer = http.post(
                        srv.api_base_url + f"playlists/{made.json()['id']}/items",
                        json={"uris": pool[k * 5 : k * 5 + 5]},
                        headers=headers,
                        timeout=10,
                    )
                    statuses.append(answer.status_code)
                    statuses.append(
                        http.get(
                            srv.api_base_url + "me/player/recently-played?limit=50", headers=headers, timeout=10
                        ).status_code
                    )
            return statuses

        def tick() -> None:
            for _ in range(20):
                srv.emulator.advance(60)

        with ThreadPoolExecutor(max_workers=5) as ex:
            clock = ex.submit(tick)
            results = list(ex.map(member_work, members))
            clock.result()
        assert all(s in (200, 201) for statuses in results for s in statuses)
        truth = srv.control.ground_truth()["playlists"]
        for u in members:
            made = next(p for p in truth if p["owner_id"] == u and p["name"] == f"p {u}")
            assert [f"spotify:track:{i['track_id']}" for i in made["items"]] == pool[:100], (
                "no append lost or reordered"
            )
