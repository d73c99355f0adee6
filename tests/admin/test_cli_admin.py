"""``mapay admin create``: the administrator the console signs in as, with only an argon2 hash stored."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet


def test_admin_create_stores_an_argon2_hash_and_refuses_duplicates(tmp_path: Path) -> None:
    env = {**os.environ, "MAPAY_DATA_DIR": str(tmp_path / "data"), "MAPAY_SECRET_KEY": Fernet.generate_key().decode()}

    def create(password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "agent", "admin", "create", "boss", "--password-stdin"],
            env=env, input=password + "\n", capture_output=True, text=True, timeout=60,
        )

    short = create("short")  # too short to guard a payment back office
    assert short.returncode == 1 and "错误：密码至少需要" in short.stderr, short.stderr
    first = create("a long admin password")
    assert first.returncode == 0, first.stderr
    again = create("another long password")
    assert again.returncode == 1 and "错误：管理员 'boss' 已存在" in again.stderr, again.stderr
    with sqlite3.connect(tmp_path / "data" / "mapay.sqlite3") as db:
        rows = db.execute("SELECT username, password_hash FROM admins").fetchall()
    assert len(rows) == 1 and rows[0][0] == "boss"
    assert rows[0][1].startswith("$argon2id$") and "a long admin password" not in rows[0][1]
