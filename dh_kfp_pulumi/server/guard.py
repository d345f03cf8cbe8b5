"""Who the embedded server answers: its user, not any web page the user's browser opens.

The server executes the code it is sent, so a page that could POST to it could run code on
the user's machine. Three checks, before any route:

- **Host**: only a loopback name (`localhost`, `127.0.0.1`, `[::1]`) or the address it was
  bound to; any other `Host` header is a DNS-rebinding attempt (a page whose name now
  resolves to 127.0.0.1) and is refused.
- **Origin**: a write (POST, PUT, PATCH, DELETE) from a browser must come from the server's
  own origin. kfp.Client and other programs send no `Origin`, and pass.
- **Token**: bound to a non-loopback address, every request needs the server's token, as
  KFP's bearer token (`Authorization: Bearer ...`, what `kfp.Client(existing_token=...)`
  sends) or, for the web pages, the cookie that `/?token=...` sets.

Refusals are KFP-shaped errors (code 7 PERMISSION_DENIED, 16 UNAUTHENTICATED).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN_FILE = "token"
COOKIE = "dh_kfp_token"


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_token(data_dir: Path, given: str | None = None) -> str:
    """The token of a server bound beyond loopback: `given`, else the data dir's (made once,
    mode 0600)."""
    path = data_dir / TOKEN_FILE
    if given:
        token = given
    elif path.exists():
        return path.read_text().strip()
    else:
        token = secrets.token_urlsafe(32)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(token + "\n")
    return token


def read_token(data_dir: Path) -> str | None:
    """The data dir's server token, if its server made one (for clients of the local stack)."""
    path = data_dir / TOKEN_FILE
    if not path.exists():
        return None
    return path.read_text().strip() or None


def _hostname(host_header: str) -> str:
    """`Host` without its port, brackets dropped: `[::1]:8888` -> `::1`."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class Guard:
    """ASGI middleware: the three checks above, then the app."""

    def __init__(self, app: Any, *, bind_host: str, token: str | None):
        self.app = app
        self.token = token
        wildcard = bind_host in ("0.0.0.0", "::", "")
        # a wildcard bind has no one name to check: the token (required there) guards it
        self.any_host = wildcard
        self.hosts = LOOPBACK_NAMES | {bind_host.strip("[]").lower()}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        refusal = self._refusal(scope, headers, host)
        if refusal is not None:
            await _answer(send, *refusal)
            return
        given = _login_token(scope)
        if self.token and given is not None and hmac.compare_digest(given, self.token):
            await _login(send, self.token)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: dict, headers: dict[str, str],
                 host: str) -> tuple[int, int, str] | None:
        name = _hostname(host).lower()
        if not self.any_host and name not in self.hosts and not is_loopback(name):
            return (403, 7, f"dh-kfp server: Host {host!r} refused: this server answers only "
                            f"to {', '.join(sorted(self.hosts))} (a DNS-rebinding guard)")
        if scope["method"] in WRITE_METHODS:
            origin = headers.get("origin")
            if origin is not None and not _same_origin(origin, host):
                return (403, 7, f"dh-kfp server: a write from origin {origin!r} refused: only "
                                "this server's own pages, or programs that send no Origin "
                                "(kfp.Client), may change it")
            if headers.get("sec-fetch-site") == "cross-site":
                return (403, 7, "dh-kfp server: a cross-site write refused")
        if self.token and not self._authorized(headers, scope):
            return (401, 16, "dh-kfp server: this server listens beyond loopback and needs its "
                             "token: `Authorization: Bearer <token>` (kfp.Client(existing_token="
                             "...)); the token is in the data dir's `token` file")
        return None

    def _authorized(self, headers: dict[str, str], scope: dict) -> bool:
        assert self.token is not None
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and hmac.compare_digest(auth[7:].strip(),
                                                                      self.token):
            return True
        for part in headers.get("cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == COOKIE and hmac.compare_digest(value, self.token):
                return True
        given = _login_token(scope)
        return given is not None and hmac.compare_digest(given, self.token)


def _login_token(scope: dict) -> str | None:
    """The `token` of a `GET /?token=...` (the web page's login), else None."""
    if scope["method"] != "GET" or scope["path"] != "/":
        return None
    given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return given[0] if given else None


def _same_origin(origin: str, host: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


async def _answer(send: Any, status: int, code: int, message: str) -> None:
    body = json.dumps({"code": code, "message": message, "details": []}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _login(send: Any, token: str) -> None:
    """`/?token=...` from the user: the token becomes a same-site cookie, the URL loses it."""
    cookie = f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/".encode()
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", b"/"), (b"set-cookie", cookie),
                            (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
