"""Checks of single field values, shared by the models (no IO).

Each check raises ValueError with a message saying what is valid; the converter in
`validation` adds the field path and the bad value.
"""

from __future__ import annotations

import keyword
import re
import uuid as _uuid
from typing import Annotated, Any

from packaging.requirements import InvalidRequirement, Requirement
from pydantic import BeforeValidator

from dh_kfp_pulumi.code_src import code_src_scheme

MAX_NAME = 63  # so `<project>-<name>` fits KFP's 128-character pipeline name
NAME_RULE = "letters, digits, '-' or '_', starting with a letter or digit, at most 63 characters"
# KFP keeps descriptions in MySQL TEXT columns (65,535 bytes); dh-kfp adds its owner mark.
MAX_DESCRIPTION_BYTES = 60_000
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")

HANDLER_RULE = "'function' or 'module:function' (Python identifiers; the module may be dotted, e.g. 'pkg.mod:main')"

# code_src forms, as `scheme://`; a value without a scheme is a local path.
CODE_SRC_SCHEMES = ("file", "http", "https", "s3", "zip+s3", "zip+http", "zip+https", "zip+file")
CODE_SRC_RULE = (
    "a local path (relative to the Pulumi program), file://, http://, https://, s3://bucket/key, "
    "zip+s3://bucket/key.zip, zip+http(s)://host/path.zip, zip+file:// or a local .zip path"
)

# Kubernetes' name syntaxes, for `fullmatch` (specs.pod checks pod settings with them too).
LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")  # at most 63 in a label
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
ENV_NAME = re.compile(r"[-._A-Za-z][-._A-Za-z0-9]*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def check_name(value: str) -> str:
    if not _NAME.fullmatch(value) or len(value) > MAX_NAME:
        raise ValueError(f"must be {NAME_RULE}")
    return value


def check_description(value: str) -> str:
    size = len(value.encode("utf-8"))
    if size > MAX_DESCRIPTION_BYTES:
        raise ValueError(
            f"is {size} bytes of UTF-8; at most {MAX_DESCRIPTION_BYTES} (KFP stores "
            "descriptions in a 65,535-byte column and dh-kfp adds its owner mark)"
        )
    return value


def _strict_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false (a boolean, not a string or a number)")
    return value


def _strict_int(value: Any) -> int:
    # Pulumi carries every number as a float: an integral float is the int it was.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number (not a string, a boolean or a fraction)")
    return value


# Booleans and integers without pydantic's lax coercions ("yes" -> True, "5" -> 5).
StrictBool = Annotated[bool, BeforeValidator(_strict_bool)]
StrictInt = Annotated[int, BeforeValidator(_strict_int)]


def parse_handler(value: str) -> tuple[str | None, str]:
    """'mod.sub:fn' -> ('mod.sub', 'fn'); 'fn' -> (None, 'fn')."""
    module, sep, function = value.rpartition(":")
    parts = ([*module.split(".")] if sep else []) + [function]
    if not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
        raise ValueError(f"must be {HANDLER_RULE}")
    return (module if sep else None), function


def check_uuid4(value: str) -> str:
    try:
        parsed = _uuid.UUID(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.version != 4 or str(parsed) != value.lower():
        raise ValueError(
            "must be a UUID4 in canonical form, e.g. '77fcf9d1-3fb6-4117-9cba-e500f1223e59' "
            "(python -c 'import uuid; print(uuid.uuid4())')"
        )
    return value


def check_code_src(value: str) -> str:
    if not value.strip():
        raise ValueError(f"must not be empty; expected {CODE_SRC_RULE}")
    scheme = code_src_scheme(value)
    if scheme is None:
        return value
    if scheme not in CODE_SRC_SCHEMES:
        raise ValueError(f"unsupported scheme '{scheme}://'; expected {CODE_SRC_RULE}")
    rest = value[len(scheme) + 3 :]
    if scheme.endswith("s3"):
        bucket, _, key = rest.partition("/")
        if not bucket or not key:
            raise ValueError(f"must be {scheme}://bucket/key (bucket and key both non-empty)")
    elif scheme.endswith(("http", "https")) and not rest.split("/", 1)[0]:
        raise ValueError(f"must be {scheme}://host/path (no host given)")
    elif not rest:
        raise ValueError(f"must be {scheme}://<path> (no path given)")
    return value


def check_image(value: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise ValueError(
            "must be a container image reference, e.g. 'python:3.11' or 'registry/team/app'"
        )
    return value


def image_has_tag(image: str) -> bool:
    """True when the image already names a tag or a digest ('app:1', 'app@sha256:...')."""
    return "@" in image or ":" in image.rsplit("/", 1)[-1]


def check_tag(value: str) -> str:
    if not _TAG.fullmatch(value):
        raise ValueError(
            "must be an image tag: letters, digits, '_', '.' or '-', at most 128, "
            "not starting with '.' or '-'"
        )
    return value


def image_ref(image: str | None, tag: str | None) -> str | None:
    """'debian' + '1.22.4' -> 'debian:1.22.4'; the tag alone is never used."""
    if image is None:
        return None
    return f"{image}:{tag}" if tag else image


def check_label(value: str) -> str:
    """A label is a Kubernetes pod label: 'key' or 'key=value' (key may carry a prefix/)."""
    key, sep, val = value.partition("=")
    prefix, slash, name = key.rpartition("/")
    ok = len(name) <= 63 and bool(LABEL_NAME.fullmatch(name))
    if slash:
        ok = ok and len(prefix) <= 253 and bool(DNS_SUBDOMAIN.fullmatch(prefix))
    if sep and val:
        ok = ok and len(val) <= 63 and bool(LABEL_NAME.fullmatch(val))
    if not ok:
        raise ValueError(
            "must be a Kubernetes pod label, 'key' or 'key=value': key and value of at most 63 "
            "letters, digits, '-', '_' or '.', starting and ending with a letter or digit "
            "(the key may have a DNS prefix, 'example.org/team')"
        )
    return value


def pod_labels(labels: list[str]) -> dict[str, str]:
    """['team=data', 'nightly'] -> {'team': 'data', 'nightly': ''} (a bare label has an empty value)."""
    out: dict[str, str] = {}
    for label in labels:
        key, _, val = label.partition("=")
        out[key] = val
    return out


def check_requirement(value: str) -> str:
    try:
        Requirement(value)
    except InvalidRequirement as exc:
        first = str(exc).splitlines()[0]
        raise ValueError(
            f"must be a PEP 508 requirement such as 'pandas>=2' or 'pkg @ https://host/pkg.whl' ({first})"
        ) from None
    return value


def check_env_name(value: str) -> str:
    if not ENV_NAME.fullmatch(value):
        raise ValueError(
            "must be an environment variable name: letters, digits, '_', '-' or '.', not starting with a digit"
        )
    return value
