"""Step 1 of the parking example: fetch the parkings CSV.

`url` may be an http(s):// or file:// URL or a plain path, so the example runs
without network on the bundled `data/parkings.csv`.
"""

import pathlib
import urllib.parse
import urllib.request


def download(url):
    """Return the bytes at `url`; they become the step's `dataset` artifact."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme in ("http", "https", "file"):
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - schemes checked
            return response.read()
    if scheme and len(scheme) > 1:  # "c:" is a Windows drive, anything longer a scheme
        raise ValueError(
            f"unsupported URL scheme {scheme!r} in {url!r}; use http(s)://, file:// or a path"
        )
    return pathlib.Path(url).expanduser().read_bytes()
