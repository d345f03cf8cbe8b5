"""What KFP objects are named, and how this project's own are recognized.

KFP's pipeline names (`<project>-<name>`: lowercase letters, digits and '-', at most
128), a version's name (the first 16 hex characters of its spec hash) and the marker
each object's description starts with (`dh-kfp:<kind> <project>/<name>`), from which
an import tells the project and name again. `build` and `reconcile` both name things
through here.
"""

from __future__ import annotations

import re

from dh_kfp_pulumi.errors import BuildError

MAX_PIPELINE_NAME = 128
HASH_CHARS = 16  # a version name: this many hex characters of the spec hash


def pipeline_name(project: str, name: str) -> str:
    """`<project>-<name>` in KFP's rule: lowercase letters, digits and '-', at most 128."""
    raw = f"{project}-{name}"
    out = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", raw.lower())).strip("-")
    out = out[:MAX_PIPELINE_NAME].rstrip("-")
    if not out:
        raise BuildError(
            f"cannot make a KFP pipeline name from {raw!r}: it needs letters or digits"
        )
    return out


def short_hash(spec_hash: str) -> str:
    """The version name for a spec hash (sha256 hex, optionally 'sha256:'-prefixed)."""
    return spec_hash.split(":", 1)[-1][:HASH_CHARS]


def marker(kind: str, project: str, name: str) -> str:
    """The description prefix that marks a KFP object as made for this resource."""
    return f"dh-kfp:{kind} {project}/{name}"


def identity_from_marker(description: str, kind: str) -> dict[str, str]:
    """{'project', 'name'} from a description starting with `marker(kind, ...)`, else {}.

    What an import can tell about an object this project made (KFP keeps the marker).
    """
    prefix = f"dh-kfp:{kind} "
    if not description.startswith(prefix):
        return {}
    project, sep, name = description[len(prefix) :].split(" ", 1)[0].partition("/")
    return {"project": project, "name": name} if sep and project and name else {}


def version_description(kind: str, project: str, name: str, spec_hash: str) -> str:
    """A version's description: its marker and the full spec hash it was built from."""
    return f"{marker(kind, project, name)} sha256:{spec_hash}"


def hash_from_description(description: str) -> str:
    """The full spec hash a version's description records ('' if none)."""
    for word in description.split():
        if word.startswith("sha256:"):
            return word[len("sha256:") :]
    return ""
