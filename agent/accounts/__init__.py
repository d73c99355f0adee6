"""Provider accounts and their life: logins, health, failure classes, saved sessions, one-time codes.

``book`` owns the ``accounts`` table, ``failures`` is the one mapping from a provider's failure to the
account's health, ``sessions`` keeps the encrypted browser session, ``otp`` carries a typed one-time code.
"""

from agent.accounts.book import UNCHANGED, Account, AccountBook, AccountExists, Unchanged, checked_base_url
from agent.accounts.failures import Failure, FailureClass, classify, describe

__all__ = [
    "UNCHANGED",
    "Account",
    "AccountBook",
    "AccountExists",
    "Failure",
    "FailureClass",
    "Unchanged",
    "checked_base_url",
    "classify",
    "describe",
]
