"""Checks remembered across the plugin processes of Terraform's commands.

Terraform starts the plugin afresh three times per command, and a no-op `terraform plan`
checks every resource twice (validation, then the plan): each check imports the spec
models (pydantic, ~0.1 s) and each workflow's builds its IR to learn `spec_hash` (kfp,
~0.3 s). A check is a pure function of the resource's props, the text of the local files its
`code_src` names, the build settings, the working directory and the code doing the
checking, so a result is kept under a key made of exactly those, and a later process
with the same key takes it instead of reading sources and checking again.

- A source fetched over the network is read at every plan, so a plan of a resource with
  one is never remembered (a validation never fetches: it is).
- Only clean results are kept: a config with problems is checked (and its problems shown)
  every time. A plan's inputs are kept only if they are fully known and come back from
  JSON equal to what check returned.
- The code is part of the key: the text of every module of this package, the Python
  version, and the installed kfp, kfp-kubernetes, pydantic, pydantic-core and PyYAML
  (their files' identity), so an upgrade or an edit never meets an old result.
- Entries live in the user's cache (`$XDG_CACHE_HOME/dh-kfp/checks`, 0700), one file
  each, written atomically; unused ones go after `KEEP_DAYS`. `DH_KFP_CHECK_CACHE` set
  to `0` turns the memo off, set to an absolute path puts it there; where the cache
  cannot be written, checks simply run.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from dh_kfp_pulumi.code_src import code_src_scheme, local_path

FORMAT = 1  # bump when what an entry holds changes
KEEP_DAYS = 30
PRUNE_EVERY = 86400.0  # seconds between two sweeps of old entries
# Installed packages whose code decides a check's result (the build: kfp's compiler).
PACKAGES = ("kfp", "kfp/kubernetes", "pydantic", "pydantic_core", "yaml")


def cache_folder() -> str | None:
    """`$XDG_CACHE_HOME/dh-kfp` (else `~/.cache/dh-kfp`); None when there is no absolute
    home for it (never a `~` folder in the working directory)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(cache, "dh-kfp") if os.path.isabs(cache) else None


@functools.cache
def code_fingerprint() -> str:
    """What the checking code is: this package's text and the installed packages' files.

    Found by path, never imported (importing kfp is what the memo saves).
    """
    digest = hashlib.sha256(f"{FORMAT} {sys.version}".encode())
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for folder, subfolders, files in os.walk(package):
        subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
        for name in sorted(f for f in files if f.endswith(".py")):
            path = os.path.join(folder, name)
            digest.update(os.path.relpath(path, package).encode() + b"\0")
            with open(path, "rb") as handle:
                digest.update(handle.read())
    for relative in PACKAGES:
        digest.update(f"\0{relative}:{_installed(relative)}".encode())
    return digest.hexdigest()


def _installed(relative: str) -> str:
    """The identity of an installed package's `__init__.py` (a reinstall rewrites it)."""
    for entry in sys.path:
        path = os.path.join(entry or ".", relative, "__init__.py")
        try:
            st = os.stat(path)
        except OSError:
            continue
        return f"{os.path.abspath(path)} {st.st_size} {st.st_mtime_ns} {st.st_ino}"
    return "absent"


def local_sources(props: Mapping[str, Any], *, fetched: bool) -> list[list[str]] | None:
    """[code_src, sha256 of the file] for each local `code_src` of a workflow's props (its
    own and its functions'), paths relative to the working directory.

    None when the props cannot be keyed: a file that cannot be read (the real check says
    why), or a remote source when `fetched` (a plan fetches it, and its text may have
    changed). Without `fetched` (a validation, which never fetches) a remote source is
    keyed by its URL alone.
    """
    functions = props.get("functions")
    specs = [props, *(f for f in functions if isinstance(f, Mapping))] \
        if isinstance(functions, list) else [props]
    out = []
    for spec in specs:
        code_src = spec.get("code_src")
        if not isinstance(code_src, str):
            continue
        scheme = code_src_scheme(code_src)
        if scheme not in (None, "file"):  # a `zip+file://` archive too: never kept
            if fetched:
                return None
            continue
        try:
            with open(local_path(code_src, scheme, os.getcwd()), "rb") as handle:
                out.append([code_src, hashlib.sha256(handle.read()).hexdigest()])
        except OSError:
            return None
    return out


