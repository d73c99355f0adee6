"""SQLite storage: one database file, WAL mode, versioned migrations applied at start."""

from agent.db.database import Database, now_ms

__all__ = ["Database", "now_ms"]
