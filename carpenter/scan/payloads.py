"""Typed payloads: the facts a fixable finding hands to `carpenter fix`.

A rule and its fixer share one frozen struct (in the spirit of ruff's violation structs): the
rule fills it, `fix` dispatches on its type and reads typed fields instead of digging through a
dict with fallbacks. `to_dict()` gives the `Finding.data` keys the rule wrote before payloads
existed (unset ones left out), so the snapshots and anything reading `data` see the same facts.
Every rule with `fixable = True` attaches one; fix/engine.py:_run_fixer has one branch per type.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from carpenter.core.records import record


@record(frozen=True, slots=True)
class Payload:
    """The base of every payload type: a rule's typed facts for its fixer."""

    def to_dict(self) -> dict[str, Any]:
        """Every field that has a value; tuples as lists (as `data` held them)."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None:
                continue
            out[item.name] = list(value) if isinstance(value, tuple) else value
        return out


@record(frozen=True, slots=True)
class PipPin(Payload):
    """A pip requirement to pin: on a RUN line, in a requirements file or an environment.yml.

    `spec_offset`/`spec_end_offset` locate the version specifier when the requirement is written
    as one plain word (where `--strategy constraints` can point); `file` is the requirements
    file relative to the context; `manager` is "pip" for the `pip:` section of an environment.yml.
    """

    package: str | None
    requirement: str
    extras: tuple[str, ...] | None = None
    marker: str | None = None
    specifier: str | None = None
    spec_offset: int | None = None
    spec_end_offset: int | None = None
    file: str | None = None
    manager: str | None = None


@record(frozen=True, slots=True)
class SecretMove(Payload):
    """A secret to move out of the Dockerfile into a `RUN --mount=type=secret`.

    `variable` is the ENV/ARG (or assignment) holding it, if any; `secret_kind` is the detector's
    kind ("huggingface-token", ..., or "placeholder" when no real value is written).
    """

    secret_kind: str
    variable: str | None = None
    fingerprint: str | None = None
    confidence: str | None = None
    instruction: str | None = None


@record(frozen=True, slots=True)
class AptPackage(Payload):
    """An apt package installed without `=version` (APT001); fix freezes the stage's apt
    sources at the snapshot date, which pins it and every other package of the stage."""

    package: str
    tool: str


@record(frozen=True, slots=True)
class CondaPin(Payload):
    """A conda spec to pin: on a `conda install/create` line (CONDA001, `tool` is conda, mamba
    or micromamba) or in an environment file (CONDA002, no tool)."""

    package: str
    tool: str | None = None
    manager: str = "conda"


@record(frozen=True, slots=True)
class ImageDigest(Payload):
    """An image reference pinned by tag only (IMG002); `image` has build arguments resolved,
    `where` says which text it is: from | copy-from | mount-from."""

    image: str
    tag: str | None = None
    where: str | None = None


@record(frozen=True, slots=True)
class GitClone(Payload):
    """A `git clone` that builds a moving ref (GIT001): `ref` is the branch or tag it checks
    out (None: the default branch), `directory` the clone's target folder when given."""

    url: str
    ref: str | None = None
    directory: str | None = None


@record(frozen=True, slots=True)
class VcsPin(Payload):
    """A pip `git+URL` requirement without a commit (GIT002)."""

    url: str | None
    ref: str | None = None
    package: str | None = None


@record(frozen=True, slots=True)
class CudaBuild(Payload):
    """A CUDA extension compiled during the build (CUDA001), with the rule's reading of the
    image (`torch`, `cuda`, `python`: None where the image does not say) that picks the
    prebuilt wheel."""

    package: str
    version: str | None = None
    build_minutes: tuple[int, int] | None = None
    prebuilt_alternative: str | None = None
    prebuilt_url: str | None = None
    torch: str | None = None
    cuda: str | None = None
    python: str | None = None


@record(frozen=True, slots=True)
class Download(Payload):
    """A build-time download (DL001). Hub downloads name `repo` (and the `revision` asked
    for, None: main); other downloads name the `function` or command and its `target` or
    `source_url`; `script`/`script_line` locate a download inside a script the RUN executes.
    fix pins the Hub revision it finds at the finding's place and explains the rest."""

    repo: str | None = None
    revision: str | None = None
    function: str | None = None
    target: str | None = None
    source_url: str | None = None
    script: str | None = None
    script_line: int | None = None
    script_path: str | None = None  # the script as a path from here (SARIF relatedLocations)
