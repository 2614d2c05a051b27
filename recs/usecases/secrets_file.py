"""The instance's secrets file: secrets read from the environment or a 0600 file, created on first run, keys rotated."""

from __future__ import annotations

import os
import secrets as _random
import tomllib
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet

from recs.core.keys import ENV, Secrets, SecretsError


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _render(session_key: str, token_keys: tuple[str, ...], client_secret: str) -> str:
    keys = ", ".join(f'"{k}"' for k in token_keys)
    return (
        "# recs instance secrets. Keep this file private (mode 0600) and out of version control.\n"
        f'session_key = "{session_key}"\n'
        f"token_keys = [{keys}]\n"
        f'client_secret = "{client_secret}"\n'
    )


def _read_file(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SecretsError(f"{path}: not valid TOML: {exc}") from None


def load_secrets(path: Path, environ: Mapping[str, str], *, create: bool = False) -> Secrets:
    """Secrets from the environment first, then the file; with *create*, generate what is missing into the file."""
    file_data: dict[str, object] = _read_file(path) if path.exists() else {}
    session_key = environ.get(ENV + "SESSION_KEY") or str(file_data.get("session_key") or "")
    env_keys = environ.get(ENV + "TOKEN_KEYS")
    raw_keys = env_keys.split(",") if env_keys else file_data.get("token_keys") or []
    if not isinstance(raw_keys, list):
        raise SecretsError(f"{path}: token_keys must be a list of keys")
    token_keys = tuple(str(k).strip() for k in raw_keys if str(k).strip())
    client_secret = environ.get(ENV + "CLIENT_SECRET") or str(file_data.get("client_secret") or "")
    for key in token_keys:
        try:
            Fernet(key.encode())
        except ValueError:
            raise SecretsError("a token key is not a valid Fernet key (32 url-safe base64 bytes)") from None
    missing = not session_key or not token_keys
    if missing and not create:
        raise SecretsError(f"secrets missing: run `recs init` (or set {ENV}SESSION_KEY and {ENV}TOKEN_KEYS)")
    if missing:
        session_key = session_key or _random.token_urlsafe(48)
        token_keys = token_keys or (Fernet.generate_key().decode(),)
        file_session = str(file_data.get("session_key") or "") or session_key
        stored_keys = file_data.get("token_keys")
        file_keys = tuple(str(k) for k in stored_keys) if isinstance(stored_keys, list) and stored_keys else token_keys
        _write_private(path, _render(file_session, file_keys, str(file_data.get("client_secret") or "")))
    return Secrets(session_key=session_key, token_keys=token_keys, client_secret=client_secret)


def add_token_key(path: Path) -> Secrets:
    """Prepend a new token key to the secrets file (old keys still decrypt until re-encryption finishes)."""
    current = load_secrets(path, {}, create=False)
    new_keys = (Fernet.generate_key().decode(), *current.token_keys)
    _write_private(path, _render(current.session_key, new_keys, current.client_secret))
    return Secrets(current.session_key, new_keys, current.client_secret)


def drop_old_token_keys(path: Path) -> Secrets:
    """Keep only the newest token key (after every stored token was re-encrypted with it)."""
    current = load_secrets(path, {}, create=False)
    keys = current.token_keys[:1]
    _write_private(path, _render(current.session_key, keys, current.client_secret))
    return Secrets(current.session_key, keys, current.client_secret)
