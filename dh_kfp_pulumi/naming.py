"""What KFP objects are named, and how this project's own are recognized.

KFP's pipeline names (`<project>-<name>`: lowercase letters, digits and '-', at most
128), a version's name (the first 16 hex characters of its spec hash) and the owner mark
every object we make carries in its description: `dh-kfp:<kind> <project>/<name>
owner=<engine>/<stack>` (a line of its own after a user's pipeline description, else
the description's start). From the mark an import tells the project and name again, a
create adopts only what the same owner made (a retry after a crash), and a destroy
leaves alone what another stack or tool made. `build` and `reconcile` both name things
through here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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


def owner_of(engine: str, stack: str) -> str:
    """`<engine>/<stack>`: who a mark says made an object (`pulumi/dev`, `terraform/default`)."""
    stack = re.sub(r"\s+", "-", stack.strip()) or "default"
    return f"{engine}/{stack}"


def marker(kind: str, project: str, name: str, owner: str = "") -> str:
    """The mark of a KFP object made for this resource (`owner` "": a mark without one)."""
    base = f"dh-kfp:{kind} {project}/{name}"
    return f"{base} owner={owner}" if owner else base


@dataclass(frozen=True)
class Mark:
    """What an owner mark says: the kind, project and name made for, and by whom."""

    kind: str
    project: str
    name: str
    owner: str  # "" in marks written before owners were recorded

    def __str__(self) -> str:
        return f"{self.kind} {self.project}/{self.name} of {self.owner or 'an unrecorded owner'}"


def mark_of(description: str) -> Mark | None:
    """The owner mark in a description (its first line that starts with `dh-kfp:`), if any."""
    for line in description.splitlines():
        if not line.startswith("dh-kfp:"):
            continue
        words = line.split()
        kind = words[0][len("dh-kfp:") :]
        project, sep, name = (words[1] if len(words) > 1 else "").partition("/")
        if not (kind and sep and project and name):
            continue
        owner = next((w[len("owner=") :] for w in words[2:] if w.startswith("owner=")), "")
        return Mark(kind, project, name, owner)
    return None


def marked_description(user_description: str | None, mark: str) -> str:
    """A pipeline's description: the user's text, then the mark on a line of its own."""
    return f"{user_description.rstrip()}\n\n{mark}" if user_description else mark


def identity_from_marker(description: str, kind: str) -> dict[str, str]:
    """{'project', 'name'} from a description carrying a mark of this kind, else {}.

    What an import can tell about an object this project made (KFP keeps the mark).
    """
    mark = mark_of(description)
    if mark is None or mark.kind != kind:
        return {}
    return {"project": mark.project, "name": mark.name}


def version_description(
    kind: str, project: str, name: str, spec_hash: str, owner: str = ""
) -> str:
    """A version's description: its mark and the full spec hash it was built from."""
    return f"{marker(kind, project, name, owner)} sha256:{spec_hash}"


def hash_from_description(description: str) -> str:
    """The full spec hash a version's description records ('' if none)."""
    for word in description.split():
        if word.startswith("sha256:"):
            return word[len("sha256:") :]
    return ""
