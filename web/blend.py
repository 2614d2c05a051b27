"""The Blend page: the household Blend's tracks with whose taste brought each, its participants and their taste match."""

from __future__ import annotations

from flask import Blueprint, render_template

from recs.usecases import blends
from web.auth import db, instance, member, member_required

bp = Blueprint("blend", __name__)


@bp.get("/blend")
@member_required
def index() -> str:
    me = member()
    view = blends.blend_view(instance(), db(), me.id)
    return render_template(
        "blend.html",
        view=view,
        me=me.id,
        playlist=blends.NAME,
        size=instance().settings.publish.blend_size,
        track_page=instance().settings.track_page,
    )
