"""Typed aiohttp application keys (``web.AppKey``) for the long-lived services of the app (not signing keys)."""

from __future__ import annotations

from aiohttp import web

from agent.accounts import AccountBook
from agent.codes import CodeBook
from agent.crypto import SecretBox
from agent.db import Database
from agent.db.storage import StorageHealth
from agent.merchants import MerchantBook
from agent.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
SECRETS = web.AppKey("secrets", SecretBox)
MERCHANTS = web.AppKey("merchants", MerchantBook)
CODES = web.AppKey("codes", CodeBook)
STORAGE = web.AppKey("storage", StorageHealth)  # write health of the data folder: see agent/db/storage.py
ACCOUNTS = web.AppKey("accounts", AccountBook)
