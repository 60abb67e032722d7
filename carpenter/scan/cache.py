"""A persistent per-Dockerfile result cache, so a re-scan only re-checks what changed.

Like ruff's cache, an entry is keyed by the file and the settings and is valid only while
everything the scan read is unchanged. A scan of one Dockerfile reads:

- the Dockerfile itself: its bytes are hashed (never trusted to an mtime);
- the build context: every entry (path, type, size, mtime) of a full walk, `.git` excluded;
- the git repository holding it (tracked/ignored status, secrets in history): HEAD, the refs,
  the index, the exclude files and the `.gitignore` files between the context and the top;
- Carpenter itself: its code, its `carpenter/data/` data, the versions of the parsers it uses.

A change anywhere in that set misses. Entries are not written when a file in the set changed
within RACY_SECONDS (file times are coarse: a same-size rewrite in the same tick would look
unchanged, the "racy git" problem), when the result holds an error (it may be transient), when
a rule looked outside the context (where else a missing COPY source exists: folders above the
context are not stamped, since a report written next to the context would change them), or when
the context is too large to walk cheaply.

Entries live in one SQLite file, written in one transaction per run (never half an entry;
concurrent runs wait for each other's lock). A corrupt entry is a miss; a file that is not a
database is replaced; an unwritable folder or a lock held too long is a message and a scan
without cache. Entries hold what the JSON report holds, messages already redacted (a warm run
trusts them and skips the secret regexes); never a finding's `data` (raw URLs), never a
secret. The file is private to its owner (0600).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import stat
import sys
import time
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from carpenter.core.redact import redacted_fixed_point, trust_redacted
from carpenter.scan.finding import Finding

if TYPE_CHECKING:
    from carpenter.scan.engine import FileResult

FORMAT = 1
RACY_SECONDS = 2.0
FIELDS = [f.name for f in fields(Finding)]
_MESSAGE, _HINT, _DATA, _PAYLOAD = (
    FIELDS.index(name) for name in ("message", "fix_hint", "data", "payload")
)
MAX_STAMP_ENTRIES = 20_000  # a larger context is scanned every time (its walk would dominate)
DAY = 86_400
LOCK_TIMEOUT = 10.0  # seconds to wait for another run's write before going without cache
_BROKEN_DATABASE = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB: the file is replaced
KEEP_DAYS = 30  # entries unused this long are deleted (scans of since-deleted clones)
# Modules whose behaviour shapes findings; an upgrade changes their files' stamps.
_TOOLS = ("dockerfile", "bashlex", "packaging", "detect_secrets", "tree_sitter",
          "tree_sitter_bash", "git", "yaml")


class Stamp:
    """A digest of the things one scan depends on, and the newest mtime among them."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.newest = 0
        self.complete = True  # False: too large or unreadable, do not cache

    def add(self, *parts: object) -> None:
        self._hash.update(repr(parts).encode("utf-8", "surrogateescape"))

    def add_stat(self, path: str, label: str | None = None) -> None:
        try:
            st = os.lstat(path)
        except OSError:
            self.add(label or path, None)
            return
        self.add(label or path, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino)
        self.newest = max(self.newest, st.st_mtime_ns)

    def digest(self) -> str:
        return self._hash.hexdigest()


