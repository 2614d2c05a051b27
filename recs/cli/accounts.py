"""`recs members`, `recs invite`, `recs consent`, `recs delete-member`, `recs rotate-key`: members and their keys from the command line."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from recs.cli.context import Context, pass_ctx
from recs.core.domain import PURPOSES


def _now() -> datetime:
    return datetime.now(UTC)


@click.command()
@pass_ctx
def members(obj: Context) -> None:
    """List members with their role, consents, token expiry and sync status."""
    from recs.usecases import accounts

    instance = obj.instance()
    statuses = accounts.member_statuses(instance)
    if not statuses:
        click.echo("no members yet: the first person to sign in becomes the owner")
        return
    cap = instance.settings.spotify.max_members
    click.echo(f"{len(statuses)} of at most {cap} members (Spotify development mode)")
    rows: list[tuple[str, ...]] = [("id", "name", "role", "consent", "sign-in expires", "last sync", "gaps", "status")]
    errors: dict[int, str] = {}
    for s in statuses:
        m = s.member
        rows.append(
            (
                str(m.id),
                m.display_name,
                m.role,
                ",".join(p for p, c in s.consents.items() if c.granted) or "none",
                s.refresh_expires_at.date().isoformat() if s.refresh_expires_at else "-",
                s.last_sync_at.strftime("%Y-%m-%d %H:%M") if s.last_sync_at else "never",
                str(s.open_gaps),
                s.status,
            )
        )
        if s.last_error:
            errors[len(rows) - 1] = s.last_error
    for i, line in enumerate(table_lines(rows, right=(0, 6))):
        click.echo(line)
        if i in errors:
            click.echo(f"    last error: {errors[i]}")


def table_lines(rows: list[tuple[str, ...]], right: tuple[int, ...] = ()) -> list[str]:
    """Rows as text columns two spaces apart, each as wide as its widest cell (numbers in *right* flush right)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


@click.command()
@click.option("--spotify-id", default=None, help="Invite this Spotify account id (else: a single-use link).")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 90), help="Days the invite stays valid.")
@pass_ctx
def invite(obj: Context, spotify_id: str | None, days: int) -> None:
    """Make an invite: for one Spotify account, or a link anyone can use once."""
    from datetime import timedelta

    from recs.usecases import accounts

    instance = obj.instance()
    owner = accounts.owner(instance.db)
    if owner is None:
        raise click.ClickException("no owner yet: sign in first (the first member becomes the owner)")
    try:
        made = accounts.create_invite(
            instance, by_member_id=owner.id, now=_now, spotify_id=spotify_id, ttl=timedelta(days=days)
        )
    except (ValueError, PermissionError) as exc:
        raise click.ClickException(str(exc)) from None
    if made.link:
        click.echo(f"invite link (shown once, single use): {made.link}")
    else:
        click.echo(f"invited Spotify account {made.spotify_id}")
    click.echo(f"valid until {made.expires_at:%Y-%m-%d %H:%M} UTC")
    click.echo(
        "Spotify development mode: the owner must also add the person under Dashboard > your app > "
        "User Management, or every call with their account is refused (403)."
    )


@click.command()
@click.argument("member_id", type=int)
@click.argument("purpose", type=click.Choice(list(PURPOSES)))
@click.argument("state", type=click.Choice(["on", "off"]))
@pass_ctx
def consent(obj: Context, member_id: int, purpose: str, state: str) -> None:
    """Grant or revoke one purpose for a member (store listening, train the model, publish playlists, the Blend)."""
    from recs.usecases import accounts

    try:
        accounts.set_consent(obj.instance(), member_id, purpose, state == "on", _now)  # type: ignore[arg-type]
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"member {member_id}: {purpose} {state}")


@click.command("delete-member")
@click.argument("member_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def delete_member(obj: Context, member_id: int, yes: bool) -> None:
    """Delete a member with every row of theirs and their tokens ("delete my data")."""
    from recs.usecases import accounts

    if not yes:
        click.confirm(f"Delete member {member_id} and all their data?", abort=True)
    if not accounts.delete_my_data(obj.instance(), member_id):
        raise click.ClickException(f"no member with id {member_id}")
    click.echo(f"member {member_id} deleted with all their data")


@click.command("rotate-key")
@pass_ctx
def rotate_key(obj: Context) -> None:
    """Add a new token-encryption key, re-encrypt every stored token with it, then drop the old keys."""
    import os

    from recs.core.keys import ENV
    from recs.usecases import accounts
    from recs.usecases.secrets_file import add_token_key, drop_old_token_keys

    instance = obj.instance()
    if os.environ.get(ENV + "TOKEN_KEYS"):
        # The keys live in the environment: we cannot edit it, but can re-encrypt with its first key.
        count = accounts.rotate_tokens(instance.db, instance.secrets.cipher())
        click.echo(f"re-encrypted {count} tokens with the first key of {ENV}TOKEN_KEYS; remove the old keys there")
        return
    path = obj.settings.secrets_path
    secrets = add_token_key(path)
    count = accounts.rotate_tokens(instance.db, secrets.cipher())
    drop_old_token_keys(path)
    click.echo(f"new key in {path}; {count} tokens re-encrypted; old keys removed")
