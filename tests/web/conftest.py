"""Dashboard fixtures, defined in web_helpers (a uniquely named module the tests import helpers from)."""

from web_helpers import app, client, household, instance, owner_client

__all__ = ["app", "client", "household", "instance", "owner_client"]
