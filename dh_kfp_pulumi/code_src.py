"""What a `code_src` names: its scheme, and for a local one the file.

Light on purpose (no pydantic, no network): the spec checks, the fetcher and the
Terraform plugin's remembered checks (`terraform/checks.py`, which hashes the files a
config names without checking it) all read a `code_src` the same way.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def code_src_scheme(value: str) -> str | None:
    """The scheme of a code_src URL, or None for a local path."""
    m = _SCHEME.match(value)
    return m.group(1).lower() if m else None


def local_path(location: str, scheme: str | None, base: str | os.PathLike[str]) -> Path:
    """The file a local `location` names (no scheme, or `file://`), a relative one under
    `base`."""
    path = Path(unquote(urlsplit(location).path)) if scheme else Path(location)
    return path if path.is_absolute() else Path(base) / path