class ResultCache:
    """Lookup and store of per-Dockerfile results for one set of scan options."""

    def __init__(self, folder: str, settings: object) -> None:
        self.path = os.path.join(folder, f"scan-v{FORMAT}.sqlite")
        self.started = time.time()
        # The key names the file and the settings, so a changed file or a new Carpenter
        # overwrites its entry rather than adding one: the cache stays one entry per
        # (file, settings). The code stamp is checked inside the entry.
        git_env = sorted((k, v) for k, v in os.environ.items() if k.startswith("GIT_"))
        self.settings = hashlib.sha256(repr((settings, os.getcwd(), git_env)).encode(
            "utf-8", "surrogateescape")).hexdigest()
        self.code = _code_stamp()
        self.usable = True
        self._conn: Any = None
        self._pending: list[tuple[str, str, str, str, int]] = []
        self._touched: list[str] = []  # hit entries whose last use is over a day old
        self._git: dict[str, tuple[str, int]] = {}
        self._contexts: dict[str, Stamp] = {}
        self._reals: dict[str, str] = {}
        self._tops: dict[str, str | None] = {}
        self._ignore_chains: dict[str, tuple[str, int]] = {}

    # -- lookup --------------------------------------------------------------------------------
    def key(self, path: str) -> str:
        # The path as the user gave it (with the working directory, in the settings): reports
        # show paths that way, so `sub/Dockerfile` and its absolute path are two entries.
        return hashlib.sha256(f"{self.settings}\0{path}".encode(
            "utf-8", "surrogateescape")).hexdigest()

    def stamp(self, path: str, context_dir: str) -> Stamp | None:
        """What the scan of `path` depends on; None if that cannot be told cheaply."""
        from carpenter.model.source import MAX_BYTES

        stamp = Stamp()
        try:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_BYTES:
                return None  # a FIFO would block; a huge file is refused by the scan anyway
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            stamp.add("dockerfile", digest.hexdigest())
        except OSError:
            return None
        stamp.newest = st.st_mtime_ns
        context = self._context_stamp(context_dir)
        if not context.complete:
            return None
        stamp.add("context", context.digest())
        stamp.newest = max(stamp.newest, context.newest)
        return stamp

    def get(self, path: str, stamp: Stamp) -> list[Finding] | None:
        """The findings stored for `path` while its stamp still matches (never errors: a
        result with errors is not stored)."""
        key = self.key(path)
        row = self._read(key)
        if row is None or row[0] != stamp.digest() or row[1] != self.code:
            return None  # a stale entry's body is never parsed
        findings = _findings(row[2])
        if findings is not None and row[3] < self.started - DAY:
            self._touched.append(key)
        return findings

    def put(self, path: str, stamp: Stamp, result: FileResult) -> None:
        if result.errors or result.looked_outside or not self.usable or self._racy(stamp):
            return
        if result.suppressed:
            return  # entries hold findings only: a warm run would lose the suppression count
        rows = [_row(f) for f in result.findings]
        if any(row is None for row in rows):
            return  # a message redaction does not settle: never trust it to the cache
        body = {"path": path, "fields": FIELDS, "findings": rows}
        self._pending.append((self.key(path), stamp.digest(), self.code,
                              json.dumps(body, separators=(",", ":")), int(self.started)))

    def _racy(self, stamp: Stamp) -> bool:
        return stamp.newest / 1e9 >= self.started - RACY_SECONDS

    # -- stamps --------------------------------------------------------------------------------
    def _context_stamp(self, context_dir: str) -> Stamp:
        root = os.path.abspath(context_dir)
        if root not in self._contexts:
            stamp = Stamp()
            _walk_stamp(root, self._real(root), stamp)
            git, newest = self._git_stamp(root)
            stamp.add("git", git)
            stamp.newest = max(stamp.newest, newest)
            self._contexts[root] = stamp
        return self._contexts[root]

    def _git_stamp(self, root: str) -> tuple[str, int]:
        real = self._real(root)
        top = self._top(real)
        if top is None:
            return "", 0
        if top not in self._git:
            repo = Stamp()
            _repository_stamp(top, repo)
            self._git[top] = (repo.digest(), repo.newest)
        digest, newest = self._git[top]
        ignores, ignores_newest = self._ignores(os.path.dirname(real), top)
        return f"{digest}:{ignores}", max(newest, ignores_newest)

    def _ignores(self, folder: str, top: str) -> tuple[str, int]:
        """The .gitignore files from `folder` up to the top of the repository (the context's
        own are in its walk), memoized by folder: sibling contexts share the chain."""
        if folder not in self._ignore_chains:
            stamp = Stamp()
            stamp.add_stat(os.path.join(folder, ".gitignore"))
            if folder != top and folder.startswith(top + os.sep):
                above, newest = self._ignores(os.path.dirname(folder), top)
                stamp.add(above)
                stamp.newest = max(stamp.newest, newest)
            self._ignore_chains[folder] = (stamp.digest(), stamp.newest)
        return self._ignore_chains[folder]

    def _real(self, path: str) -> str:
        """os.path.realpath, memoized by folder: siblings share every parent's lookup."""
        path = os.path.abspath(path)
        if path not in self._reals:
            parent = os.path.dirname(path)
            if parent == path or os.path.islink(path):
                self._reals[path] = os.path.realpath(path)
            else:
                self._reals[path] = os.path.join(self._real(parent), os.path.basename(path))
        return self._reals[path]

    def _top(self, real: str) -> str | None:
        """The working tree holding `real` (a `.git` inside a folder), memoized by folder."""
        if real not in self._tops:
            parent = os.path.dirname(real)
            if os.path.exists(os.path.join(real, ".git")):
                self._tops[real] = real
            else:
                self._tops[real] = None if parent == real else self._top(parent)
        return self._tops[real]

    # -- storage -------------------------------------------------------------------------------
    def _db(self):
        """The entries table, opened on first use; None once the cache is unusable."""
        if self._conn is None and self.usable:
            import sqlite3

            try:
                self._conn = self._connect()
            except sqlite3.DatabaseError as exc:
                if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in _BROKEN_DATABASE:
                    self._disable(exc)  # locked too long, read-only, ...: leave it alone
                    return None
                print(f"carpenter: result cache {self.path} was unreadable ({exc}); "
                      "starting a new one", file=sys.stderr)
                try:
                    os.unlink(self.path)
                    self._conn = self._connect()
                except (OSError, sqlite3.Error) as again:
                    self._disable(again)
            except (OSError, sqlite3.Error) as exc:
                self._disable(exc)
        return self._conn

    def _connect(self):
        import sqlite3

        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        if not os.path.exists(self.path):  # created private: entries name the user's files
            with contextlib.suppress(FileExistsError):  # a concurrent run was first
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        conn = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT, isolation_level=None)
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, "
                         "stamp TEXT NOT NULL, code TEXT NOT NULL, body TEXT NOT NULL, "
                         "used INTEGER NOT NULL)")
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    def _read(self, key: str) -> tuple[str, str, str, int] | None:
        """(stamp, code, body, used) of the entry, or None."""
        import sqlite3

        conn = self._db()
        if conn is None:
            return None
        try:
            return conn.execute("SELECT stamp, code, body, used FROM entries WHERE key = ?",
                                (key,)).fetchone()
        except sqlite3.Error as exc:
            self._disable(exc)
            return None

    def flush(self) -> None:
        """Write the new entries in one transaction (all of them or, on error, none), mark
        entries in use and delete those unused for KEEP_DAYS."""
        import sqlite3

        now = int(self.started)
        conn = self._db() if self._pending or self._touched else None
        if conn is not None:
            try:
                with conn:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?)",
                                     self._pending)
                    conn.executemany("UPDATE entries SET used = ? WHERE key = ?",
                                     [(now, key) for key in self._touched])
                    conn.execute("DELETE FROM entries WHERE used < ?", (now - KEEP_DAYS * DAY,))
            except sqlite3.Error as exc:
                self._disable(exc)
        self._pending.clear()
        self._touched.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _disable(self, exc: Exception) -> None:
        if self.usable:
            print(f"carpenter: result cache not used ({self.path}: "
                  f"{getattr(exc, 'strerror', None) or exc}); scanning without it",
                  file=sys.stderr)
        self.usable = False
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


