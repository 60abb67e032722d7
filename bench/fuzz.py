"""In-process fuzzing of scan and fix with hypothesis: no crash, no leak, no broken fix.

    .venv/bin/python bench/fuzz.py [--examples 100000] [--seed 13] [--report-every 5000]

Each input is a Dockerfile assembled from instruction templates and hostile fragments (deep
nesting, self-referencing ARG/ENV, heredocs, continuations, odd bytes, tokens in URLs and
variables), then mutated (bytes inserted, deleted, duplicated). For every input:

- scanning raises nothing but CarpenterError, and no output format holds the planted token;
- fixing raises nothing but CarpenterError, its diff and reasons hold no token, and a fixed
  Dockerfile parses no worse than the input (otherwise fix must have refused it).

A failure prints the shrunk input and exits 1. tests/hostile/test_fuzz.py runs a short round.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN = "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"
PASSWORD = "Xk29fjQp8LmZr4TyWv7Nq"
SECRETS = (TOKEN, PASSWORD)

_FRAGMENTS = [
    "echo hi", "pip install torch", "pip install 'numpy>=1.2' -r requirements.txt",
    "apt-get update && apt-get install -y curl", "( echo a )", "$(echo b)", "`date`",
    "${A}${A}", "$A", "\\\n  ", "&&", "||", "|", ";", "<<EOF\nx\nEOF\n", "\"", "'", "#",
    f"https://user:{PASSWORD}@example.com/x", f"--token {TOKEN}", f"https://{TOKEN}@h/x",
    f"https://h/x?token={PASSWORD}", "wandb login 0123456789abcdef0123456789abcdef01234567",
    "git clone https://github.com/a/b", "conda install -y x", "\t", "é", "\x00", "\r\n",
    "((", "))", "{", "}", "[", "]", "*", "**/x", "!x",
]
_INSTRUCTIONS = ["RUN", "ENV", "ARG", "COPY", "ADD", "FROM", "WORKDIR", "CMD", "ENTRYPOINT",
                 "LABEL", "USER", "HEALTHCHECK", "ONBUILD", "SHELL", "EXPOSE", "VOLUME", "XYZ"]


@st.composite
def dockerfiles(draw) -> str:
    """Mostly-plausible Dockerfiles with hostile pieces, then byte-level mutations."""
    lines = [draw(st.sampled_from(["FROM python:3.11", "FROM python:3.11 AS b", "ARG X=1",
                                   "# syntax=docker/dockerfile:1", ""]))]
    for _ in range(draw(st.integers(0, 8))):
        keyword = draw(st.sampled_from(_INSTRUCTIONS))
        parts = draw(st.lists(st.sampled_from(_FRAGMENTS), max_size=6))
        if keyword in ("ENV", "ARG"):
            parts = [f"{draw(st.sampled_from(['A', 'HF_TOKEN', 'B']))}="
                     f"{draw(st.sampled_from(['${A}${A}${A}', TOKEN, '', PASSWORD, 'x']))}"]
        depth = draw(st.integers(0, 3)) ** 4  # 0, 1, 16 or 81 levels
        if depth:
            parts.append("( " * depth + "echo x" + " )" * depth)
        lines.append(" ".join([keyword, *parts]))
    text = "\n".join(lines) + draw(st.sampled_from(["\n", "", "\\\n"]))
    for _ in range(draw(st.integers(0, 3))):  # mutations
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "repeat"]))
        if action == "insert":
            text = text[:at] + draw(st.text(max_size=6)) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 8)):]
        else:
            piece = text[at:at + draw(st.integers(1, 20))]
            text = text[:at] + piece * draw(st.integers(2, 30)) + text[at:]
    return text


class Harness:
    """Runs one input through scan and fix; keeps counts."""

    def __init__(self, folder: Path) -> None:
        from carpenter.snapshot.model import load_snapshot

        self.folder = folder
        (folder / "requirements.txt").write_text("torch\nnumpy==1.26.0\n")
        (folder / ".dockerignore").write_text("*.pt\n!keep.pt\n")
        self.snapshot = load_snapshot()
        self.count = 0
        self.findings = 0
        self.fixed = 0
        self.refused = 0

    def check(self, text: str) -> None:
        from carpenter.core.errors import CarpenterError
        from carpenter.fix.engine import FixOptions, fix_findings
        from carpenter.model.dockerfile import load_dockerfile, parse_dockerfile
        from carpenter.model.source import SourceFile
        from carpenter.report.interface import get_reporter
        from carpenter.scan.engine import ScanOptions, ScanReport, scan_dockerfile

        self.count += 1
        path = self.folder / "Dockerfile"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        options = ScanOptions()
        try:  # read back from disk as the CLI does (CRLF normalised: fix re-reads the file)
            dockerfile = load_dockerfile(str(path))
            result = scan_dockerfile(dockerfile, options, str(self.folder))
        except CarpenterError:
            return
        self.findings += len(result.findings)
        report = ScanReport([str(path)], result.findings, result.errors, options.config)
        for fmt in ("json", "github", "text"):  # (SARIF adds the rule docs: same messages)
            _no_secret(get_reporter(fmt).render(report), f"scan --format {fmt}")
        try:
            fixed = fix_findings(str(path), result.findings, FixOptions(self.snapshot))
        except CarpenterError:
            return
        _no_secret(fixed.diff(), "fix diff")
        for record in fixed.records:
            _no_secret(fixed.redact(record.reason + record.summary), "fix reason")
        for change in fixed.files:
            if change.changed and change.path == str(path):
                self.fixed += 1
                before = parse_dockerfile(SourceFile(change.path, change.before)).problems
                after = parse_dockerfile(SourceFile(change.path, change.after)).problems
                assert len(after) <= len(before), f"fix made it parse worse: {after[:2]}"
        self.refused += sum(1 for e in fixed.errors if "fix refused" in e.message)


def _no_secret(text: str, channel: str) -> None:
    from carpenter.core.redact import safe_text

    # The registry of this run knows the tokens once a rule found them: what every channel
    # masks at the last step (the CLI's streams and report writers call safe_text).
    if not any(secret in text for secret in SECRETS):
        return  # the usual case: no need for the (slower) final masking pass
    shown = safe_text(text)
    for secret in SECRETS:
        assert secret not in shown, f"{channel} leaks {secret[:6]}..."


def run(examples: int, seed: int | None, report_every: int = 0) -> Harness:
    """Run `examples` inputs; raises on the first failure (hypothesis shrinks it first)."""
    folder = Path(tempfile.mkdtemp(prefix="carpenter-fuzz-"))
    harness = Harness(folder)
    started = time.perf_counter()

    @settings(max_examples=examples, deadline=None, database=None, derandomize=seed is not None,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(dockerfiles())
    def target(text: str) -> None:
        harness.check(text)
        if report_every and harness.count % report_every == 0:
            rate = harness.count / (time.perf_counter() - started)
            print(f"{harness.count} inputs, {rate:.0f}/s", flush=True)

    if seed is not None:
        import hypothesis

        target = hypothesis.seed(seed)(target)
    target()
    return harness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--report-every", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("CARPENTER_NO_CACHE", "1")
    started = time.perf_counter()
    harness = run(args.examples, args.seed, args.report_every)
    seconds = time.perf_counter() - started
    print(f"{harness.count} inputs in {seconds:.0f} s ({harness.count / seconds:.0f}/s): "
          f"no crash, no leak; {harness.findings} findings, {harness.fixed} fixed files, "
          f"{harness.refused} fixes refused")


if __name__ == "__main__":
    main()
