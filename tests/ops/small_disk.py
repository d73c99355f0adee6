"""A real small file system (tmpfs, mounted for the test) that a filler file makes full, and empty again.

Mounting needs root, which the development machines and CI give the tests: a test that needs a full disk
fails, never skips, where it cannot mount one.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SIZE_MB = 16
_CHUNKS = (1024 * 1024, 64 * 1024, 4096, 512, 1)


@dataclass
class SmallDisk:
    path: Path

    @property
    def filler(self) -> Path:
        return self.path / "filler.bin"

    def fill(self) -> None:
        """Write the filler until not one more byte fits (largest chunks first, then smaller ones)."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in _CHUNKS:
                chunk = b"\0" * size
                with contextlib.suppress(OSError):
                    while os.write(fd, chunk) > 0:
                        pass
        finally:
            os.close(fd)
        assert self.free_bytes() < 4096, self.free_bytes()

    def empty(self) -> None:
        self.filler.unlink()

    def free_bytes(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize


@contextlib.contextmanager
def mounted_small_disk(where: Path, size_mb: int = SIZE_MB) -> Iterator[SmallDisk]:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(where)],
        capture_output=True, text=True,
    )
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the full-disk test (run the tests as root): {done.stderr.strip()}")
    try:
        yield SmallDisk(where)
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], check=True)  # a process still holds a file: detach


def truncate_wal(database: Path) -> None:
    """Checkpoint everything and cut the WAL to zero bytes, so the next write must allocate space.

    A WAL that was used and checkpointed before is rewritten from its start: small writes would fit in
    space the file already has even on a full disk, and the test would prove nothing.
    """
    conn = sqlite3.connect(database, isolation_level=None, timeout=10)
    try:
        for _ in range(100):
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                break
            time.sleep(0.05)
    finally:
        conn.close()
    wal = database.with_name(database.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "the WAL could not be truncated"
