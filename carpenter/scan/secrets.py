"""Secret detection over a build context: detect-secrets plus Carpenter's own regex pass.

The shapes themselves (token prefixes, secret-named variables, placeholders) live in the bottom
layer, `carpenter.core.shapes`, so that redaction never depends on this stage; they are
re-exported here for the rules. `scan_files(paths)` runs detect-secrets over the text files of
a build context, with its default plugins (minus the noisy entropy and IP ones), and
Carpenter's whole-file pass for what they miss (Hugging Face, W&B, unquoted tokens,
secret-named variables, keys on the lines around). A context file goes to detect-secrets only
where one of its plugins can match (secret_gate.py: generated from detect-secrets' own regexes,
so the result is the same as running it on every file). Nothing is ever verified over the
network.
"""

from __future__ import annotations

import re
from functools import lru_cache

from carpenter.core.lazyre import lazy_compile
from carpenter.core.patterncache import compile_cached
from carpenter.core.records import record
from carpenter.core.redact import fingerprint, mask_kind, remember
from carpenter.core.shapes import (  # noqa: F401  (re-exported for the rules)
    Contextual,
    Hit,
    SecretData,
    TokenShape,
    entropy,
    find_assignment_secrets,
    find_secrets,
    find_secrets_in_file_text,
    is_placeholder,
    is_secret_name,
    looks_random,
    secret_data,
)

_NEWLINE = lazy_compile("\n")

# ---------------------------------------------------------------------------------------------
# detect-secrets over context files


@record(eq=False, slots=True)
class FileHit:
    """A secret found in a context file (its value stays in memory, never printed)."""

    path: str  # as given
    line: int  # 1-based
    kind: str
    title: str
    value: str  # memory only
    prefix: str
    variable: str


# detect-secrets plugin type -> (kind, visible prefix); others are reported as "detect-secrets".
DETECT_SECRETS_TITLES = {
    "Secret Keyword": "value of a secret-named key",
    "Basic Auth Credentials": "password in a URL",
    "Private Key": "private key",
}
DETECT_SECRETS_KINDS = {
    "AWS Access Key": "aws-access-key-id",
    "Basic Auth Credentials": "url-credentials",
    "GitHub Token": "github-token",
    "OpenAI Token": "openai-api-key",
    "Private Key": "private-key",
    "PyPI Token": "pypi-token",
    "Slack Token": "slack-token",
    "Secret Keyword": "generic-secret",
    "JSON Web Token": "jwt",
}
EXCLUDED_PLUGINS = frozenset(
    {"Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector"}
)


def scan_files(paths: list[str]) -> list[FileHit]:
    """detect-secrets (default plugins) plus Carpenter's regex pass over files; no network
    verification. Falls back to the regex pass alone when detect-secrets is not importable."""
    if not paths:
        return []
    # detect-secrets hands plugins one line at a time; the whole-file pass adds Carpenter's
    # shapes and what needs the lines around (`.netrc`: the W&B host above the password).
    return _one_per_value(detect_secrets_hits(paths) + _scan_files_with_regexes(paths))


def detect_secrets_hits(paths: list[str]) -> list[FileHit]:
    """What detect-secrets' own plugins report in the files (placeholders dropped)."""
    if not paths:
        return []  # setting detect-secrets up costs ~10 ms: not for nothing
    try:
        from detect_secrets import SecretsCollection
        from detect_secrets.settings import default_settings, transient_settings
    except ImportError:
        return []
    with default_settings() as defaults:
        base = defaults.json()
    plugins = [p for p in base["plugins_used"] if p["name"] not in EXCLUDED_PLUGINS]
    for p in plugins:
        if p["name"] == "KeywordDetector":
            p["keyword_exclude"] = ""
    settings = {"plugins_used": plugins, "filters_used": base["filters_used"]}
    collection = SecretsCollection()
    with transient_settings(settings):
        for path in paths:
            collection.scan_file(path)
    return _file_hits(collection)


def _file_hits(collection) -> list[FileHit]:
    out: list[FileHit] = []
    for filename, secret in collection:
        value = secret.secret_value or ""
        kind = DETECT_SECRETS_KINDS.get(secret.type, "other-secret")
        title = DETECT_SECRETS_TITLES.get(secret.type, secret.type)
        if kind in ("generic-secret", "url-credentials") and is_placeholder(value):
            continue
        out.append(FileHit(filename, secret.line_number, kind, title, value,
                           _known_prefix(value), ""))
    return _one_per_value(out)


def _one_per_value(hits: list[FileHit]) -> list[FileHit]:
    """Several plugins firing on one value of one line: keep the most specific."""
    best: dict[tuple[str, int, str], FileHit] = {}
    for hit in hits:
        key = (hit.path, hit.line, hit.value)
        if key not in best or _specificity(hit) > _specificity(best[key]):
            best[key] = hit
    by_line: dict[tuple[str, int], list[str]] = {}
    for path, line, value in best:
        by_line.setdefault((path, line), []).append(value)
    kept = [h for h in best.values() if not _inside_another(h, by_line[(h.path, h.line)])]
    return sorted(kept, key=lambda h: (h.path, h.line))


def _specificity(hit: FileHit) -> int:
    """A token's own kind says more than "password in a URL", which says more than a name."""
    if hit.kind in ("generic-secret", "other-secret"):
        return 0
    return 1 if hit.kind == "url-credentials" else 2


def _inside_another(hit: FileHit, values_on_line: list[str]) -> bool:
    """detect-secrets' GitHub plugin reports only the token's prefix (`ghp`, its regex group):
    a value that is part of a longer value found on the same line is that same secret."""
    return any(value != hit.value and hit.value in value for value in values_on_line)


