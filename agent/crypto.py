"""Encryption of secrets at rest (provider passwords, merchant keys, browser session state).

Fernet (AES-128-CBC + HMAC-SHA256 from ``cryptography``) is used instead of anything hand-rolled: it is
authenticated, versioned and its keys are a single urlsafe string a deployer can keep in an env var.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from agent.settings import Settings


class SecretBox:
    """Encrypts and decrypts short secrets with the deployment's key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted: wrong MAPAY_SECRET_KEY?") from exc


def load_secret_box(settings: Settings) -> SecretBox:
    """Use ``MAPAY_SECRET_KEY`` or a key file under the data folder, creating it (0600) the first time."""
    if settings.secret_key is not None:
        return SecretBox(settings.secret_key.get_secret_value().encode())
    path: Path = settings.data_dir / "secret.key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
    return SecretBox(path.read_bytes().strip())
