"""Old name of ``agent.appkeys``, kept only so branches written before the rename still import; delete it once
they are merged (nothing in this tree imports it)."""

from agent.appkeys import ACCOUNTS, CODES, DB, MERCHANTS, SECRETS, SETTINGS, STORAGE

__all__ = ["ACCOUNTS", "CODES", "DB", "MERCHANTS", "SECRETS", "SETTINGS", "STORAGE"]
