"""SEC004: a credential committed to the repository's history (even if deleted since)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from carpenter.model.history import HistoryScan
from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule
from carpenter.scan.secrets import fingerprint_of, masked


class SecretInGitHistory(Rule):
    """Report secrets that any commit of the repository added, with that commit.

    ## What it does
    Reads the lines every commit added (`git log -p --all`, one stream per repository, oldest
    first) and reports each secret once per file, with the commit that introduced it, when the
    file no longer holds it (a token committed and later deleted; current files are
    SEC001/SEC002/SEC003). Only files under the build
    context folder are considered. Capped at 5,000 commits / 256 MB of diff (reported).

    ## Why it matters
    Deleting a token in a later commit does not remove it: every clone of the repository, and
    every fork, still has it. Submissions are usually public repositories.

    ## Example
    Commit `3f2a1bc` "add download script" wrote `HF_TOKEN = "hf_..."` into `download.py`; commit
    `9e8d7c6` removed it.

    ```text
    3f2a1bc add download script   download.py: HF_TOKEN = "hf_AbCd..."
    9e8d7c6 remove token          download.py: HF_TOKEN = os.environ["HF_TOKEN"]
    ```

    ## Fix
    Revoke the token first (that is the only real fix), then rewrite the history if the
    repository must stay clean (`git filter-repo --replace-text`), and force-push.

    ```sh
    # after revoking the token:
    git filter-repo --replace-text <(echo 'hf_AbCd...==>REMOVED')
    git push --force
    ```
    """

    id = "SEC004"
    name = "secret-in-git-history"
    category = "secret"
    severity = "error"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        context = ctx.build_context
        if context is None or context.git is None:
            return
        from carpenter.model.history import scan_history  # loaded only for a git context

        history = scan_history(context.root)
        if history.shallow or history.truncated:
            yield _not_fully_checked(self, ctx, history)
        prefix = context.git.prefix
        for secret in history.secrets:
            if prefix and not secret.path.startswith(prefix + "/"):
                continue
            rel = secret.path[len(prefix) + 1:] if prefix else secret.path
            if _still_present(context, rel, secret.value):
                continue  # still in the file: SEC002 (or SEC003) speaks for the current tree
            when = time.strftime("%Y-%m-%d", time.gmtime(secret.date)) if secret.date else "?"
            path = ctx.display(os.path.join(context.git.top, secret.path))
            yield Finding(
                rule=self.id, name=self.name, category=self.category, severity=self.severity,
                path=path, line=secret.line, end_line=secret.line, column=1, end_column=1,
                message=(f"{secret.title} {masked(secret.kind, secret.value, secret.prefix)} was "
                         f"committed in {secret.commit[:10]} ({when}, {secret.subject[:60]!r}) "
                         "and is still in the git history; revoke it"),
                fix_hint="revoke the token; rewrite history with git filter-repo if needed",
                data={"secret_kind": secret.kind, "variable": secret.variable,
                      "commit": secret.commit, "fingerprint": fingerprint_of(secret.value),
                      "history_path": secret.path},
            )


def _not_fully_checked(rule: Rule, ctx: ScanContext, history: HistoryScan) -> Finding:
    """An info finding (it fails no build) that says the history check saw only part of it."""
    if history.shallow:
        why = (f"the repository is a shallow clone ({history.commits} commit(s) present): "
               "tokens committed and deleted before the cut cannot be seen")
        hint = "run `git fetch --unshallow` (or clone without --depth) and scan again"
    else:
        why = (f"the history is larger than the scan caps ({history.commits} commits, "
               f"{history.bytes:,} bytes read): older changes were not read")
        hint = "scan the full history with gitleaks or trufflehog"
    return Finding(
        rule=rule.id, name=rule.name, category=rule.category, severity="info",
        path=ctx.dockerfile.path, line=1, end_line=1, column=1, end_column=1,
        message=f"git history not fully checked: {why}", fix_hint=hint,
        data={"history_complete": False})


def _still_present(context, rel: str, value: str) -> bool:
    real = os.path.realpath(context.fs_path(rel))
    if not real.startswith(context.real_root + os.sep):
        return False  # never read through a link leading outside the context
    try:
        with open(context.fs_path(rel), encoding="utf-8", errors="replace") as handle:
            return value in handle.read(8 * 1024 * 1024)
    except OSError:
        return False