def without_name_only_hits(hits: list[FileHit]) -> list[FileHit]:
    """Drop hits that are a secret-named variable holding a reference, not a value (Python
    and notebooks), and shapes that are a coincidence inside a base64 blob."""
    from carpenter.scan.secret_filters import keep_hit

    texts: dict[str, str] = {}
    kept = []
    for hit in hits:
        if hit.path not in texts:
            try:
                with open(hit.path, encoding="utf-8", errors="replace") as handle:
                    texts[hit.path] = handle.read()
            except OSError:
                texts[hit.path] = ""
        if keep_hit(hit.path, texts[hit.path], hit.line, hit.kind, hit.value):
            kept.append(hit)
    return kept


def _known_prefix(value: str) -> str:
    for shape in secret_data().tokens:
        match = shape.regex.match(value)
        if match:
            return match.group("prefix")
    return ""


def _scan_files_with_regexes(paths: list[str]) -> list[FileHit]:
    out: list[FileHit] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError:
            continue
        starts = [0] + [m.end() for m in _NEWLINE.finditer(text)]
        import bisect

        for hit in find_secrets_in_file_text(text):
            line = bisect.bisect_right(starts, hit.start)
            out.append(FileHit(path, line, hit.kind, hit.title, hit.value, hit.prefix,
                               hit.variable))
    return out


# ---------------------------------------------------------------------------------------------
# Reporting helpers shared by the SEC rules

# `--token VALUE`-style options whose value is a credential whatever its shape.
SECRET_OPTIONS = lazy_compile(
    r"^--?(?:token|hf[_-]?token|access[_-]?token|auth[_-]?token|use[_-]auth[_-]token|api[_-]?key|"
    r"password|passwd|secret|key)$",
    re.IGNORECASE,
)


def masked(kind: str, value: str, prefix: str = "") -> str:
    """The value as a secret rule shows it; the value joins the run's redaction registry, so
    every other message, snippet, diff and log line that quotes it is masked too."""
    remember((value,))
    return mask_kind(kind, value, prefix)


def fingerprint_of(value: str) -> str:
    return fingerprint(value)


@lru_cache(maxsize=1)
def token_file_patterns():
    """(patterns, exempt, gate): DockerIgnore matchers for the token-file list, and a regex on
    file names that any match must pass (so most files cost one regex, not every pattern)."""
    import fnmatch

    from carpenter.model.dockerignore import DockerIgnore, parse_patterns

    data = secret_data()
    names = {p.rsplit("/", 1)[-1] for p in data.token_files}
    gate = compile_cached("|".join(fnmatch.translate(n) for n in sorted(names)))
    return (DockerIgnore(parse_patterns("\n".join(data.token_files))),
            DockerIgnore(parse_patterns("\n".join(data.token_files_exempt))), gate)


def is_context_text_file(rel: str) -> bool:
    data = secret_data()
    name = rel.rsplit("/", 1)[-1]
    if name in data.context_names or name.startswith(".env"):
        return True
    dot = name.rfind(".")
    return dot > 0 and name[dot:] in data.context_suffixes


@record(eq=False)
class ContextSecrets:
    """The secrets of the context files, and what the pass skipped."""

    hits: list[tuple[str, FileHit]]  # (context-relative path, hit)
    files: int
    skipped_large: list[str]
    truncated: bool
    read_bytes: int = 0


def context_secrets(context) -> ContextSecrets:
    """detect-secrets over the text files the build sends, once per build context."""
    cached = context.facts.get("secrets")
    if cached is not None:
        return cached  # type: ignore[return-value]
    from carpenter.scan.engine import is_dockerfile_name

    data = secret_data()
    readable: list[str] = []
    skipped: list[str] = []
    total = read = 0
    truncated = False
    for rel in context.sent_files():
        name = rel.rsplit("/", 1)[-1]
        if not is_context_text_file(rel) or is_dockerfile_name(name):
            continue
        size = context.entries[rel].size
        if size > data.max_file_bytes:
            skipped.append(rel)
            continue
        if read >= data.max_files or total + size > data.max_total_bytes:
            truncated = True
            break
        total += size
        read += 1
        readable.append(rel)
    # Carpenter's own regex pass: files without any secret-ish word skip it.
    chosen = [rel for rel in readable if _may_hold_secret(context.fs_path(rel), data.prefilter)]
    # detect-secrets costs ~5 ms a file and ~0.2 s to import: only files where one of its
    # plugins can match go to it (secret_gate), up to a cap.
    engine: list[str] = []
    engine_bytes = 0
    for rel in readable:
        size = context.entries[rel].size
        if (len(engine) >= data.max_engine_files or size > data.max_engine_file_bytes
                or engine_bytes + size > data.max_engine_bytes):
            continue
        if engine_gate(context.fs_path(rel)):
            engine.append(rel)
            engine_bytes += size
    by_path = {context.fs_path(rel): rel for rel in readable}
    found = _one_per_value(detect_secrets_hits([context.fs_path(r) for r in engine])
                           + _scan_files_with_regexes([context.fs_path(r) for r in chosen]))
    found = without_name_only_hits(found)
    hits = [(by_path.get(h.path, h.path), h) for h in found]
    result = ContextSecrets(hits, read, skipped, truncated)
    result.read_bytes = total
    context.facts["secrets"] = result
    return result


def engine_gate(path: str) -> bool:
    """Whether detect-secrets could report anything in the file (secret_gate)."""
    from carpenter.scan.secret_gate import may_report

    return may_report(path)


def _may_hold_secret(path: str, prefilter: re.Pattern[bytes]) -> bool:
    """One regex over the raw bytes: files without any secret-ish word skip detect-secrets."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return False
    return b"\x00" not in data[:8192] and prefilter.search(data.lower()) is not None
