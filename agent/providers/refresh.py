"""Keeping a logged-in session alive: its expiry as the profile captures it, and the token refresh before it."""

from __future__ import annotations

from agent.accounts.sessions import ProviderSession
from agent.profiles.http import Transport, call
from agent.profiles.model import Profile
from agent.profiles.template import dig
from agent.providers.base import LayoutChanged, SessionExpired


def session_expiry(profile: Profile, values: dict[str, str]) -> int | None:
    """The session's expiry (epoch ms) from the captured value the profile names, if it names one."""
    name = profile.session.expires_at
    if name is None or name not in values:
        return None
    try:
        return int(float(values[name]))
    except ValueError:
        raise LayoutChanged(f"session.captures.{name}", "expiry is not epoch ms") from None


async def refresh_if_due(
    session: ProviderSession, profile: Profile, transport: Transport, base_url: str, timeout_seconds: float
) -> bool:
    """Renew the session's token when its expiry is near (the profile's ``session.refresh``); True when renewed.

    Raises SessionExpired when the provider refuses, LayoutChanged when its answer lacks a captured value.
    """
    refresh = profile.session.refresh
    if refresh is None:
        return False
    if session.expires_at is None:  # a session saved before its expiry was kept apart
        session.expires_at = session_expiry(profile, session.values)
    if not session.refresh_due(refresh.before_expiry_seconds):
        return False
    data = await call(transport, refresh.request, session.values, base_url=base_url, zone=profile.zone,
                      expired=profile.session.expired, step="session.refresh", timeout_seconds=timeout_seconds)
    if not refresh.ok.matches(data):
        raise SessionExpired("session.refresh: the provider refused to renew the token")
    try:
        renewed = {key: str(dig(data, path)) for key, path in refresh.captures.items()}
    except KeyError as exc:
        raise LayoutChanged("session.refresh.captures", f"no {exc.args[0]!r} in the answer") from None
    session.refreshed(renewed, session_expiry(profile, {**session.values, **renewed}))
    return True
