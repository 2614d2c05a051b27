"""The Blend page: participants see tracks with attribution and taste match; others see nothing of it."""

from __future__ import annotations

import dataclasses

from flask.testing import FlaskClient
from web_helpers import NOW, Household, csrf_token, sign_in

from recs.storage.members import create_member, get_consents, set_consent
from recs.usecases import blends, training
from recs.usecases.instance import Instance


def _train_and_mix(instance: Instance) -> blends.BlendOutcome:
    fast = Instance(
        settings=dataclasses.replace(
            instance.settings, training=dataclasses.replace(instance.settings.training, holdout_days=0)
        ),
        secrets=instance.secrets,
        db=instance.db,
    )
    training.train(fast, now=NOW)
    return blends.make_blend(fast, NOW)


def _opt_in(instance: Instance, *member_ids: int) -> None:
    with instance.db.write() as conn:
        for m in member_ids:
            set_consent(conn, m, "blend", True, NOW)


def test_participants_see_attribution_and_taste_match_and_an_outsider_sees_none_of_it(
    client: FlaskClient, instance: Instance, household: Household
) -> None:
    with instance.db.write() as conn:
        nora = create_member(conn, "nora-spotify", "Nora Nobody", now=NOW).id
        for p in ("store", "train"):
            set_consent(conn, nora, p, True, NOW)  # type: ignore[arg-type]
    _opt_in(instance, household.owner, household.member)
    outcome = _train_and_mix(instance)
    assert outcome.status == "made" and len(outcome.uris) >= 2

    sign_in(client, household.owner)
    page = client.get("/blend").get_data(as_text=True)
    assert "Milo Member" in page and "Olive Owner" in page
    assert "from your taste" in page and "from Milo Member&#39;s taste" in page
    assert "Taste match" in page and "Olive Owner and Milo Member" in page
    assert "Nora" not in page

    sign_in(client, nora)
    page = client.get("/blend").get_data(as_text=True)
    assert "You are not in the Blend" in page
    assert "Milo Member" not in page and "Olive Owner" not in page and "Taste match" not in page


def test_a_blend_of_one_is_not_made_and_the_page_says_so(
    client: FlaskClient, instance: Instance, household: Household
) -> None:
    _opt_in(instance, household.owner)
    assert _train_and_mix(instance).status == "too-few"
    sign_in(client, household.owner)
    page = client.get("/blend").get_data(as_text=True)
    assert "No Blend this week" in page and "at least two members" in page


def test_the_blend_cannot_be_chosen_without_training_consent(
    client: FlaskClient, instance: Instance, household: Household
) -> None:
    sign_in(client, household.member)
    page = client.get("/settings").get_data(as_text=True)
    assert "Take part in the household Blend" in page
    response = client.post("/settings/consent", data={"store": "yes", "blend": "yes", "csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert "tick “Use my listening” too" in client.get("/settings").get_data(as_text=True)
    with instance.db.read() as conn:
        assert not get_consents(conn, household.member)["blend"].granted
