"""Emulator proof of the community prior (issue 13): Discover against a lone member's future listening.

A one-member instance on the built-in emulator (seeded), signed in, its data export imported and the
Web API synced. The prior is built from the emulator's own ListenBrainz community dumps (the same
catalogue; the community's tastes are drawn from the same clusters). Three lists of 100 are compared,
each leaving out what the member has played:
- household-only: the nightly training without a prior (today's behaviour);
- prior + household: the nightly training with `prior.path` set (the blend the hold-out chose);
- popular-from-the-prior: the prior's tracks by listeners.
The emulated clock then runs on (`--future-days`, the member keeps listening) and each list's top k is
checked against the tracks the member played for the first time in that window:
hit rate@k = (tracks of the top k the member went on to play) / k, for k = 30 (the published playlist)
and 100 (the whole stored list).

    .venv/bin/python benchmarks/emulator_prior.py [--seed 2026] [--future-days 28] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from recs.core.config import load_settings  # noqa: E402
from recs.emulator import EmulatorServer  # noqa: E402
from recs.usecases import ingest, training  # noqa: E402
from recs.usecases.demo import build_demo_prior, connect_member, demo_environ  # noqa: E402
from recs.usecases.imports import run_import  # noqa: E402
from recs.usecases.instance import Instance, init_instance, open_instance  # noqa: E402
from recs.usecases.prior.artifact import load_prior  # noqa: E402
from recs.usecases.recommendations import current_recommendations  # noqa: E402

KS = (30, 100)


@dataclasses.dataclass
class Proof:
    instance: Instance
    emulator: EmulatorServer
    member_id: int
    user_id: str
    prior_path: Path


START = datetime(2026, 11, 1, tzinfo=UTC)


def set_up(folder: Path, seed: int, history_days: int = 150, start: datetime = START) -> Proof:
    """A one-member instance on a fresh emulator, with its history imported and synced, and the prior built.

    The emulator starts at a fixed date, so a seed gives the same household, community and figures on any day.
    """
    emulator = EmulatorServer(seed=seed, members=1, history_days=history_days, start=start).start()
    try:
        env = {**demo_environ(folder, 0, emulator), "RECS_TRAINING__TUNING_BUDGET_S": "10"}
        settings = load_settings(None, env)
        init_instance(settings, env)
        instance = open_instance(settings, env)
        clock = emulator.control.now
        user = emulator.control.members()[0]["user_id"]
        member_id = connect_member(instance, emulator, user, clock)
        export = folder / "export.zip"
        export.write_bytes(emulator.control.export_zip(user))
        run_import(instance.db, settings, member_id, [export], clock=clock)
        ingest.sync_all(instance, now=clock, force=True)
        build_demo_prior(folder, seed, clock(), members=1)
    except BaseException:
        emulator.stop()
        raise
    return Proof(instance, emulator, member_id, user, Path(settings.prior.path))


def discover_ids(proof: Proof, with_prior: bool) -> list[str]:
    """Train (with or without the prior) and return the member's stored Discover list as Spotify ids."""
    settings = proof.instance.settings
    prior = dataclasses.replace(settings.prior, path=str(proof.prior_path) if with_prior else "")
    run_as = SimpleNamespace(settings=dataclasses.replace(settings, prior=prior), db=proof.instance.db)
    training.train(run_as, now=proof.emulator.control.now())  # type: ignore[arg-type]
    recs = current_recommendations(proof.instance.db, proof.member_id, "discover")
    return [r.track.spotify_id for r in recs if r.track is not None and r.track.spotify_id]


def played_ids(proof: Proof, since: datetime | None = None) -> set[str]:
    plays = proof.emulator.control.ground_truth(proof.user_id, since=since)["plays"]
    return {str(p["track_id"]) for p in plays if not p["skipped"]}


def hit_rates(ranked: list[str], future: set[str]) -> dict[str, float]:
    return {f"hit@{k}": round(sum(1 for t in ranked[:k] if t in future) / k, 4) for k in KS}


def run(seed: int, future_days: float, log: Any = print) -> dict[str, Any]:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        proof = set_up(Path(tmp), seed)
        try:
            before = played_ids(proof)
            lists = {"household_only": discover_ids(proof, False), "prior_blend": discover_ids(proof, True)}
            prior = load_prior(proof.prior_path)
            order = sorted(range(prior.n_tracks), key=lambda i: (-int(prior.listeners[i]), str(prior.track_ids[i])))
            lists["prior_popular"] = [str(prior.track_ids[i]) for i in order if str(prior.track_ids[i]) not in before][
                : max(KS)
            ]
            trained_at = proof.emulator.control.now()
            proof.emulator.control.advance(days=future_days)
            future = played_ids(proof, since=trained_at) - before
            note = training_note(proof)
        finally:
            proof.emulator.stop()
    for name, ids in lists.items():
        assert not set(ids) & before, f"{name} holds tracks the member played"
    out = {
        "seed": seed,
        "future_days": future_days,
        "played_before": len(before),
        "future_new_tracks": len(future),
        "results": {name: {**hit_rates(ids, future), "length": len(ids)} for name, ids in lists.items()},
        "prior_tracks": prior.n_tracks,
        "note": note,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    log(f"seed {seed}: {len(before)} tracks played before, {len(future)} new ones in the next {future_days:g} days")
    return out


def training_note(proof: Proof) -> str:
    """The current run's note (what the hold-out chose)."""
    from recs.storage.training import current_run

    with proof.instance.db.read() as conn:
        run_row = current_run(conn)
    return str(run_row.note) if run_row is not None else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--future-days", type=float, default=28.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    log = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    out = run(args.seed, args.future_days, log)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{'list':<16}" + "".join(f"{'hit@' + str(k):>10}" for k in KS) + f"{'length':>10}")
    for name, values in out["results"].items():
        print(f"{name:<16}" + "".join(f"{values[f'hit@{k}']:>10.4f}" for k in KS) + f"{values['length']:>10}")
    print(f"hold-out: {out['note']}\n{out['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
