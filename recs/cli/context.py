"""What every `recs` subcommand is given: the config path, and the settings and instance opened on first use."""

from __future__ import annotations

import os

import click

from recs.core.config import Settings, SettingsError, require_spotify_app
from recs.core.keys import SecretsError
from recs.usecases.instance import Instance, load, open_instance


class Context:
    """What every subcommand gets: the config path and lazily opened settings and instance."""

    def __init__(self, config: str | None) -> None:
        self.config = config
        self._settings: Settings | None = None
        self._instance: Instance | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load(self.config, os.environ)
            except SettingsError as exc:
                raise click.ClickException(str(exc)) from None
        return self._settings

    def instance(self, *, spotify: bool = False) -> Instance:
        """The opened instance; with *spotify*, refuse early when no Spotify app is configured."""
        if spotify:
            try:
                require_spotify_app(self.settings)
            except SettingsError as exc:
                raise click.ClickException(str(exc)) from None
        if self._instance is None:
            try:
                self._instance = open_instance(self.settings, os.environ)
            except (SecretsError, RuntimeError) as exc:
                raise click.ClickException(str(exc)) from None
        return self._instance

    def require_member(self, member_id: int | None) -> None:
        """A --member id that names nobody is a one-line error before any work starts."""
        if member_id is None:
            return
        from recs.usecases.accounts import find_member

        if find_member(self.instance().db, member_id) is None:
            raise click.ClickException(f"no member with id {member_id}: `recs members` lists them")

    def close(self) -> None:
        if self._instance is not None:
            self._instance.close()


pass_ctx = click.make_pass_decorator(Context)