def _tagged(value: Any, unknown: object) -> Any:
    """JSON of props in which every container is tagged, so the unknown value's own tag
    can be told from any data. Raises TypeError on a value with no JSON form."""
    if value is unknown:
        return ["?"]
    if isinstance(value, Mapping):
        return ["m", {str(k): _tagged(v, unknown) for k, v in value.items()}]
    if isinstance(value, list | tuple):
        return ["l", [_tagged(v, unknown) for v in value]]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"no JSON form for {type(value).__name__}")


def _settings(config: Any) -> dict[str, Any]:
    """The provider settings a check may read: all but the token."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name != "token"}


class CheckMemo:
    """Clean check results by key, in one folder (None: remember nothing)."""

    def __init__(self, folder: str | None, *, clock: Callable[[], float] = time.time):
        self.folder = folder
        self.clock = clock
        self.hits = 0
        self.misses = 0

    @classmethod
    def default(cls) -> CheckMemo:
        """The memo `DH_KFP_CHECK_CACHE` names (`0`: none), else the user's."""
        setting = os.environ.get("DH_KFP_CHECK_CACHE", "").strip()
        if setting.lower() in ("0", "false", "no", "off"):
            return cls(None)
        if os.path.isabs(setting):
            return cls(setting)
        base = cache_folder()
        return cls(os.path.join(base, "checks") if base else None)

    def key(self, stage: str, kind: str, props: Mapping[str, Any], config: Any) -> str | None:
        """The key of one check of props as configured (sources not read yet; `stage`:
        "validate" or "plan"); None when they cannot be keyed (see `local_sources`, or a
        value with no JSON form): that check is not remembered."""
        if self.folder is None:
            return None
        from dh_kfp_pulumi.reconcile.common import UNKNOWN

        files = local_sources(props, fetched=stage != "validate") if kind == "workflow" else []
        if files is None:
            return None
        try:
            text = json.dumps(
                [code_fingerprint(), stage, kind, os.getcwd(), files,
                 _tagged(dict(props), UNKNOWN), _tagged(_settings(config), UNKNOWN)],
                sort_keys=True, separators=(",", ":"), allow_nan=False,
            )  # fmt: skip
        except (TypeError, ValueError):
            return None
        return hashlib.sha256(text.encode()).hexdigest()

    def _path(self, key: str) -> str:
        assert self.folder is not None
        return os.path.join(self.folder, f"{key}.json")

    def get(self, key: str | None) -> dict[str, Any] | None:
        """The inputs kept under `key`, or None."""
        if key is None or self.folder is None:
            return None
        path = self._path(key)
        try:
            with open(path, encoding="utf-8") as handle:
                entry = json.load(handle)
            os.utime(path)  # used: kept another KEEP_DAYS
        except (OSError, ValueError):
            self.misses += 1
            return None
        if not isinstance(entry, dict) or entry.get("format") != FORMAT:
            self.misses += 1
            return None
        inputs = entry.get("inputs")
        if not isinstance(inputs, dict):
            self.misses += 1
            return None
        self.hits += 1
        return inputs

    def put(self, key: str | None, inputs: Mapping[str, Any]) -> bool:
        """Keep clean `inputs` under `key`; False (nothing kept) when they have no exact
        JSON form (an unknown value, a tuple) or the cache cannot be written."""
        if key is None or self.folder is None:
            return False
        from dh_kfp_pulumi.reconcile.common import is_unknown

        if is_unknown(dict(inputs)):
            return False
        try:
            text = json.dumps({"format": FORMAT, "inputs": inputs}, sort_keys=True)
            if json.loads(text)["inputs"] != inputs:
                return False
        except (TypeError, ValueError):
            return False
        try:
            os.makedirs(self.folder, mode=0o700, exist_ok=True)
            path = self._path(key)
            temporary = f"{path}.{os.getpid()}"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(temporary, path)  # atomic: a process reading it sees a whole entry
        except OSError:
            return False
        self._prune()
        return True

    def _prune(self) -> None:
        """Entries unused for KEEP_DAYS go, at most once per PRUNE_EVERY."""
        assert self.folder is not None
        stamp = os.path.join(self.folder, ".pruned")
        now = self.clock()
        try:
            if now - os.stat(stamp).st_mtime < PRUNE_EVERY:
                return
        except OSError:
            pass
        try:
            with open(stamp, "w"):
                pass
            os.utime(stamp, (now, now))
            for entry in os.scandir(self.folder):
                if entry.name.endswith(".json") and \
                        now - entry.stat().st_mtime > KEEP_DAYS * 86400:
                    os.unlink(entry.path)
        except OSError:
            pass
