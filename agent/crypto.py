"""Encryption of secrets at rest (provider passwords, merchant keys, browser session state).

Fernet (AES-128-CBC + HMAC-SHA256 from ``cryptography``) is used instead of anything hand-rolled: it is
authenticated, versioned and its keys are a single urlsafe string a deployer can keep in an env var.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from agent.settings import Settings

GENERATE_KEY = "python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


class SecretKeyError(ValueError):
    """The deployment's key is unusable; the message (Chinese) says which key and what to do."""


class WrongSecretKey(SecretKeyError):
    """A stored secret does not decrypt: the key is not the one the data was written with."""


class SecretBox:
    """Encrypts and decrypts short secrets with the deployment's key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)  # ValueError unless 32 urlsafe-base64 bytes

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise WrongSecretKey(
                "数据库中的密文无法用当前密钥解密：MAPAY_SECRET_KEY（或数据目录下的 secret.key）不是写入这些数据时的"
                "密钥，请换回原来的密钥"
            ) from exc


def load_secret_box(settings: Settings) -> SecretBox:
    """Use ``MAPAY_SECRET_KEY`` or a key file under the data folder, creating it (0600) the first time."""
    if settings.secret_key is not None:
        try:
            return SecretBox(settings.secret_key.get_secret_value().encode())
        except ValueError as exc:
            raise SecretKeyError(
                f"MAPAY_SECRET_KEY 不是有效的密钥（应为 44 个字符的 Fernet 密钥），请换回原来的密钥；"
                f"全新部署可用 {GENERATE_KEY} 生成"
            ) from exc
    path: Path = settings.data_dir / "secret.key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
    try:
        return SecretBox(path.read_bytes().strip())
    except ValueError as exc:
        raise SecretKeyError(f"密钥文件 {path} 的内容不是有效的 Fernet 密钥，请换回原来的密钥文件") from exc
