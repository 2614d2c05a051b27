"""Instance secrets (session key, token keys, client secret): loaded from the environment or a 0600 file, and token encryption."""

from __future__ import annotations

import os
import secrets as _random
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

ENV = "RECS_SECRETS__"


class SecretsError(RuntimeError):
    """The secrets file or variables are missing, unreadable or malformed."""


@dataclass(frozen=True)
class Secrets:
    session_key: str
    # Newest first: the first key encrypts, every key decrypts.
    token_keys: tuple[str, ...]
    client_secret: str = ""

    def __repr__(self) -> str:  # never print secrets, even by accident
        return f"Secrets(session_key=***, token_keys=<{len(self.token_keys)} keys>, client_secret=***)"

    def cipher(self) -> TokenCipher:
        return TokenCipher(self.token_keys)


class TokenCipher:
    """Encrypts token bundles at rest with MultiFernet so keys can be rotated."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        if not keys:
            raise SecretsError("no token-encryption key configured")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        try:
            return self._fernet.decrypt(ciphertext)
        except InvalidToken:
            raise SecretsError("a stored token cannot be decrypted with the configured keys") from None

    def rotate(self, ciphertext: bytes) -> bytes:
        """Re-encrypt with the newest key."""
        return self._fernet.rotate(ciphertext)


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
