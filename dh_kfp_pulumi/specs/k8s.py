"""Kubernetes syntax, checked as Kubernetes checks it: quantities (and KFP's narrower forms
of CPU and memory), DNS names, label keys and values, env var names, mount paths."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from dh_kfp_pulumi.specs.fields import DNS_LABEL, DNS_SUBDOMAIN, ENV_NAME, LABEL_NAME

_QUANTITY = re.compile(
    r"^(?P<sign>[+-])?(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE]|[eE][+-]?[0-9]+)?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
QUANTITY_HELP = (
    "a Kubernetes quantity: a number with an optional suffix, binary Ki Mi Gi Ti Pi Ei, "
    "decimal m k M G T P E, or an exponent e3 (e.g. 500m, 0.5, 1Gi, 512Mi, 1e3)"
)

# What PipelineTask.set_cpu_* / set_memory_* accept: narrower than Kubernetes.
_KFP_CPU = re.compile(r"^([0-9]*[.])?[0-9]+m?$")
_KFP_MEMORY = re.compile(r"^[0-9]+(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki)?$")

SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

# Pod label prefixes that KFP and Argo set themselves on every step pod.
RESERVED_LABEL_PREFIXES = ("pipelines.kubeflow.org/", "workflows.argoproj.io/")


def parse_quantity(value: str | int | float) -> Decimal:
    """A Kubernetes quantity as a Decimal; ValueError naming the grammar if it is not one."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"must be {QUANTITY_HELP}")
    text = str(value).strip() if not isinstance(value, str) else value
    match = _QUANTITY.match(text)
    if match is None:
        hint = " (decimal kilo is a lowercase k)" if text.endswith("K") else ""
        raise ValueError(f"not {QUANTITY_HELP}{hint}")
    try:
        number = Decimal(match["number"])
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"not {QUANTITY_HELP}") from None
    if match["sign"] == "-":
        number = -number
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    if suffix:
        return number.scaleb(int(suffix[1:]))
    return number


def _plain(number: Decimal) -> str:
    """A Decimal in plain positional notation, without trailing zeros."""
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def kfp_cpu(value: str | int | float) -> str:
    """The CPU quantity in a form `PipelineTask.set_cpu_*` accepts (it rejects 1e3, 2k)."""
    text = str(value)
    if _KFP_CPU.match(text):
        return text
    return _plain(parse_quantity(value))


def kfp_memory(value: str | int | float) -> str:
    """The memory quantity in a form `set_memory_*` accepts: the user's text, or bytes."""
    text = str(value)
    if _KFP_MEMORY.match(text) and not text.endswith("K"):  # K is not Kubernetes
        return text
    number = parse_quantity(value)
    if number != number.to_integral_value():
        raise ValueError("memory must be a whole number of bytes")
    return str(int(number))


def kfp_accelerator_count(value: str | int | float) -> str:
    """A GPU count as KFP's `set_accelerator_limit` wants it: a whole number."""
    number = parse_quantity(value)
    if number != number.to_integral_value():
        raise ValueError("a GPU count must be a whole number (e.g. '1')")
    return str(int(number))


def check_quantity(value: Any, *, positive: bool = False) -> Any:
    number = parse_quantity(value)
    if number < 0:
        raise ValueError("must not be negative")
    if positive and number == 0:
        raise ValueError("must be greater than zero")
    return value


def check_dns_label(value: str, what: str) -> str:
    """A name Kubernetes uses as a pod volume name (RFC 1123 label, at most 63 characters)."""
    if not isinstance(value, str) or not DNS_LABEL.fullmatch(value) or len(value) > 63:
        raise ValueError(
            f"{what} must be a Kubernetes DNS label: at most 63 lowercase letters, digits "
            "and '-', starting and ending with a letter or digit"
        )
    return value


def check_dns_subdomain(value: str, what: str) -> str:
    """A Kubernetes object name (RFC 1123 subdomain, at most 253 characters)."""
    if not isinstance(value, str) or not DNS_SUBDOMAIN.fullmatch(value) or len(value) > 253:
        raise ValueError(
            f"{what} must be a Kubernetes object name: lowercase letters, digits, '-' and "
            "'.', starting and ending with a letter or digit, at most 253 characters"
        )
    return value


def check_label_key(key: Any) -> str:
    """A Kubernetes label key: an optional DNS-subdomain prefix and '/', then a name."""
    if not isinstance(key, str) or not key:
        raise ValueError("a label key must be a non-empty string")
    prefix, _, name = key.rpartition("/")
    if prefix and (not DNS_SUBDOMAIN.fullmatch(prefix) or len(prefix) > 253):
        raise ValueError(
            "the label key prefix (before '/') must be a DNS subdomain such as example.com"
        )
    if not LABEL_NAME.fullmatch(name) or len(name) > 63:
        raise ValueError(
            "a label key name must be at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return key


def check_label_value(value: Any) -> str:
    """A Kubernetes label value: empty, or like a label name (at most 63 characters)."""
    if not isinstance(value, str):
        raise ValueError("a label value must be a string (quote numbers and booleans)")
    if value and (not LABEL_NAME.fullmatch(value) or len(value) > 63):
        raise ValueError(
            "a label value must be empty or at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return value


def parse_label(text: Any) -> tuple[str, str]:
    """A workflow label as a pod label: `key=value`, or a plain `key` (empty value)."""
    if not isinstance(text, str):
        raise ValueError("a label must be a string, 'key' or 'key=value'")
    key, sep, value = text.partition("=")
    check_label_key(key)
    check_label_value(value if sep else "")
    if key.startswith(RESERVED_LABEL_PREFIXES):
        raise ValueError(
            f"label keys under {' and '.join(RESERVED_LABEL_PREFIXES)} are set by KFP itself"
        )
    return key, value if sep else ""


def check_env_name(name: Any) -> str:
    if not isinstance(name, str) or not ENV_NAME.fullmatch(name):
        raise ValueError(
            "an env var name must be letters, digits, '_', '-' or '.', not starting with a digit"
        )
    return name


def check_mount_path(path: Any) -> str:
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError("must be an absolute path in the container, e.g. /data")
    return path
