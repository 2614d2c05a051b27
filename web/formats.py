"""One way to write dates, times and counts on every page (templates and flash messages alike)."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask

DAY = "%d %b %Y"  # 02 Dec 2026
MOMENT = DAY + " %H:%M"  # 02 Dec 2026 07:00, followed by the zone's abbreviation


def day(d: date | datetime) -> str:
    return d.strftime(DAY)


def moment(local: datetime) -> str:
    """A time already in the member's zone, with the zone's abbreviation (02 Dec 2026 07:00 CET)."""
    return f"{local.strftime(MOMENT)} {local.tzname() or ''}".rstrip()


def count(n: int | float) -> str:
    """A count with thousands separators (12,345)."""
    return f"{n:,.0f}"


def plural(n: int, one: str, many: str | None = None) -> str:
    """'1 play', '2 plays', '12,345 plays'."""
    return f"{count(n)} {one if n == 1 else (many or one + 's')}"


def register(app: Flask) -> None:
    from web import images

    app.jinja_env.filters["sized"] = images.sized
    app.jinja_env.filters["srcset"] = images.srcset
    app.jinja_env.filters["day"] = day
    app.jinja_env.filters["moment"] = moment
    app.jinja_env.filters["count"] = count
    app.jinja_env.globals["plural"] = plural
