"""Container HEALTHCHECK: exit 0 when the local ``/healthz`` answers 200, else print why and exit 1.

Standard library only and no settings parsing, so the check costs little every 30 seconds.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 12


def healthz_url() -> str:
    host = os.environ.get("MAPAY_HOST", "127.0.0.1")
    if host in ("", "0.0.0.0", "::"):  # a wildcard bind is reachable on loopback
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{os.environ.get('MAPAY_PORT', '8000')}/healthz"


def main() -> int:
    url = healthz_url()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            print(response.read().decode(errors="replace"))
            return 0
    except urllib.error.HTTPError as exc:
        print(f"{url}: HTTP {exc.code} {exc.read().decode(errors='replace')}", file=sys.stderr)
    except OSError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
