"""Instance secrets (session key, token keys, client secret) and token encryption at rest (pure; the file is recs.usecases.secrets_file)."""

from __future__ import annotations

from dataclasses import dataclass

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
