"""Image references a Dockerfile pulls: FROM bases, `COPY --from=<image>`, mounts from images."""

from __future__ import annotations

from carpenter.core.lazyre import lazy_compile
from carpenter.core.records import record
from carpenter.model.dockerfile import Dockerfile, Instruction, Stage
from carpenter.model.variables import expand

_DIGEST = lazy_compile(r"@sha256:[0-9a-fA-F]{64}$")


@record(eq=False, slots=True)
class ImageRef:
    """An image reference (FROM, COPY --from, RUN --mount from=) with build arguments resolved."""

    raw: str  # as written
    ref: str | None  # variables resolved; None when a variable had no value
    offset: int
    end_offset: int
    instruction: Instruction
    stage: Stage | None  # the stage whose FROM this is (None for --from references)
    where: str = "from"  # from | copy-from | mount-from: which text [offset, end_offset) is

    @property
    def repository(self) -> str:
        return split_ref(self.ref or "")[0]

    @property
    def tag(self) -> str | None:
        return split_ref(self.ref or "")[1]

    @property
    def digest(self) -> str | None:
        return split_ref(self.ref or "")[2]


def split_ref(ref: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of `registry:5000/name:tag@sha256:...`."""
    digest = None
    if "@" in ref:
        ref, _, digest = ref.partition("@")
    name, tag = ref, None
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        name, tag = ref[:colon], ref[colon + 1 :]
    return name, tag or None, digest or None


def has_digest(ref: str) -> bool:
    return _DIGEST.search(ref) is not None


def image_refs(dockerfile: Dockerfile) -> list[ImageRef]:
    """Every external image the build pulls (stage references and `scratch` excluded)."""
    refs: list[ImageRef] = []
    for stage in dockerfile.stages:
        if stage.is_stage_ref or stage.base_raw.lower() == "scratch" or not stage.base_raw:
            continue
        if stage.base is not None and stage.base.lower() == "scratch":
            continue
        span = stage.base_span
        refs.append(ImageRef(stage.base_raw, stage.base, span.offset, span.end_offset,
                             stage.instruction, stage))
    for inst in dockerfile.instructions:
        if inst.keyword not in ("COPY", "ADD", "RUN"):
            continue
        for token in inst.flag_tokens:
            raw = _from_value(token.text)
            if raw is None:
                continue
            resolved, missing = expand(raw, inst.vars)
            if _is_stage(dockerfile, resolved, inst):
                continue
            start = token.offset + token.text.index(raw)
            where = "mount-from" if token.text.startswith("--mount=") else "copy-from"
            refs.append(ImageRef(raw, None if missing else resolved, start, start + len(raw),
                                 inst, None, where))
    return refs


def _from_value(flag: str) -> str | None:
    if flag.startswith("--from="):
        return flag[len("--from="):] or None
    if flag.startswith("--mount="):
        for part in flag[len("--mount="):].split(","):
            key, _, value = part.partition("=")
            if key == "from" and value:
                return value
    return None


def _is_stage(dockerfile: Dockerfile, name: str, inst: Instruction) -> bool:
    if name.isdigit():
        return True
    lowered = name.lower()
    return any(s.name and s.name.lower() == lowered for s in dockerfile.stages)
