#!/usr/bin/env python3
"""Turn `carpenter fix --format json` into what a participant acts on in a pull request:

- a review payload for `POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews` whose comments
  are GitHub *suggested changes* on the PR's changed lines (review.json),
- a job summary with the diff (summary.md),
- the patch and the repaired files as an artifact folder (artifact/).

Standard library only: it runs on the runner before or without Carpenter's venv. The fix diff
is already redacted by Carpenter; this script never reads a secret's value either: a line
that held a token is deleted by the fix, and the summary says to rotate the token.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
# GitHub rejects a review with more comments than this in one request (and readers drown).
MAX_COMMENTS = 50


@dataclass
class Block:
    """One run of changed lines: old lines [start, end] (end < start: a pure insertion after
    line `end`) become `new` lines."""

    path: str
    start: int
    end: int
    new: list[str] = field(default_factory=list)


@dataclass
class FileDiff:
    path: str
    text: str = ""
    blocks: list[Block] = field(default_factory=list)


def parse_diff(diff: str) -> list[FileDiff]:
    """The unified diff of `carpenter fix` as changed-line blocks per file."""
    files: list[FileDiff] = []
    current: FileDiff | None = None
    old = 0
    block: Block | None = None
    for line in diff.splitlines(keepends=True):
        if line.startswith("--- "):
            continue
        if line.startswith("+++ "):
            name = line[4:].strip().split("\t")[0]
            current = FileDiff(name[2:] if name.startswith("b/") else name)
            files.append(current)
            block = None
            continue
        if current is None:
            continue
        current.text += line
        match = HUNK.match(line)
        if match:
            old, block = int(match.group(1)), None
            if match.group(2) == "0":
                old += 1  # "-N,0": an insertion after line N
            continue
        tag, body = line[:1], line[1:].rstrip("\n")
        if tag == " ":
            old, block = old + 1, None
        elif tag == "-":
            if block is None:
                block = Block(current.path, old, old - 1)
                current.blocks.append(block)
            block.end = old
            old += 1
        elif tag == "+":
            if block is None:
                block = Block(current.path, old, old - 1)
                current.blocks.append(block)
            block.new.append(body)
    return files


def changed_lines(base: str, path: str, cwd: Path) -> set[int]:
    """Lines of `path` (head side) the PR adds or changes: the only lines a review comment
    may sit on."""
    done = subprocess.run(["git", "diff", "--unified=0", "--no-color", f"{base}...HEAD", "--",
                           path], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"suggest: git diff against {base} failed: {done.stderr.strip()}")
    lines: set[int] = set()
    for line in done.stdout.splitlines():
        match = HUNK.match(line)
        if match:
            start, count = int(match.group(3)), int(match.group(4) or 1)
            lines.update(range(start, start + count))
    return lines


def comment(block: Block, head_lines: list[str], rule_note: str) -> dict | None:
    """A suggested change for `block`, or None when it cannot be one (nothing to anchor)."""
    start, end, new = block.start, block.end, list(block.new)
    if end < start:  # pure insertion: suggest the line above followed by the new lines
        if start - 1 < 1:
            return None
        start = end = start - 1
        new = [head_lines[start - 1].rstrip("\n"), *new]
    body = f"{rule_note}\n```suggestion\n" + "".join(f"{line}\n" for line in new) + "```"
    item: dict = {"path": block.path, "line": end, "side": "RIGHT", "body": body}
    if start < end:
        item.update(start_line=start, start_side="RIGHT")
    return item


def records_by_line(fix: dict) -> dict[tuple[str, int], list[dict]]:
    out: dict[tuple[str, int], list[dict]] = {}
    for record in fix.get("applied", []):
        out.setdefault((record["path"], record["line"]), []).append(record)
    return out


def note_for(block: Block, records: dict[tuple[str, int], list[dict]]) -> str:
    found = [r for line in range(block.start, max(block.end, block.start) + 1)
             for r in records.get((block.path, line), [])]
    rules = ", ".join(dict.fromkeys(f"`{r['rule']}`" for r in found)) or "a pin"
    unsafe = [r for r in found if r.get("unsafe")]
    text = f"**carpenter fix** ({rules})"
    if unsafe:
        text += f"; unsafe: {unsafe[0]['unsafe']}"
    return text


def build(fix: dict, base: str, cwd: Path, sha: str, fork: bool) -> dict:
    files = parse_diff(fix.get("diff", ""))
    records = records_by_line(fix)
    comments, outside, created = [], 0, []
    for item in files:
        disk = cwd / item.path
        if not disk.is_file():
            created.append(item.path)  # the constraints lock: in the patch, not a suggestion
            continue
        head_lines = disk.read_text(encoding="utf-8").splitlines(keepends=True)
        allowed = changed_lines(base, item.path, cwd)
        for block in item.blocks:
            made = comment(block, head_lines, note_for(block, records))
            lines = range(made.get("start_line", made["line"]), made["line"] + 1) if made else []
            if made is None or not all(n in allowed for n in lines):
                outside += 1
                continue
            comments.append(made)
    review = {
        "commit_id": sha,
        "event": "COMMENT",
        "body": _review_body(len(comments), outside, created),
        "comments": comments[:MAX_COMMENTS],
    }
    secrets = [r for r in fix.get("applied", []) if r.get("category") == "secret"]
    return {"review": review, "files": files, "secrets": secrets, "outside": outside,
            "fork": fork}


def _review_body(count: int, outside: int, created: list[str]) -> str:
    text = f"Carpenter can pin {count} change(s) of this pull request: apply the suggestions."
    if outside:
        text += (f" {outside} more fix(es) touch lines this pull request does not change: "
                 "see the job summary and the `carpenter-fix` artifact.")
    if created:
        # A suggestion cannot add a file, and the suggested COPY needs it: say so.
        names = ", ".join(f"`{name}`" for name in created)
        text += (f" The fix also adds {names} (the dependency lock the suggestions COPY): "
                 "take it from the `carpenter-fix` artifact and commit it with them.")
    return text


def summary(result: dict, fix: dict) -> str:
    out = ["## Carpenter autofix", ""]
    applied, skipped = fix.get("applied", []), fix.get("skipped", [])
    out.append(f"{len(applied)} fix(es) proposed, {len(skipped)} not fixable automatically.")
    if result["fork"]:
        out.append("This pull request comes from a fork (read-only token): no review comments; "
                   "download the `carpenter-fix` artifact and apply `carpenter-fix.patch`, or "
                   "run `carpenter fix --write` locally.")
    else:
        out.append(f"{len(result['review']['comments'])} suggested change(s) posted on the "
                   "changed lines.")
    for record in result["secrets"]:
        out += ["", f"> [!WARNING]\n> `{record['path']}:{record['line']}` held a token "
                f"({record['rule']}). The fix removes the line and reads the value as a build "
                "secret instead, but the token is in the git history: **rotate it now**."]
    for record in skipped:
        out.append(f"- not fixed: `{record['path']}:{record['line']}` {record['rule']}: "
                   f"{record.get('reason', '')}")
    if fix.get("diff"):
        out += ["", "<details><summary>The diff</summary>", "", "```diff",
                fix["diff"].rstrip("\n"), "```", "", "</details>"]
    return "\n".join(out) + "\n"


def write_artifact(result: dict, fix: dict, cwd: Path, folder: Path) -> None:
    """The patch plus each repaired file (rebuilt from the diff's positions, so a redacted
    `-` line never matters and no token is copied)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "carpenter-fix.patch").write_text(fix.get("diff", ""), encoding="utf-8")
    (folder / "carpenter-fix.json").write_text(json.dumps(fix, indent=2), encoding="utf-8")
    for item in result["files"]:
        disk = cwd / item.path
        before = disk.read_text(encoding="utf-8").splitlines(keepends=True) \
            if disk.is_file() else []
        target = folder / "fixed" / item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(apply_blocks(before, item.blocks)), encoding="utf-8")


