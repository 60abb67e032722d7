"""The persistent result cache: a hit only while nothing the scan read has changed."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from carpenter.model.context import clear_caches
from carpenter.model.history import clear_cache as clear_history_cache
from carpenter.report.interface import get_reporter
from carpenter.scan import cache as cache_module
from carpenter.scan.config import ScanConfig
from carpenter.scan.engine import ScanOptions, scan_paths

from .conftest import fake_token, git, write

ROOT = Path(__file__).resolve().parents[3]


def age(root: Path, seconds: float = 60) -> None:
    """Set every mtime under `root` into the past: fresh files are never cached (racy)."""
    when = time.time() - seconds
    for folder, dirs, files in os.walk(root, topdown=False):
        for name in files + dirs:
            os.utime(os.path.join(folder, name), (when, when), follow_symlinks=False)
    os.utime(root, (when, when))


def run(paths: list[Path], cache_dir: Path, **options):
    clear_caches()  # each scan as a new process would see it: only the disk cache is shared
    clear_history_cache()
    report = scan_paths([str(p) for p in paths], ScanOptions(cache_dir=str(cache_dir), **options))
    return report, [f.to_json() for f in report.findings]


def rules_of(findings: list[dict]) -> set[str]:
    return {f["rule"] for f in findings}


PINNED = "torch==2.1.0\n"
RANGED = "torch>=2.1.0\n"  # same size as PINNED: only the content (and mtime) differ
DOCKERFILE = """FROM python:3.11-slim@sha256:{}
COPY requirements.txt /app/requirements.txt
RUN pip install --no-cache-dir -r /app/requirements.txt
""".format("a" * 64)


@pytest.fixture
def submission(tmp_path: Path) -> Path:
    root = tmp_path / "sub"
    write(root, {"Dockerfile": DOCKERFILE, "requirements.txt": PINNED})
    age(root)
    return root


def test_second_scan_is_served_from_the_cache_with_the_same_findings(submission, tmp_path):
    cache = tmp_path / "cache"
    first, cold = run([submission / "Dockerfile"], cache)
    second, warm = run([submission / "Dockerfile"], cache)
    assert (first.cached, second.cached) == (0, 1)
    assert warm == cold


def test_a_changed_requirements_file_is_rescanned(submission, tmp_path):
    cache = tmp_path / "cache"
    _, before = run([submission / "Dockerfile"], cache)
    assert "PIP002" not in rules_of(before)
    (submission / "requirements.txt").write_text(RANGED)
    age(submission, seconds=30)
    report, after = run([submission / "Dockerfile"], cache)
    assert report.cached == 0
    assert "PIP002" in rules_of(after)


def test_a_changed_dockerfile_is_rescanned_even_with_the_same_size_and_mtime(submission, tmp_path):
    cache = tmp_path / "cache"
    dockerfile = submission / "Dockerfile"
    run([dockerfile], cache)
    stat = dockerfile.stat()
    dockerfile.write_text(DOCKERFILE.replace("--no-cache-dir", "--no-cache-di_"))
    os.utime(dockerfile, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the Dockerfile is hashed
    report, _ = run([dockerfile], cache)
    assert report.cached == 0


def test_a_file_added_to_the_context_is_noticed(tmp_path):
    root = tmp_path / "sub"
    write(root, {"Dockerfile": "FROM scratch\nCOPY weights/model.bin /model.bin\n"})
    age(root)
    cache = tmp_path / "cache"
    _, before = run([root / "Dockerfile"], cache)
    assert "CTX001" in rules_of(before)
    write(root, {"weights/model.bin": "0" * 64})
    age(root, seconds=30)
    report, after = run([root / "Dockerfile"], cache)
    assert report.cached == 0
    assert "CTX001" not in rules_of(after)


def test_a_new_commit_is_noticed_by_the_history_scan(tmp_path):
    root = tmp_path / "repo"
    write(root, {"Dockerfile": "FROM scratch\nCOPY app.py /app.py\n", "app.py": "print(1)\n"})
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    age(root)
    cache = tmp_path / "cache"
    _, before = run([root / "Dockerfile"], cache)
    assert "SEC004" not in rules_of(before)
    token = fake_token(11)
    (root / "app.py").write_text(f'TOKEN = "{token}"\n')
    git(root, "commit", "-q", "-am", "token")
    (root / "app.py").write_text("print(1)\n")
    git(root, "commit", "-q", "-am", "remove token")
    age(root, seconds=30)
    report, after = run([root / "Dockerfile"], cache)
    assert report.cached == 0
    assert "SEC004" in rules_of(after)
    warm, again = run([root / "Dockerfile"], cache)
    assert warm.cached == 1 and again == after


def test_freshly_written_files_are_not_cached(tmp_path):
    root = tmp_path / "sub"
    write(root, {"Dockerfile": DOCKERFILE, "requirements.txt": PINNED})  # mtimes are now
    cache = tmp_path / "cache"
    run([root / "Dockerfile"], cache)
    report, _ = run([root / "Dockerfile"], cache)
    assert report.cached == 0
    with sqlite3.connect(cache / "scan-v1.sqlite") as db:
        assert db.execute("SELECT count(*) FROM entries").fetchone() == (0,)


def test_other_settings_use_other_entries(submission, tmp_path):
    (submission / "requirements.txt").write_text(RANGED)
    age(submission)
    cache = tmp_path / "cache"
    _, everything = run([submission / "Dockerfile"], cache)
    ignoring = ScanConfig(ignore=("PIP002",))
    report, fewer = run([submission / "Dockerfile"], cache, config=ignoring)
    assert report.cached == 0
    assert "PIP002" in rules_of(everything) and "PIP002" not in rules_of(fewer)
    again, same = run([submission / "Dockerfile"], cache)
    assert again.cached == 1 and same == everything


def test_a_different_carpenter_misses(submission, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    run([submission / "Dockerfile"], cache)
    monkeypatch.setattr(cache_module, "_CODE", "another version")
    report, _ = run([submission / "Dockerfile"], cache)
    assert report.cached == 0


def test_a_corrupt_entry_is_a_miss_and_is_rewritten(submission, tmp_path):
    cache = tmp_path / "cache"
    _, cold = run([submission / "Dockerfile"], cache)
    with sqlite3.connect(cache / "scan-v1.sqlite") as db:
        assert db.execute("UPDATE entries SET body = 'not json'").rowcount == 1
    report, findings = run([submission / "Dockerfile"], cache)
    assert report.cached == 0 and findings == cold
    again, _ = run([submission / "Dockerfile"], cache)
    assert again.cached == 1


def test_a_cache_file_that_is_not_a_database_is_replaced(submission, tmp_path, capsys):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "scan-v1.sqlite").write_bytes(b"\x00\xff junk, not SQLite" * 100)
    report, cold = run([submission / "Dockerfile"], cache)
    assert "was unreadable" in capsys.readouterr().err
    assert report.cached == 0 and not report.errors
    again, warm = run([submission / "Dockerfile"], cache)
    assert again.cached == 1 and warm == cold


def links_out(context: Path) -> bool:
    """A symbolic link in the context that leads out of it (such contexts are not cached)."""
    root = os.path.realpath(context)
    return any(path.is_symlink() and not os.path.realpath(path).startswith(root + os.sep)
               for path in context.rglob("*"))


def test_the_fixture_corpus_gives_the_same_report_warm(tmp_path):
    corpus = tmp_path / "submissions"
    shutil.copytree(ROOT / "fixtures" / "submissions", corpus, symlinks=True)
    age(corpus)
    cache = tmp_path / "cache"
    cold, cold_findings = run([corpus], cache)
    warm, warm_findings = run([corpus], cache)
    assert warm_findings == cold_findings
    assert warm.errors == cold.errors
    # Not kept: results with errors, and results of rules that looked outside the context.
    uncached = {e.path for e in cold.errors}
    uncached |= {f["path"] for f in cold_findings if f["rule"] in ("CTX001", "CTX008")}
    uncached |= {f for f in cold.files if links_out(Path(f).parent)}
    assert warm.cached == len(warm.files) - len(uncached)
    assert warm.cached > 30


def test_the_cache_never_holds_a_secret(tmp_path):
    corpus = tmp_path / "submissions"
    for name in ("sec-token-files", "sec-context-files", "sec-env-arg-tokens"):
        shutil.copytree(ROOT / "fixtures" / "submissions" / name, corpus / name, symlinks=True)
    age(corpus)
    cache = tmp_path / "cache"
    _, findings = run([corpus], cache)
    assert rules_of(findings) & {"SEC001", "SEC002"}
    tokens = set()
    for path in corpus.rglob("*"):
        if path.is_file():
            tokens |= set(re.findall(r"hf_[A-Za-z0-9]{30,}", path.read_text(errors="replace")))
    assert tokens
    stored = (cache / "scan-v1.sqlite").read_bytes().decode("utf-8", "replace")
    assert stored
    for token in tokens:
        assert token not in stored
    # Served from the cache, the messages are trusted as already masked: still no token.
    warm, _ = run([corpus], cache)
    assert warm.cached
    for fmt in ("json", "text", "sarif", "github"):
        rendered = get_reporter(fmt).render(warm)
        assert not any(token in rendered for token in tokens), fmt


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "carpenter.cli", "scan", *args],
                          capture_output=True, text=True, env={**os.environ, **env}, cwd=ROOT,
                          timeout=120)


def test_cli_uses_the_cache_and_no_cache_turns_it_off(submission, tmp_path):
    cache = tmp_path / "cache"
    out = tmp_path / "report.json"
    env = {"CARPENTER_CACHE_DIR": str(cache), "CARPENTER_NO_CACHE": ""}
    args = [str(submission), "--format", "json", "-o", str(out)]
    cli(*args, "--no-cache", env=env)
    # --no-cache re-checks every file: no result cache is read or written (the compiled-regex
    # cache, core.patterncache, stays on: it cannot change a result)
    assert not list(cache.glob("scan-*"))
    first = cli(*args, env=env)
    second = cli(*args, env=env)
    assert "from the result cache" not in first.stderr
    assert "1 from the result cache" in second.stderr
    assert json.loads(out.read_text())["files"] == [str(submission / "Dockerfile")]


def test_cli_with_an_unwritable_cache_still_scans(submission, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    out = tmp_path / "report.json"
    env = {"CARPENTER_CACHE_DIR": str(blocker / "cache"), "CARPENTER_NO_CACHE": ""}
    done = cli(str(submission), "--format", "json", "-o", str(out), env=env)
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr
    assert "result cache not used" in done.stderr
    assert json.loads(out.read_text())["version"] == 1


def test_entries_unused_for_a_month_are_deleted_and_used_ones_kept(submission, tmp_path):
    cache = tmp_path / "cache"
    other = tmp_path / "other"
    shutil.copytree(submission, other)  # copy2 keeps the old file times
    run([submission / "Dockerfile"], cache)
    run([other / "Dockerfile"], cache)
    db_path = cache / "scan-v1.sqlite"
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE entries SET used = ?", (int(time.time()) - 40 * 86_400,))
    report, _ = run([submission / "Dockerfile"], cache)  # a hit refreshes its entry ...
    assert report.cached == 1
    with sqlite3.connect(db_path) as db:
        paths = [json.loads(body)["path"] for (body,) in db.execute("SELECT body FROM entries")]
    assert paths == [str(submission / "Dockerfile")]  # ... and the unused one is gone


def test_a_fifo_named_dockerfile_is_not_read_for_the_cache(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    os.mkfifo(folder / "Dockerfile")  # opening it to hash it would block forever
    env = {"CARPENTER_CACHE_DIR": str(tmp_path / "cache"), "CARPENTER_NO_CACHE": ""}
    done = cli(str(folder / "Dockerfile"), "--format", "json", env=env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert json.loads(done.stdout)["errors"]


def test_concurrent_scans_share_one_cache(tmp_path):
    corpus = tmp_path / "submissions"
    shutil.copytree(ROOT / "fixtures" / "submissions", corpus, symlinks=True)
    age(corpus)
    env = {**os.environ, "CARPENTER_CACHE_DIR": str(tmp_path / "cache"), "CARPENTER_NO_CACHE": ""}
    outs = [tmp_path / f"r{i}.json" for i in range(3)]
    procs = [subprocess.Popen([sys.executable, "-m", "carpenter.cli", "scan", str(corpus),
                               "--format", "json", "-o", str(out)], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for out in outs]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode in (0, 1, 2), err
        assert "Traceback" not in err and "result cache not used" not in err, err
    reports = [json.loads(out.read_text()) for out in outs]
    assert reports[0] == reports[1] == reports[2]
    done = subprocess.run([sys.executable, "-m", "carpenter.cli", "scan", str(corpus),
                           "--format", "json", "-o", str(outs[0])], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert "from the result cache" in done.stderr
    assert json.loads(outs[0].read_text()) == reports[1]


# -- regressions found in review ---------------------------------------------------------------


def test_credentials_in_finding_data_never_reach_the_database(tmp_path):
    token = "ghp_" + "A1b2C3d4E5" * 4
    root = tmp_path / "sub"
    write(root, {"Dockerfile": "FROM scratch\n"
                               f"RUN git clone https://x:{token}@github.com/o/r /src\n"
                               f"ADD https://u:{token}@example.com/f.tar.gz /f\n"})
    age(root)
    cache = tmp_path / "cache"
    report, _ = run([root / "Dockerfile"], cache)
    assert any(f.data for f in report.findings)  # the raw URLs are in `data` ...
    database = cache / "scan-v1.sqlite"
    assert token not in database.read_bytes().decode("utf-8", "replace")  # ... not stored
    assert database.stat().st_mode & 0o777 == 0o600


def test_paths_are_reported_as_given_relative_or_absolute(submission, tmp_path, monkeypatch):
    monkeypatch.chdir(submission.parent)
    cache = tmp_path / "cache"
    (submission / "requirements.txt").write_text(RANGED)
    age(submission)
    for _ in range(2):  # cold, then warm
        for given in ("sub/Dockerfile", str(submission / "Dockerfile"), "./sub/Dockerfile"):
            report, findings = run([Path(given)], cache)
            fresh = scan_paths([given], ScanOptions()).findings
            assert findings == [f.to_json() for f in fresh], given
    assert report.cached == 1


def test_a_symlink_out_of_the_context_is_followed_fresh(tmp_path):
    outside = tmp_path / "outside"
    write(outside, {"req.txt": PINNED})
    root = tmp_path / "sub"
    write(root, {"Dockerfile": "FROM scratch\nCOPY link/req.txt /app/\n"})
    (root / "link").symlink_to(outside)
    age(tmp_path)
    cache = tmp_path / "cache"
    _, before = run([root / "Dockerfile"], cache)
    assert "CTX001" not in rules_of(before)
    (outside / "req.txt").unlink()
    report, after = run([root / "Dockerfile"], cache)
    assert report.cached == 0
    assert "CTX001" in rules_of(after)


def test_the_global_git_excludes_file_is_part_of_the_stamp(tmp_path, monkeypatch):
    home = tmp_path / "home"
    write(home, {".gitconfig": f"[core]\n\texcludesFile = {home / 'myignore'}\n",
                 "myignore": "*.tmp\n"})
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    cache_module._global_git_files.cache_clear()
    root = tmp_path / "repo"
    write(root, {"Dockerfile": "FROM scratch\nCOPY model.bin /m\n", "model.bin": "x"})
    git(root, "init", "-q")
    git(root, "add", "Dockerfile")
    git(root, "commit", "-q", "-m", "one")
    age(tmp_path)
    cache = tmp_path / "cache"
    run([root / "Dockerfile"], cache)
    (home / "myignore").write_text("*.bin\n")  # model.bin is git-ignored now
    age(home, seconds=30)
    cache_module._global_git_files.cache_clear()
    report, warm = run([root / "Dockerfile"], cache)
    clear_caches()
    fresh = [f.to_json() for f in scan_paths([str(root / "Dockerfile")], ScanOptions()).findings]
    assert report.cached == 0
    assert warm == fresh
    cache_module._global_git_files.cache_clear()


def test_a_locked_cache_is_waited_for_then_left_alone(submission, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    run([submission / "Dockerfile"], cache)
    database = cache / "scan-v1.sqlite"
    inode = database.stat().st_ino
    monkeypatch.setattr(cache_module, "LOCK_TIMEOUT", 0.2)
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        report, _ = run([submission / "Dockerfile"], cache)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    err = capsys.readouterr().err
    assert "result cache not used" in err and "unreadable" not in err
    assert report.cached == 0 and not report.errors
    assert database.stat().st_ino == inode  # not deleted and recreated
    again, _ = run([submission / "Dockerfile"], cache)
    assert again.cached == 1  # the entries survived


def test_a_dockerfile_over_the_size_cap_is_not_read_for_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr("carpenter.model.source.MAX_BYTES", 1000)
    root = tmp_path / "sub"
    write(root, {"Dockerfile": "FROM scratch\n" + "# padding\n" * 200})
    age(root)
    report, _ = run([root / "Dockerfile"], tmp_path / "cache")
    assert any("too large" in e.message for e in report.errors)
    assert report.cached == 0


def test_git_metadata_that_is_not_utf8_does_not_break_the_scan(tmp_path):
    root = tmp_path / "repo"
    write(root, {"Dockerfile": "FROM scratch\n"})
    git(root, "init", "-q")
    (root / ".git" / "HEAD").write_bytes(b"ref: refs/heads/\xff\xfe\n")
    age(tmp_path)
    report, _ = run([root / "Dockerfile"], tmp_path / "cache")
    assert not any("internal error" in e.message for e in report.errors), report.errors
