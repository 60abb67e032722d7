"""CTX006: absolute paths of the submitter's machine in COPY/ADD, ENV, ARG, RUN or CMD."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.core.lazyre import lazy_compile
from carpenter.model.context import HOST_PATH
from carpenter.model.dockerfile import Dockerfile
from carpenter.model.shell import scripts_of
from carpenter.model.variables import expand
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule

# Host folders that cannot be image paths by accident (in RUN/ENV/CMD `~/` and /root, /tmp are
# the container's own and are not reported).
# Numbered mounts (`/data1/`, `/disk2/`, `/nvme0/`, `/ssd/`, `/raid/`) are how shared GPU
# servers name their drives; an image never has them unless the Dockerfile creates them.
HOST_IN_VALUES = lazy_compile(
    r"(?<![\w/.$-])(?:/home/[^/\s\"':]+/|/Users/[^/\s\"':]+/|/mnt\d*/|/media/|/data\d*/"
    r"|/scratch\d*/|/nfs\d*/|/gpfs/|/lustre/|/storage\d*/|/datasets?/|/Volumes/"
    r"|/(?:disk|ssd|hdd|nvme|raid)\d*/|[A-Za-z]:\\\\)[^\s\"':;,]*"
)
# The path, or the name it is assigned to, says it holds weights, checkpoints or data.
CUE = lazy_compile(
    r"(?i)weights?|ckpt|checkpoint|models?\b|model[_-]|llama|mistral|lora|adapter|peft|dataset|"
    r"data\b|data[_/-]|corpus|\.(?:bin|safetensors|pt|pth|ckpt|gguf|onnx|h5|pkl|npz|npy|"
    r"parquet|arrow|jsonl|json|csv)\b"
)
# Generic mount-point folders: also common inside images and as run-time volumes, so a value
# there is only reported when it is read as an input (not a cache, output or log location).
WEAK_PREFIX = lazy_compile(r"^/(?:mnt\d*|data\d*|scratch\d*|storage\d*|datasets?)/")
WRITTEN = lazy_compile(r"(?i)cache|hf_home|_home$|output|out$|out_?dir|save|log|tmp|temp")
# Options and commands whose argument is a folder the build creates inside the image.
CREATES = frozenset({"--local-dir", "--local_dir", "--output-dir", "--output_dir", "-O", "-o",
                     "-P", "--cache-dir", "--cache_dir", "--target", "-t", "--directory-prefix"})
CREATING_COMMANDS = frozenset({"mkdir", "touch", "ln", "cp", "mv", "install", "useradd",
                               "adduser", "chown", "chmod"})


class AbsoluteHostPath(Rule):
    """Report paths of the developer's machine used as build inputs or model locations.

    ## What it does
    - COPY/ADD sources written as host paths (`/home/alice/...`, `/Users/...`, `/mnt/...`,
      `/data/...`, `C:\\...`, `~/...`) that do not exist inside the build context: Docker reads
      every source relative to the context, never from the host.
    - ENV/ARG values (`ENV LORA_WEIGHTS=/data1/alice/lora`, also the legacy `ENV NAME value`
      form) and RUN/CMD/ENTRYPOINT words that point weights, checkpoints or data at such
      folders, or at the numbered drives of shared GPU servers (`/data1/`, `/disk2/`,
      `/nvme0/`, `/ssd/`, `/raid/`), when nothing in the Dockerfile creates that folder in the
      image.

    Not reported: a folder that a WORKDIR, VOLUME, COPY/ADD target, `mkdir`, `git clone` or a
    download option creates (`$VAR` targets are expanded: `COPY lora/ $LORA_PATH`); the image's
    own folders (`/usr`, `/opt/conda`, `/workspace`, `/root`, `/tmp`); cache, output and log
    locations under generic mounts (`HF_HOME=/data1/hf-cache`), which run time creates.

    ## Why it matters
    These paths exist on the machine that wrote the Dockerfile only. The build fails with "not
    found", or the image builds and the server dies at start-up looking for its weights.

    ## Example
    ```dockerfile
    COPY /home/alice/llama-2-7b-lora /app/adapter
    ENV MODEL_PATH=/mnt/nfs/alice/checkpoints/final
    ENV LORA_WEIGHTS=/data1/alice/lora/final
    ```

    ## Fix
    Put the files in the build context and use a relative source, or download them from a
    pinned revision, and point the variables at the in-image location.

    ```dockerfile
    COPY adapter/ /app/adapter
    ENV MODEL_PATH=/app/adapter
    ```
    """

    id = "CTX006"
    name = "absolute-host-path"
    category = "host-local-artifact"
    severity = "warning"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        yield from self._copy_sources(ctx)
        created = _created_prefixes(ctx.dockerfile)
        for inst in ctx.dockerfile.instructions:
            if inst.keyword in ("ENV", "ARG"):
                # `ENV NAME value` (legacy form): the one name covers the words after it.
                legacy = bool(inst.tokens) and "=" not in inst.tokens[0].text
                for token in inst.tokens:
                    name = inst.tokens[0].text if legacy else token.text.split("=", 1)[0]
                    yield from self._values(ctx, token.text, token.offset, name, created, inst)
            elif inst.keyword in ("RUN", "CMD", "ENTRYPOINT"):
                for script in scripts_of(inst):
                    for cmd in script.commands:
                        previous = ""
                        for word in cmd.words + cmd.assignments:
                            yield from self._values(ctx, word.raw, word.offset, previous,
                                                    created, inst)
                            previous = word.text

    def _copy_sources(self, ctx: ScanContext) -> Iterator[Finding]:
        context = ctx.build_context
        if context is None:
            return
        for source in context.copy_sources(ctx.dockerfile):
            if source.matches or source.missing_vars or not HOST_PATH.match(source.expanded):
                continue
            yield self.at(
                ctx, source.offset, source.end_offset,
                f"{source.inst.keyword} source {source.text!r} is a path on the build machine; "
                "Docker reads sources relative to the build context, so it is not found",
                severity="error",
                fix_hint="copy the files into the build context and use a relative path, or "
                         "download them from a pinned revision", path_kind="copy-source")

    def _values(self, ctx, text: str, offset: int, name: str, created: tuple[str, ...],
                inst) -> Iterator[Finding]:
        if "/" not in text and ":\\" not in text:
            return  # HOST_IN_VALUES needs one of these: skip the regex scan
        for match in HOST_IN_VALUES.finditer(text):
            path = match.group(0)
            if not (CUE.search(path) or CUE.search(name)):
                continue
            if any(path == p or path.startswith(p.rstrip("/") + "/") for p in created):
                continue
            if WEAK_PREFIX.match(path) and WRITTEN.search(name):
                continue  # e.g. HF_HOME=/data/hf: created at run time, not read from the host
            yield self.at(
                ctx, offset + match.start(), offset + match.end(),
                f"{inst.keyword} uses {path!r}, a folder of the build machine (or a run-time "
                "mount) that nothing in this Dockerfile creates: the image will not find these "
                "weights/data",
                fix_hint="copy or download the files into the image and use that path",
                path_kind="value")


def _created_prefixes(dockerfile: Dockerfile) -> tuple[str, ...]:
    """Folders the Dockerfile itself creates in the image (WORKDIR, COPY targets, mkdir...);
    `$VAR` targets (`COPY lora/ $LORA_PATH`, `mkdir -p $ADAPTER_DIR`) are expanded."""
    found: list[str] = []
    for inst in dockerfile.instructions:
        before = len(found)
        _created_by(inst, found)
        found[before:] = [expand(p, inst.vars)[0] if "$" in p else p for p in found[before:]]
    return tuple(p.rstrip("/") or "/" for p in found if p.startswith("/"))


def _created_by(inst, found: list[str]) -> None:
    if inst.keyword in ("WORKDIR", "VOLUME"):
        found.extend(w.strip("[]\",'") for w in inst.args.split())
    elif inst.keyword in ("COPY", "ADD") and inst.tokens:
        found.append(inst.tokens[-1].text if inst.json_args is None else inst.json_args[-1])
    elif inst.keyword == "USER" and inst.tokens:
        found.append("/home/" + inst.tokens[0].text.split(":")[0])
    elif inst.keyword == "RUN":
        for script in scripts_of(inst):
            for cmd in script.commands:
                words = [w.text for w in cmd.words]
                if not words:
                    continue
                base = words[0].rsplit("/", 1)[-1]
                for index, word in enumerate(words[1:], start=1):
                    if words[index - 1] in CREATES or (base in CREATING_COMMANDS
                                                       and word.startswith(("/", "$"))):
                        found.append(word)
                    if base in ("useradd", "adduser") and not word.startswith("-"):
                        found.append("/home/" + word)
                if base == "git" and len(words) > 3 and words[1] == "clone":
                    found.append(words[-1])