def apply_blocks(lines: list[str], blocks: list[Block]) -> list[str]:
    out = list(lines)
    for block in sorted(blocks, key=lambda b: b.start, reverse=True):
        out[block.start - 1: max(block.end, block.start - 1)] = [f"{n}\n" for n in block.new]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fix-json", required=True, type=Path)
    parser.add_argument("--base", required=True, help="the PR's base commit or ref")
    parser.add_argument("--sha", required=True, help="the PR's head commit")
    parser.add_argument("--repo", type=Path, default=Path.cwd())
    parser.add_argument("--fork", action="store_true", help="read-only token: no review")
    parser.add_argument("--review", type=Path, required=True)
    parser.add_argument("--summary", type=Path, required=True)
    parser.add_argument("--artifact", type=Path, required=True)
    args = parser.parse_args(argv)
    fix = json.loads(args.fix_json.read_text(encoding="utf-8"))
    result = build(fix, args.base, args.repo, args.sha, args.fork)
    if not args.fork and result["review"]["comments"]:
        args.review.write_text(json.dumps(result["review"], indent=2), encoding="utf-8")
    with open(args.summary, "a", encoding="utf-8") as handle:
        handle.write(summary(result, fix))
    write_artifact(result, fix, args.repo, args.artifact)
    print(f"suggest: {len(result['review']['comments'])} suggestion(s), "
          f"{result['outside']} outside the PR's changes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
