"""The admin page's model quality: which model serves and why in words, runs over time, the best baseline by name."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from web_helpers import NOW, Household

from recs.core.domain import ModelRunRow
from recs.storage import Database
from recs.storage import schema as s
from web import quality

NS = "{http://www.w3.org/2000/svg}"


def _run(run_id: int, chosen: str, metrics: dict[str, float], baselines: dict[str, Any], **kw: Any) -> ModelRunRow:
    return ModelRunRow(
        id=run_id,
        started_at=NOW - timedelta(hours=10 - run_id),
        finished_at=NOW,
        status="succeeded",
        model_kind=chosen.split()[0],
        metrics=metrics,
        baselines=baselines,
        data_size={"members": 4, "items": 1234, "plays": 56789},
        is_current=True,
        note="ALS beat the best baseline (itemknn k50)",
        chosen=chosen,
        **kw,
    )


def test_the_best_baseline_is_a_baseline_never_another_als_setting() -> None:
    run = _run(
        3,
        "als f64 r0.01 a10",
        {"ndcg@10": 0.21, "recall@50": 0.30},
        {
            "popular": {"ndcg@10": 0.08, "recall@50": 0.1},
            "itemknn k50": {"ndcg@10": 0.12, "recall@50": 0.2},
            # Other candidates recorded beside the baselines: not baselines.
            "als f128 r0.1 a40": {"ndcg@10": 0.19, "recall@50": 0.25},
            "household (als f64 r0.01 a10)": {"ndcg@10": 0.2},
        },
    )
    assert quality.best_baseline(run) == ("itemknn k50", 0.12)
    words = quality.explain(run, 14)
    assert words is not None
    assert words.serving.startswith("Run 3 (trained 18 Nov 2026 05:00 UTC) serves ALS (64 factors).")
    assert "It beat the best baseline, item-kNN (songs played together, 50 neighbours)" in words.why
    assert "0.210 against 0.120, 75% better" in words.why and "last 14 days" in words.why
    assert words.data == "It learnt from 4 members, 1,234 songs, 56,789 plays."


def test_a_baseline_that_serves_says_als_did_not_beat_it() -> None:
    run = _run(
        4,
        "itemknn k20",
        {"ndcg@10": 0.15},
        {"popular": {"ndcg@10": 0.05}, "als f64 r0.01 a10": {"ndcg@10": 0.11}},
    )
    words = quality.explain(run, 14)
    assert words is not None
    assert "serves item-kNN (songs played together, 20 neighbours)." in words.serving
    assert "ALS did not beat it" in words.why and "0.110 for the best ALS (ALS (64 factors))" in words.why
    assert quality.candidate_words("blend als f64 r0.01 a10 + 0.3 itemknn k50") == (
        "a blend of ALS (64 factors) (70%) and item-kNN (songs played together, 50 neighbours) (30%)"
    )


def test_runs_on_one_day_get_labels_that_tell_them_apart() -> None:
    runs = [
        _run(i, "als f64 r0.01 a10", {"ndcg@10": 0.1 + i / 100}, {"popular": {"ndcg@10": 0.05}}) for i in range(1, 4)
    ]
    svg = quality.runs_chart(quality.run_points(runs))
    assert svg is not None
    root = ET.fromstring(str(svg))
    ticks = ["|".join(t.itertext()) for t in root.iter(f"{NS}text") if t.find(f"{NS}tspan") is not None]
    assert ticks == ["Run 1|18 Nov", "Run 2|18 Nov", "Run 3|18 Nov"]
    legend = [t.text for t in root.iter(f"{NS}text") if t.text and "baseline" in t.text]
    assert legend == ["best baseline, NDCG@10"]
    assert "the latest, run 3, scored NDCG@10 0.130 against 0.050 for the best baseline, most played" in str(svg)


def test_admin_page_says_which_model_serves_and_why_with_the_numbers_in_a_table(
    owner_client: FlaskClient, db: Database, household: Household
) -> None:
    with db.write() as conn:
        conn.execute(
            s.model_runs.update()
            .where(s.model_runs.c.id == household.run_id)
            .values(
                params={"chosen": "als f64 r0.01 a10"},
                metrics={"ndcg@10": 0.21, "recall@50": 0.3, "users": 4},
                baselines={"popular": {"ndcg@10": 0.12, "recall@50": 0.2}, "als f32 r0.1 a5": {"ndcg@10": 0.2}},
                data_size={"members": 2, "items": 20, "plays": 1250},
            )
        )
    html = owner_client.get("/admin").get_data(as_text=True)
    section = html.split('id="runs"', 1)[1].split("</section>", 1)[0]
    assert "serves ALS (64 factors)." in section
    assert "It beat the best baseline, most played (the household&#39;s most played songs)" in section
    assert "0.210 against 0.120, 75% better" in section
    assert "It learnt from 2 members, 20 songs, 1,250 plays." in section
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</tr>", section, re.S)
    assert len(rows) == 1
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", rows[0], re.S)]
    assert cells[2:] == [
        "ALS (64 factors)",
        "0.210",
        "0.120 most played (the household&#39;s most played songs)",
        "0.300",
    ]
    assert "users 4.000" not in section and "precision@10" not in section
