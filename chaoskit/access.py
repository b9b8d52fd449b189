"""Closed doors: who may talk to chaoskit's listeners.

Every listener binds 127.0.0.1 unless told otherwise. A listener bound anywhere
else (every interface, a LAN address, inside a container) requires a token: one
given (`--token`, or the environment variable its CLI names) or one generated and
printed by the CLI; every request must carry it in the `X-Chaoskit-Token` header
(or as `Authorization: Bearer TOKEN`). Requests without it get 401.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

TOKEN_HEADER = "X-Chaoskit-Token"
LINKS_TOKEN_ENV = "CHAOSKIT_LINKS_TOKEN"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"; False for "", 0.0.0.0, :: and names."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def token_required(host: str, token: str | None) -> None:
    """Raise ValueError when `host` is not loopback and there is no token."""
    if not is_loopback(host) and not token:
        raise ValueError(
            f"listening on {host or 'every interface'} needs a token (anyone who can reach "
            f"it could drive chaoskit); give one, or bind 127.0.0.1"
        )


def presented_token(headers: dict[str, str] | object) -> str:
    """The token a request carries: X-Chaoskit-Token, or Authorization: Bearer."""
    get = headers.get  # type: ignore[attr-defined]
    got = get(TOKEN_HEADER) or ""
    if not got:
        auth = get("Authorization") or ""
        if auth.startswith("Bearer "):
            got = auth[len("Bearer ") :]
    return got


def token_ok(expected: str | None, presented: str) -> bool:
    """No token configured: open (a loopback listener). Otherwise a constant-time match."""
    if not expected:
        return True
    return hmac.compare_digest(presented.encode(), expected.encode())


def token_for(host: str, given: str | None, what: str) -> tuple[str | None, str | None]:
    """The token a CLI-started listener uses: the given one; else, when `host` is not
    loopback, a new one. Returns (token, the line to print or None)."""
    if given:
        return given, None
    if is_loopback(host):
        return None, None
    token = new_token()
    return token, f"{what} on {host or 'every interface'}: send {TOKEN_HEADER}: {token}"
