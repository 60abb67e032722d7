"""A cold `carpenter scan` of a typical submission imports only what it uses (issue 14).

Each module below cost 2-25 ms of a ~0.3 s cold scan: rich (plain text needs none of it),
packaging's requirement grammar (simple pins are classified without it), difflib,
hashlib, the result cache under --no-cache, detect-secrets when no context file could hold a
secret.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

# (The standard library's avoidable modules are listed in test_cold_scan_stdlib.py.)
AVOIDED = ("rich", "detect_secrets", "requests", "packaging.requirements", "packaging.tags",
           "packaging.specifiers",  # CUDA wheel ranges of final releases: scan.cuda compares
           "difflib", "hashlib", "carpenter.scan.cache")


def _submission(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "Dockerfile").write_text(textwrap.dedent("""\
        FROM nvidia/cuda:12.1.1-devel-ubuntu22.04
        WORKDIR /app
        RUN apt-get update && apt-get install -y git curl
        COPY requirements.txt .
        RUN pip install --no-cache-dir -r requirements.txt
        RUN pip install flash-attn==2.5.6 'transformers[torch]>=4.36,<5' --no-build-isolation
        RUN huggingface-cli download mistralai/Mistral-7B-v0.1 --local-dir /models/m
        COPY . .
        CMD ["python", "-m", "src.server"]
        """))
    (root / "requirements.txt").write_text("torch==2.1.0\npeft>=0.7\nsentencepiece\n")
    (root / "config.yaml").write_text("model: mistralai/Mistral-7B-v0.1\nlr: 2.0e-5\n")
    (root / "README.md").write_text("# Submission\n\nRun `python -m src.server`.\n")
    (root / "src" / "server.py").write_text(
        "def generate(input_data):\n    generate_token_num = input_data.max_new_tokens\n"
        "    return generate_token_num\n")
    return root


def _imported(args: list[str], sub: Path) -> set[str]:
    code = textwrap.dedent(f"""\
        import runpy, sys
        sys.argv = ["carpenter", "scan", "--no-cache", *{args!r}, {str(sub)!r}]
        try:
            runpy.run_module("carpenter.cli", run_name="__main__")
        except SystemExit:
            pass
        print(" ".join(sorted(sys.modules)), file=sys.stderr)
        """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    modules = set(done.stderr.strip().splitlines()[-1].split())
    assert "carpenter.scan.rules.cuda001_cuda_extension_source_build" in modules
    assert "CUDA001" in done.stdout  # the scan really ran and found the flash-attn build
    return modules


def test_plain_text_scan_imports_only_what_it_uses(tmp_path: Path) -> None:
    modules = _imported([], _submission(tmp_path / "sub"))
    assert sorted(m for m in AVOIDED if m in modules) == []


def test_json_scan_imports_no_rich(tmp_path: Path) -> None:
    modules = _imported(["--format", "json"], _submission(tmp_path / "sub"))
    assert "rich" not in modules


# The records whose value equality (or value hash) the code or the tests rely on: findings and
# their payloads (fix and the snapshots compare them), secret hits and shell words (deduplicated
# and compared), diagnostics and outputs (compared in tests), the scan config (frozen: shared by
# every file of a run and grouped by its repr), and the options types other stages compare.
VALUE_RECORDS = {
    "carpenter.core.diagnostics.Diagnostic", "carpenter.core.files.Planned",
    "carpenter.core.options.SecretSpec", "carpenter.core.shapes.Hit",
    "carpenter.model.shell.Word", "carpenter.report.interface.Output",
    "carpenter.scan.config.ScanConfig", "carpenter.scan.finding.Finding",
} | {f"carpenter.scan.payloads.{name}" for name in (
    "Payload", "PipPin", "SecretMove", "AptPackage", "CondaPin", "ImageDigest", "GitClone",
    "VcsPin", "CudaBuild", "Download")}


def test_scan_records_generate_no_unused_methods(tmp_path: Path) -> None:
    """Each dataclass method (__eq__, __hash__, frozen __setattr__/__delattr__) is generated
    by exec() when its module is imported: ~0.5-1.6M instructions per class and per cold
    scan, which ~70 classes paid although a scan compares none of them. Only the records
    whose equality is used keep eq/frozen."""
    sub = _submission(tmp_path / "sub")
    code = textwrap.dedent(f"""\
        import dataclasses, runpy, sys
        sys.argv = ["carpenter", "scan", "--no-cache", {str(sub)!r}]
        try:
            runpy.run_module("carpenter.cli", run_name="__main__")
        except SystemExit:
            pass
        for name, module in list(sys.modules.items()):
            for value in list(vars(module).values()) if name.startswith("carpenter") else ():
                if (isinstance(value, type) and dataclasses.is_dataclass(value)
                        and value.__module__ == name):
                    params = value.__dataclass_params__
                    flags = [f for f in ("eq", "frozen") if getattr(params, f)]
                    print(name + "." + value.__qualname__, *flags, file=sys.stderr)
        """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    records = [line.split() for line in done.stderr.splitlines() if line.startswith("carpenter")]
    assert len(records) > 50  # the scan really imported its model
    costly = sorted(name for name, *flags in records if flags and name not in VALUE_RECORDS)
    assert costly == []
