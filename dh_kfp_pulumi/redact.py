"""Credentials written into URLs (a KFP `host` with `user:password@`, a signed `code_src`
with `?X-Amz-Signature=...`) are never echoed: every error this project raises, every URL it
keeps in state or outputs, passes through here first.

`url()` gives the URL without its credentials (userinfo dropped, secret query values
replaced), for what is stored (`source_origin`, `url` outputs); `text()` does the same to
every URL inside a message.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
# Query parameters that carry credentials: tokens, keys, passwords and the signatures of
# pre-signed URLs (S3 and GCS `X-Amz-*`/`X-Goog-*`, Azure SAS `sig`).
_SECRET_PARAM = re.compile(
    r"(?i)^(.*token.*|.*secret.*|.*password.*|passwd|pwd|.*api[-_]?key.*|key|sig|signature|"
    r"x-amz-(signature|credential|security-token)|x-goog-(signature|credential)|"
    r"awsaccesskeyid|code|auth|authorization|credentials?)$")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()\[\]{}]+")
_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"]*@")


def url(value: str) -> str:
    """`value` without credentials: `https://u:p@h/x?token=t&a=1` -> `https://h/x?token=***&a=1`."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return _USERINFO.sub(rf"\1{MASK}@", value)
    if not parts.scheme or not parts.netloc:
        return value
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_PARAM.match(k) for k, _ in pairs):
            query = urlencode([(k, MASK if _SECRET_PARAM.match(k) else v) for k, v in pairs],
                              safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def text(message: str) -> str:
    """`message` with every URL in it stripped of its credentials."""
    if "://" not in message:
        return message
    return _URL.sub(lambda m: _masked_url(m.group(0)), message)


def _masked_url(found: str) -> str:
    """In a message, say that something was there: userinfo becomes `***@`."""
    had_userinfo = _USERINFO.match(found) is not None
    clean = url(found)
    if had_userinfo and clean != found:
        scheme, _, rest = clean.partition("://")
        return f"{scheme}://{MASK}@{rest}"
    return _USERINFO.sub(rf"\1{MASK}@", clean)
