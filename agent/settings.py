"""Runtime configuration, read from ``MAPAY_*`` environment variables and an optional ``.env`` file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, IPvAnyNetwork, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _url_list(value: Any) -> Any:
    """A plain environment string becomes a list: Apprise URLs separated by spaces or commas.

    These are the separators Apprise itself accepts between URLs (a comma inside one is written ``%2C``);
    a JSON list still works. pydantic-settings would otherwise insist on JSON for a list field.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part for part in text.replace(",", " ").split() if part]
    return value


def _on_off_auto(value: Any) -> Any:
    """``true``/``1``/``yes`` mean ``on``, ``false``/``0``/``no`` mean ``off`` (as for boolean settings)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, str):
        text = value.strip().lower()
        return {"true": "on", "1": "on", "yes": "on", "false": "off", "0": "off", "no": "off"}.get(text, text)
    return value


UrlList = Annotated[list[str], NoDecode, BeforeValidator(_url_list)]
NetworkList = Annotated[list[IPvAnyNetwork], NoDecode, BeforeValidator(_url_list)]  # same separators

SOURCE_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_PROFILES_DIR = SOURCE_ROOT / "profiles"
# Run from a checkout (an editable install: pyproject.toml beside agent/), the data folder and .env are the
# project's own, whatever the current directory: ``mapay`` run from elsewhere must find the database
# ``./scripts/run`` uses, not create a new one. An installed package (the container) has no such root and
# keeps ``./data`` (the image sets MAPAY_DATA_DIR=/data).
CHECKOUT_ROOT: Path | None = SOURCE_ROOT if (SOURCE_ROOT / "pyproject.toml").is_file() else None
DEFAULT_DATA_DIR = CHECKOUT_ROOT / "data" if CHECKOUT_ROOT else Path("data")
ENV_FILES: tuple[Path | str, ...] = (CHECKOUT_ROOT / ".env", ".env") if CHECKOUT_ROOT else (".env",)
DEFAULT_NOTIFY_SCHEDULE = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)


class Settings(BaseSettings):
    """Every knob of the gateway. Field docstrings are the reference for deployers."""

    model_config = SettingsConfigDict(
        env_prefix="MAPAY_", env_file=ENV_FILES, extra="ignore", use_attribute_docstrings=True
    )

    host: str = "127.0.0.1"
    """Address the HTTP server binds to. Keep loopback behind a reverse proxy; 0.0.0.0 in a container."""

    port: int = 8000
    """TCP port of the HTTP server (cashier, epay endpoints, admin, metrics)."""

    public_url: str | None = None
    """Base URL payers and merchants reach us at, used in ``payurl``; defaults to http://host:port."""

    data_dir: Path = DEFAULT_DATA_DIR
    """Folder for the SQLite database, the generated secret key, browser session states and snapshots.
    Unset: ``data/`` of the project when mapay runs from a checkout (from any directory), else ``./data``."""

    secret_key: SecretStr | None = None
    """Fernet key (urlsafe base64, 32 bytes) that encrypts credentials, merchant keys and sessions at rest.
    When unset, one is generated once into ``<data_dir>/secret.key`` (mode 0600)."""

    order_ttl_seconds: int = Field(default=300, ge=30, le=86400)
    """How long a payer has to pay an order before it expires and frees its amount slot."""

    offset_max_fen: int = Field(default=99, ge=0, le=999)
    """Largest adjustment (in fen) applied to make a payable amount unique within its matching scope."""

    offset_direction: Literal["down", "up", "both"] = "down"
    """Direction of the uniqueness offset: ``down`` never asks the payer for more than the price."""

    match_skew_seconds: int = Field(default=30, ge=0, le=600)
    """Clock-skew allowance between our clock and the provider's when matching paid_at to an order window."""

    late_payment_grace_seconds: int = Field(default=600, ge=0)
    """After expiry, keep polling an account this long so a late payment is still seen and kept for review."""

    amount_quarantine_seconds: int = Field(default=600, ge=0, le=86400)
    """After an order stops being pending (paid, expired, closed), no new order gets its (scope, payable amount)
    for this long: a payer who pays twice or late must find no other order waiting at that amount. For expired
    orders it is never shorter than ``late_payment_grace_seconds``."""

    notify_schedule: tuple[int, ...] = DEFAULT_NOTIFY_SCHEDULE
    """Delays in seconds between notify retries; after the last one the notify is marked failed."""

    notify_timeout_seconds: float = Field(default=10.0, gt=0)
    """Per-attempt HTTP timeout for the merchant's notify_url."""

    notify_allow_private: bool = True
    """Let notifies go to loopback and private addresses (127.0.0.0/8, 10/8, 172.16/12, 192.168/16, fc00::/7...):
    merchant sites often run on the same host or network. ``false`` refuses them. Whatever this says, a
    notify never goes to the gateway's own listening addresses or public URL, nor to link-local and cloud
    metadata addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254); the address is checked after DNS
    resolution, when connecting, and redirects are never followed."""

    poll_interval_seconds: float = Field(default=2.5, gt=0)
    """Normal spacing between two transaction reads of one account while it has live orders (counted from the
    previous read's start; a payment waits half of it on average). Never closer than the profile's
    ``min_poll_interval_seconds`` (2 s for the shipped ones). A read costs the gateway a few ms of CPU and no
    browser, so 2.5 s (3 s before reads left the browser) keeps p50 under 1.5 s at 200 accounts."""

    chromium_path: Path | None = None
    """Chromium executable; found automatically when unset: Debian's headless shell
    (/usr/lib/chromium/chromium-headless-shell, half the memory per login) for headless runs, else /usr/bin/chromium,
    chromium-browser or google-chrome."""

    chromium_sandbox: Annotated[Literal["auto", "on", "off"], BeforeValidator(_on_off_auto)] = "auto"
    """Chromium's own sandbox (its renderers in user, PID and network namespaces). ``auto``: on when this
    process can provide it (not root, and allowed to create user namespaces: true as uid 10001 in podman's
    default container; Docker's default seccomp profile refuses it, see docs/operations.md), off otherwise;
    the start logs ``chromium_sandbox`` with the outcome and why. ``on``/``off`` (or true/false) force it.
    Remote browsers (``browser_endpoints``) are asked for the same."""

    browser_agent: bool = True
    """Read provider accounts with the built-in browser agent. Off only for intake-only setups and tests
    that supply their own provider factory; with it off, nothing polls and no payment is confirmed."""

    browser_endpoints: list[str] = Field(default_factory=list)
    """Remote browsers to use instead of launching one: ``ws://`` (playwright run-server) or ``http://`` (CDP)."""

    profiles_dir: Path | None = None
    """Folder of the deployer's own platform profiles (``<slug>.yaml``), read besides the shipped ones: every
    file here is a platform (``mapay platform list``), and a file named like a shipped profile replaces it (a
    fix for a changed back office needs no new release). Unset: only the shipped profiles."""

    shipped_profiles_dir: Path = SHIPPED_PROFILES_DIR
    """Folder of the profiles that come with mapay (``profiles/`` of the source tree). Only an installation
    that keeps them elsewhere (a container image) sets it."""

    notify_concurrency: int = Field(default=10, ge=1, le=200)
    """Most notifies in flight at once; more due jobs wait their turn in the outbox."""

    poll_idle_interval_seconds: float = Field(default=15.0, gt=0)
    """Spacing between reads of an account whose orders have all expired (watching for late payments)."""

    poll_backoff_max_seconds: float = Field(default=120.0, gt=0)
    """Upper bound of the exponential backoff after failed reads of one account."""

    probe_backoff_first_seconds: float = Field(default=30.0, gt=0)
    """A degraded account with no live orders is still read (a probe: log in if needed, read the last
    minutes) until a read succeeds and it is ``ok`` again: the first probe this long after the failure, then
    twice as long after each failed probe. login_failed and needs_human accounts wait for a person."""

    probe_backoff_max_seconds: float = Field(default=600.0, gt=0)
    """Longest wait between two probes of a degraded account."""

    degraded_grace_seconds: float = Field(default=600.0, ge=0)
    """A degraded account keeps taking orders (after every healthy account) for this long from the first
    failure of its spell; its payments are confirmed when it recovers. 0 stops its orders at once."""

    poll_timeout_seconds: float = Field(default=120.0, gt=0)
    """Longest one poll job (login when needed, then reading every page) may take before it counts as failed."""

    expiry_sweep_seconds: float = Field(default=5.0, gt=0)
    """How often pending orders past ``expires_at`` plus the skew allowance are marked expired."""

    admin_session_hours: float = Field(default=12.0, gt=0, le=720)
    """How long an admin console sign-in lasts before the administrator must sign in again."""

    admin_max_failures: int = Field(default=5, ge=1, le=100)
    """Failed admin sign-ins of one username from one client address before that client must wait: after
    this many, each further attempt must come 2 s after the latest failure, then 4, 8, 16 ... seconds (up to
    ``admin_lockout_minutes``); one too early is refused without looking at the password.
    Other clients, and the right password from a client that has not failed, are not held up."""

    admin_lockout_minutes: float = Field(default=15.0, gt=0, le=1440)
    """Longest wait between two sign-in attempts of one username from one client after repeated failures.
    Failures are forgotten after a successful sign-in from that client, or after a day."""

    trusted_proxies: NetworkList = Field(default_factory=list)
    """Reverse proxies whose ``X-Forwarded-For`` names the real client (addresses or CIDRs, separated by
    spaces or commas, e.g. ``127.0.0.1 10.0.0.0/8``). Empty: the header is ignored and the socket peer is the
    client. Behind a proxy that is not listed, every client looks like the proxy."""

    merchant_cache_seconds: float = Field(default=1.0, gt=0, le=60)
    """How long a running gateway may use a merchant (its key, whether it is enabled) from memory before it
    checks the database for changes by another process: a key rotated or a merchant disabled with the CLI
    stops working within this time. The check is one tiny read per period, not per order."""

    header_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    """A connection must deliver a request's headers within this time of opening, or of its first byte after
    the previous answer; slower ones get ``408`` and are closed, so clients dribbling bytes (slowloris)
    cannot hold the server. Idle kept-alive connections are closed after ``keepalive_timeout_seconds``."""

    body_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    """A request's body must have arrived within this time of its headers (``408`` and closed otherwise)."""

    keepalive_timeout_seconds: float = Field(default=75.0, gt=0, le=3600)
    """How long a connection may stay open with nothing sent after its last answer. Keep it longer than the
    reverse proxy's idle time for upstream connections (nginx: ``keepalive_timeout`` 60 s)."""

    max_connections_per_client: int = Field(default=64, ge=0, le=100_000)
    """Most connections one client address may hold open at once; more are closed at once. 0: no cap.
    Behind a reverse proxy every connection comes from the proxy's address: list the proxy in
    ``MAPAY_TRUSTED_PROXIES`` (it is then not capped, and should limit slow clients itself: nginx buffers
    whole requests by default) or raise this above the proxy's upstream connections."""

    shutdown_timeout_seconds: float = Field(default=20.0, gt=0, le=600)
    """On SIGTERM, how long running polls, notifies and requests may take to finish before we stop anyway.
    Give the container runtime more than this before it kills (``docker stop -t``, ``stop_grace_period``)."""

    browser_check_seconds: float = Field(default=300.0, gt=0)
    """How long ``/healthz`` trusts its last real Chromium start (or remote endpoint connect) before the next."""

    metrics_token: SecretStr | None = None
    """When set, ``/metrics`` answers only requests with ``Authorization: Bearer <token>``."""

    browser_headless: bool = True
    """Run Chromium without a window; ``mapay account test --headed`` turns it off for a person at a desktop."""

    browser_idle_seconds: float = Field(default=120.0, gt=0)
    """Close an account's browser context after this long without work (its session state is saved first)."""

    browser_recycle_jobs: int = Field(default=500, ge=1)
    """Replace an account's browser context after this many jobs (long-lived contexts grow in memory)."""

    browser_recycle_minutes: float = Field(default=30.0, gt=0)
    """Replace an account's browser context after this many minutes, restoring its saved session."""

    login_concurrency: int = Field(default=4, ge=1, le=64)
    """Browser logins running at once (each one a context and a renderer); the others queue, the account whose
    oldest live order has waited longest first. Reads do not count: they go through plain HTTP."""

    login_code_wait_seconds: float = Field(default=300.0, gt=0, le=86400)
    """How long a login parked at its one-time-code step keeps its page waiting for the code (SMS codes
    expire after a few minutes). Parked logins give their login slot back, but at most ``login_concurrency``
    of them keep a page (the longest-waiting go first): memory stays bounded when many SMS accounts wait for
    a person. A code typed after that has a new one sent at the next login."""

    browser_timeout_seconds: float = Field(default=20.0, gt=0, le=300)
    """Timeout of one provider page load or API call made through the browser."""

    browser_remote_executable_path: str | None = None
    """Chromium path on the machine behind the ``ws://`` endpoints (a ``playwright run-server`` launches it
    for us, with the offline flags); None means the server's own browser. The server honours the path and
    flags only when started with ``--unsafe``; otherwise it drops them and launches its own."""

    alert_urls: UrlList = Field(default_factory=list)
    """Where owner alerts go: Apprise URLs (``wecombot://KEY``, ``dingtalk://TOKEN``, ``tgram://BOT/CHAT``,
    ``bark://HOST/KEY``, ``schan://KEY``, ``mailtos://...``, ``ntfy://TOPIC``, ``json://HOST/PATH``...),
    separated by spaces or commas. Empty: alerts are only written to the log."""

    alert_degraded_after_seconds: float = Field(default=300.0, ge=0)
    """Alert when an account has been ``degraded`` (reads failing) for longer than this."""

    alert_notify_unacked_minutes: float = Field(default=30.0, ge=0)
    """Alert when a paid order's notify has still not been acknowledged by the merchant after this long."""

    alert_repeat_hours: float = Field(default=6.0, gt=0)
    """The same alert is not sent again within this time, unless its condition cleared and came back."""

    alert_rate_limit: int = Field(default=10, ge=1, le=1000)
    """Most alerts sent per ``alert_rate_window_seconds``; beyond it one summary alert replaces the rest."""

    alert_rate_window_seconds: float = Field(default=600.0, gt=0)
    """The window of ``alert_rate_limit``."""

    alert_send_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    """Longest one alert's delivery to all channels may take; a channel still busy then counts as failed."""

    alert_check_seconds: float = Field(default=15.0, gt=0)
    """How often the database is looked at for conditions the owner must hear about."""

    try_back_office_port: int = Field(default=9101, ge=1, le=65535)
    """Loopback port of the simulated 收钱吧 back office ``mapay try`` starts (or reuses when it answers)."""

    try_site_port: int = Field(default=9100, ge=1, le=65535)
    """Loopback port of the test merchant's site ``mapay try`` starts: it receives the notifies of test orders."""

    @property
    def quarantine_ms(self) -> tuple[int, int]:
        """(after paid or closed, after expired) quarantine of a slot in milliseconds."""
        paid = self.amount_quarantine_seconds * 1000
        return paid, max(paid, self.late_payment_grace_seconds * 1000)

    @property
    def profile_dirs(self) -> tuple[Path, ...]:
        """Where platform profiles are looked up, first match wins: the deployer's folder, then the shipped one."""
        own = () if self.profiles_dir is None else (self.profiles_dir,)
        return tuple(dict.fromkeys([*own, self.shipped_profiles_dir]))

    @property
    def database_path(self) -> Path:
        return self.data_dir / "mapay.sqlite3"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