def _row(finding: Finding) -> list[Any] | None:
    """The finding as stored: message and fix hint already redacted (every output redacts
    them anyway), so a warm run need not run the secret regexes over them again."""
    message = redacted_fixed_point(finding.message)
    hint = redacted_fixed_point(finding.fix_hint)
    if message is None or hint is None:
        return None
    row = [getattr(finding, name) for name in FIELDS]
    # `data` and `payload` are for `fix`, which never reads the cache; they can hold raw URLs
    # with credentials (and a payload is no JSON value).
    row[_MESSAGE], row[_HINT], row[_DATA], row[_PAYLOAD] = message, hint, {}, None
    return row


def _findings(body: str) -> list[Finding] | None:
    """The findings of a stored body; None for a corrupt one or another Finding layout."""
    try:
        entry = json.loads(body)
        if entry["fields"] != FIELDS:
            return None
        findings = [Finding(*row) for row in entry["findings"]]
    except (ValueError, KeyError, TypeError):
        return None
    if not all(isinstance(f.message, str) and isinstance(f.fix_hint, str) for f in findings):
        return None
    trust_redacted([f.message for f in findings] + [f.fix_hint for f in findings])
    return findings


# ---------------------------------------------------------------------------------------------
# What a scan depends on


def _walk_stamp(root: str, real_root: str, stamp: Stamp) -> None:
    """Every entry of the context except `.git` (the git stamp covers it). A symbolic link that
    leads out of the context makes it uncacheable: COPY follows it to files not stamped here."""
    rows: list[tuple] = []  # hashed once at the end: one digest update per context
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as items:
                listing = sorted(items, key=lambda item: item.name)
        except OSError as exc:
            rows.append((folder, "unreadable", exc.errno))
            continue
        if len(rows) + len(listing) > MAX_STAMP_ENTRIES:
            stamp.complete = False
            return
        for item in listing:
            try:
                st = item.stat(follow_symlinks=False)
            except OSError:
                rows.append((item.path, None))
                continue
            rows.append((item.path, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino))
            if stat.S_ISLNK(st.st_mode) and not _inside(os.path.realpath(item.path), real_root):
                stamp.complete = False
                return
            if not stat.S_ISDIR(st.st_mode):
                # Folder times do not count as racy: their listing is stamped entry by entry.
                stamp.newest = max(stamp.newest, st.st_mtime_ns)
            elif item.name != ".git":
                stack.append(item.path)
    stamp.add(rows)


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _read_small(path: str) -> str | None:
    """A small regular file's text (git metadata), never blocking on a FIFO, any bytes."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 65536:
            return None
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "surrogateescape")
    except OSError:
        return None


def _repository_stamp(top: str, stamp: Stamp) -> None:
    git_dir = os.path.join(top, ".git")
    if os.path.isfile(git_dir):  # a worktree or submodule: `gitdir: <path>`
        line = (_read_small(git_dir) or "").strip()
        if line.startswith("gitdir:"):
            git_dir = os.path.join(top, line.split(":", 1)[1].strip())
    dirs = [git_dir]
    common = _read_small(os.path.join(git_dir, "commondir"))
    if common is not None:
        dirs.append(os.path.join(git_dir, common.strip()))
    for folder in dirs:
        stamp.add("HEAD", _read_small(os.path.join(folder, "HEAD")))
        for name in ("index", "packed-refs", "logs/HEAD", "info/exclude", "config", "shallow"):
            stamp.add_stat(os.path.join(folder, name))
        for base, _dirs, files in os.walk(os.path.join(folder, "refs")):
            for name in sorted(files):
                stamp.add_stat(os.path.join(base, name))
    stamp.add_stat(os.path.join(top, ".gitmodules"))
    for path in _global_git_files():
        stamp.add_stat(path)
    if "excludesfile" in (_read_small(os.path.join(git_dir, "config")) or "").lower():
        stamp.add_stat(_excludes_file(top) or "")  # this repository names its own


@functools.lru_cache(maxsize=1)
def _global_git_files() -> tuple[str, ...]:
    """Git's global config files and the excludes file they name (ignore rules that decide
    whether a context file counts as git-ignored)."""
    home = os.path.expanduser("~")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    files = [os.path.join(xdg, "git", "ignore"), os.path.join(xdg, "git", "config"),
             os.path.join(home, ".gitconfig"), "/etc/gitconfig"]
    excludes = _excludes_file(None)
    return tuple(files + ([excludes] if excludes else []))


def _excludes_file(repo: str | None) -> str | None:
    """core.excludesFile as git reads it (one `git config` call; None when unset)."""
    import subprocess

    try:
        done = subprocess.run(["git", "config", "--path", "--get", "core.excludesFile"],
                              cwd=repo, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    value = done.stdout.strip()
    return os.path.expanduser(value) if done.returncode == 0 and value else None


_CODE: str | None = None


def _code_stamp() -> str:
    """Carpenter's code and data, and the versions of the parsers behind the rules."""
    global _CODE
    if _CODE is None:
        from importlib.util import find_spec

        from carpenter.core.resources import data_file

        stamp = Stamp()
        stamp.add(sys.version, FORMAT)
        package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        for root in (package, data_file()):  # str(data_dir()), without pathlib
            for base, dirs, files in os.walk(root):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                for name in sorted(files):
                    stamp.add_stat(os.path.join(base, name))
        for tool in _TOOLS:
            spec = find_spec(tool)  # finds without importing
            stamp.add_stat(spec.origin if spec and spec.origin else tool, tool)
        _CODE = stamp.digest()
    return _CODE
