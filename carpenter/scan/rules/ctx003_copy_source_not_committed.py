"""CTX003: a COPY/ADD source that is untracked or git-ignored: a fresh clone lacks it."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.core.lazyre import lazy_compile
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule

# Inside a copied folder only artifacts are worth a finding (not every stray editor file).
ARTIFACT = lazy_compile(
    r"(?i)\.(?:bin|safetensors|pt|pth|ckpt|gguf|ggml|onnx|h5|hdf5|pkl|pickle|npz|npy|msgpack|"
    r"model|whl|tar|tgz|tar\.gz|zip|parquet|arrow|jsonl|json|csv|tsv|txt|yaml|yml|py|sh|so)$"
)
MAX_LISTED = 3


class CopySourceNotCommitted(Rule):
    """Report COPY/ADD sources that exist here but are untracked or ignored by git.

    ## What it does
    When the build context is inside a git repository, asks git (one `ls-files` pass per
    repository) which paths are untracked or matched by `.gitignore`. A COPY/ADD source in
    that state is reported; for a copied folder, the model, data, wheel and code files inside it
    that git does not track are listed. While the Dockerfile itself is not committed yet, the
    rule stays quiet (everything would be untracked).

    ## Why it matters
    It builds on your machine and fails (or builds a different image) from a fresh clone: the
    classic "only on my machine" artifact. Organizers build from the repository you submit.

    ## Example
    ```dockerfile
    # .gitignore: outputs/
    COPY outputs/lora-adapter /app/adapter
    ```

    ## Fix
    Commit the file (use Git LFS for large weights), or fetch it during the build from a
    pinned revision, or publish it and download it at start-up.

    ```dockerfile
    # after `git lfs track "*.safetensors" && git add outputs/lora-adapter`:
    COPY outputs/lora-adapter /app/adapter
    ```
    """

    id = "CTX003"
    name = "copy-source-not-committed"
    category = "host-local-artifact"
    severity = "warning"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        context = ctx.build_context
        if context is None or context.git is None:
            return
        git = context.git
        if context.dockerfile_rel and git.status(context.dockerfile_rel) != "tracked":
            return  # nothing committed yet: every path would be "untracked"
        for source in context.copy_sources(ctx.dockerfile):
            for match in source.matches:
                if context.excluded_by(match) is not None:
                    continue  # CTX002's business
                state = git.status(match) if match != "." else "tracked"
                if state in ("untracked", "ignored"):
                    why = "git-ignored" if state == "ignored" else "untracked (never committed)"
                    yield self.at(
                        ctx, source.offset, source.end_offset,
                        f"{source.inst.keyword} source {match!r} is {why}: a fresh clone of the "
                        "repository does not have it and the build fails there",
                        fix_hint="commit it (Git LFS for large files) or download it from a "
                                 "pinned revision", source_path=match, git_state=state)
                    continue
                if state != "tracked":
                    continue
                stray = _uncommitted_inside(context, match)
                if stray:
                    shown = ", ".join(repr(p) for p, _ in stray[:MAX_LISTED])
                    more = f" and {len(stray) - MAX_LISTED} more" if len(stray) > MAX_LISTED else ""
                    yield self.at(
                        ctx, source.offset, source.end_offset,
                        f"{source.inst.keyword} {source.text!r} copies files git does not track "
                        f"({shown}{more}): a fresh clone builds a different image",
                        fix_hint="commit them, add them to .dockerignore, or fetch them at build "
                                 "time from a pinned revision",
                        source_path=match, files=[p for p, _ in stray])


def _uncommitted_inside(context, folder: str) -> list[tuple[str, str]]:
    git = context.git
    out = []
    for rel in context.files_under(folder):
        if rel == folder or not ARTIFACT.search(rel):
            continue
        state = git.status(rel)
        if state in ("untracked", "ignored") and context.excluded_by(rel) is None:
            out.append((rel, state))
    return out
