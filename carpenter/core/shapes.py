"""Secret shapes: token prefixes, secret-named variables, placeholders (data/secrets.toml).

The bottom layer: redaction (`carpenter.core.redact`) and every secret rule share this one
regex engine, so what a rule can find, every output can mask. It imports nothing above
`carpenter.core`. `find_secrets(text)` is used on Dockerfile instructions, RUN words, git
history lines and any text about to leave Carpenter (fast, exact offsets); the detect-secrets
pass over context files lives in `carpenter.scan.secrets`.
Nothing is ever verified over the network.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from carpenter.core.errors import ConfigError
from carpenter.core.lazyre import lazy_compile, lazy_compile_bytes
from carpenter.core.records import record
from carpenter.core.resources import data_file
from carpenter.core.tomldata import TomlDataError, load_toml_data

_WORD = "A-Za-z0-9_"


@record(frozen=True, slots=True)
class Hit:
    """One secret found in a text: offsets are relative to that text."""

    kind: str
    title: str
    start: int  # offset of the secret value
    end: int
    value: str  # memory only: never print it (use carpenter.core.redact.mask)
    prefix: str  # visible prefix when masked (hf_, ghp_ ...)
    confidence: str  # high | medium
    variable: str  # environment variable the fix should read it from


@record(eq=False)
class TokenShape:
    """A secret that names itself by a prefix (`hf_`, `ghp_`, `AKIA`), from secrets.toml."""

    kind: str
    title: str
    regex: re.Pattern[str]  # groups: prefix, body
    strict: re.Pattern[str] | None
    min_entropy: float
    variable: str
    literals: tuple[str, ...] = ()  # one must occur in a text for the regex to be worth running


@record(eq=False)
class Contextual:
    """A secret recognised by its shape only next to a keyword (a W&B key after `wandb`)."""

    kind: str
    title: str
    regex: re.Pattern[str]
    keywords: re.Pattern[str]
    min_entropy: float
    variable: str


@record(eq=False)
class SecretData:
    """Every secret shape and threshold of secrets.toml, patterns compiled on first use."""

    tokens: tuple[TokenShape, ...]
    contextual: tuple[Contextual, ...]
    private_key: re.Pattern[str]
    url_credentials: re.Pattern[str]
    url_user_token: re.Pattern[str] | None
    url_user_token_min_entropy: float
    url_query: re.Pattern[str] | None
    name_words: re.Pattern[str]
    name_exempt: re.Pattern[str]
    known_names: frozenset[str]
    generic_min_length: int
    generic_min_entropy: float
    placeholder: re.Pattern[str]
    placeholder_words: re.Pattern[str]
    placeholder_apart: re.Pattern[str]
    placeholder_filler: re.Pattern[str]
    placeholder_min_rest: int
    contextual_key: re.Pattern[str]
    token_files: tuple[str, ...]
    token_files_exempt: tuple[str, ...]
    context_suffixes: frozenset[str]
    context_names: frozenset[str]
    max_file_bytes: int
    max_files: int
    max_total_bytes: int
    max_engine_files: int
    max_engine_bytes: int
    max_engine_file_bytes: int
    prefilter: re.Pattern[bytes]
    raw: dict[str, Any]


@lru_cache(maxsize=1)
def secret_data() -> SecretData:
    path = data_file("secrets.toml")
    try:
        return _compile(load_toml_data(path), path)
    except (OSError, TomlDataError, KeyError, re.error) as exc:
        raise ConfigError(f"cannot load secret patterns: {exc}", path=path) from None


def _compile(raw: dict[str, Any], origin: str) -> SecretData:
    # Every pattern compiles on first use (core.lazyre): a scan searches a token shape only
    # when its literal prefix is in the text, and most texts hold none.
    def compiled(pattern: str, flags: int = 0) -> re.Pattern[str]:
        return lazy_compile(pattern, flags, origin)

    tokens = []
    for item in raw["token"]:
        body = item["body"]
        if "prefix_regex" in item:
            prefix = item["prefix_regex"]
            regex = compiled(rf"(?<![{_WORD}])(?P<prefix>{prefix})(?P<body>{body})(?![{_WORD}])")
        else:
            # The literal first, the boundary check after it: re then searches for the literal
            # instead of testing the look-behind at every position of a long text.
            literal = re.escape(item["prefix"])
            regex = compiled(rf"(?P<prefix>{literal})(?<![{_WORD}]{literal})(?P<body>{body})"
                             rf"(?![{_WORD}])")
        strict = compiled(item["strict"]) if item.get("strict") else None
        literals = tuple(item.get("literals") or ([item["prefix"]] if "prefix" in item else []))
        tokens.append(TokenShape(item["kind"], item["title"], regex, strict,
                                 float(item.get("min_entropy", 3.0)), item.get("variable", ""),
                                 literals))
    contextual = []
    for item in raw.get("contextual", []):
        regex = compiled(rf"(?<![{_WORD}\-])(?P<body>{item['value']})(?![{_WORD}])")
        contextual.append(Contextual(item["kind"], item["title"], regex,
                                     compiled(item["keywords"]),
                                     float(item.get("min_entropy", 3.0)), item["variable"]))
    names = raw["names"]
    words = "|".join(re.escape(w) for w in sorted(names["words"], key=len, reverse=True))
    placeholders = "|".join(f"(?:{p})" for p in raw["placeholders"]["patterns"])
    marks = raw["placeholders"]
    place_words = "|".join(re.escape(w) for w in sorted(marks["words"], key=len, reverse=True))
    filler = "|".join(re.escape(w) for w in sorted(marks["filler"], key=len, reverse=True))
    files = raw["context_files"]
    return SecretData(
        tokens=tuple(tokens),
        contextual=tuple(contextual),
        private_key=compiled(raw["private_key"]["begin"]),
        url_credentials=compiled(raw["url_credentials"]["regex"]),
        url_user_token=_optional(compiled, raw["url_credentials"].get("user_token_regex")),
        url_user_token_min_entropy=float(raw["url_credentials"].get("user_token_min_entropy",
                                                                    3.0)),
        url_query=_optional(compiled, raw["url_credentials"].get("query_regex")),
        name_words=compiled(rf"(?i)(?:^|_|(?<=[a-z])(?=[A-Z]))(?:{words})(?:$|_)"),
        name_exempt=compiled(names["exempt"]),
        known_names=frozenset(n.upper() for n in names["known"]),
        generic_min_length=int(names.get("generic_min_length", 16)),
        generic_min_entropy=float(names.get("generic_min_entropy", 3.5)),
        placeholder=compiled(rf"(?:{placeholders})", re.IGNORECASE),
        placeholder_words=compiled(place_words, re.IGNORECASE),
        placeholder_apart=compiled(rf"(?<![a-z])(?:{place_words})(?![a-z])", re.IGNORECASE),
        placeholder_filler=compiled(filler, re.IGNORECASE),
        placeholder_min_rest=int(marks.get("words_min_rest", 12)),
        contextual_key=compiled(raw["contextual_lines"]["key_before_value"]),
        token_files=tuple(raw["token_files"]["patterns"]),
        token_files_exempt=tuple(raw["token_files"].get("exempt", [])),
        context_suffixes=frozenset(files["suffixes"]),
        context_names=frozenset(files["names"]),
        max_file_bytes=int(files["max_file_bytes"]),
        max_files=int(files["max_files"]),
        max_total_bytes=int(files["max_total_bytes"]),
        max_engine_files=int(files.get("max_engine_files", 200)),
        max_engine_bytes=int(files.get("max_engine_bytes", 1_000_000)),
        max_engine_file_bytes=int(files.get("max_engine_file_bytes", 100_000)),
        prefilter=lazy_compile_bytes(files["prefilter"].encode(), 0, origin),
        raw=raw,
    )


def _optional(compiled: Callable[[str], re.Pattern[str]],
              pattern: str | None) -> re.Pattern[str] | None:
    return compiled(pattern) if pattern else None


# ---------------------------------------------------------------------------------------------
# Value tests


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    if not text:
        return 0.0
    counts = Counter(text)
    total = len(text)
    return -sum(c / total * math.log2(c / total) for c in counts.values())


def is_placeholder(value: str) -> bool:
    """An empty value, a variable reference, `<your token>`, `hf_xxxx`, a repo id..."""
    stripped = value.strip().strip("\"'`").strip()
    data = secret_data()
    if data.placeholder.fullmatch(stripped) is not None:
        return True
    if data.placeholder_words.search(stripped) is None:
        return False
    if data.placeholder_apart.search(stripped) is not None:
        return True
    # `yourtokenhere`: the words run together; a random token that merely contains `zzz` keeps
    # enough random characters once the words are gone to stay a secret.
    rest = data.placeholder_filler.sub("", data.placeholder_words.sub("", stripped))
    return sum(c.isalnum() for c in rest) < data.placeholder_min_rest


def is_secret_name(name: str) -> bool:
    """Whether an ENV/ARG/key name says it holds a secret (Docker's SecretsUsedInArgOrEnv rule)."""
    data = secret_data()
    bare = name.strip().strip("\"'").lstrip("-")
    if bare.upper() in data.known_names:
        return True
    if data.name_words.search(bare) is None:
        return False
    return data.name_exempt.search(bare) is None


def looks_random(value: str) -> bool:
    """A generic value under a secret name that looks like a real credential."""
    data = secret_data()
    if len(value) < data.generic_min_length or any(c.isspace() for c in value):
        return False
    if is_placeholder(value) or _URL.fullmatch(value):
        return False
    return entropy(value) >= data.generic_min_entropy


# ---------------------------------------------------------------------------------------------
# The regex engine


def _lower(text: str) -> str:
    """Lower-cased text with the same offsets: case-sensitive regexes on it are ~9x faster than
    IGNORECASE ones. Non-ASCII text can change length when lowered, so it is mapped per char."""
    if text.isascii():
        return text.lower()
    if _CAPITAL_SIGMA not in text:
        # str.lower() maps each character as c.lower() does, except capital sigma (final-sigma
        # rule) and characters whose lower case is longer; none of those are lengthened and
        # none shrink, so an unchanged length proves no character changed length.
        lowered = text.lower()
        if len(lowered) == len(text):
            return lowered
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


_CAPITAL_SIGMA = "\u03a3"


def find_secrets(text: str) -> list[Hit]:
    """Every secret in `text` by shape (token prefixes, keyword context, keys, URL passwords)."""
    return _find_secrets(text, None)


def find_shaped_secrets(text: str) -> list[Hit]:
    """Secrets that identify themselves (token prefixes, key blocks, URL passwords), without
    the keyword-context guesses: what an output stream of machine-readable text (SARIF line
    hashes, git SHAs in rule docs) can be masked with, without mangling its own hashes."""
    return _find_secrets(text, None, contextual=False)


def _find_secrets(text: str, lowered: str | None, contextual: bool = True) -> list[Hit]:
    """find_secrets, reusing `_lower(text)` when the caller already has it."""
    data = secret_data()
    hits: list[Hit] = []
    for shape in data.tokens:
        if shape.literals and not any(literal in text for literal in shape.literals):
            continue  # substring search is C-fast; most texts hold no token prefix at all
        for match in shape.regex.finditer(text):
            body = match.group("body")
            value = match.group(0)
            if entropy(body) < shape.min_entropy or is_placeholder(value):
                continue
            strong = shape.strict is None or shape.strict.fullmatch(body) is not None
            hits.append(Hit(shape.kind, shape.title, match.start(), match.end(), value,
                            match.group("prefix"), "high" if strong else "medium", shape.variable))
    if lowered is None:
        lowered = _lower(text)
    for shape in data.contextual if contextual else ():
        if shape.keywords.search(lowered) is None:
            continue
        for match in shape.regex.finditer(text):
            if not _in_keyword_context(shape, lowered, match.start(), data):
                continue
            body = match.group("body")
            if entropy(body) < shape.min_entropy or is_placeholder(body):
                continue
            hits.append(Hit(shape.kind, shape.title, match.start(), match.end(), body, "",
                            "medium", shape.variable))
    for match in data.private_key.finditer(text) if "PRIVATE KEY" in text else ():
        end = text.find("-----END", match.end())
        end = len(text) if end < 0 else text.find("-----", end + 8) + 5
        hits.append(Hit("private-key", "private key", match.start(), max(end, match.end()),
                        text[match.start():end], "", "high", ""))
    hits.extend(_url_hits(text, lowered, data, hits))
    return _without_overlaps(hits)


def _in_keyword_context(shape: Contextual, lowered: str, offset: int, data: SecretData) -> bool:
    """The keyword on the value's own line; or on one of the two lines above when the value's
    line names it as a key (`.netrc`: `machine api.wandb.ai` / `password <key>`). A git SHA
    below a `wandb.init(...)` call (`revision="<40 hex>"`, `git checkout <sha>`) is no key."""
    if shape.keywords.search(_line_around(lowered, offset)) is not None:
        return True
    if shape.keywords.search(_line_around(lowered, offset, before=2)) is None:
        return False
    line_start = lowered.rfind("\n", 0, offset) + 1
    return data.contextual_key.search(lowered[line_start:offset]) is not None


def _url_hits(text: str, lowered: str, data: SecretData, hits: list[Hit]) -> list[Hit]:
    """Passwords in URLs (`user:pw@`, `:pw@`), tokens as the URL user, `?token=` parameters."""
    found: list[Hit] = []
    if "://" in text and "@" in text:
        for match in data.url_credentials.finditer(text):
            found.extend(_url_hit(match, hits, "password in a URL"))
        if data.url_user_token is not None:
            for match in data.url_user_token.finditer(text):
                if entropy(match.group("secret")) >= data.url_user_token_min_entropy:
                    found.extend(_url_hit(match, hits, "token used as the user name of a URL"))
    if data.url_query is not None and "=" in text and ("?" in text or "&" in text):
        for match in data.url_query.finditer(lowered):
            secret = text[match.start("secret"):match.end("secret")]
            if len(secret) >= 8 and entropy(secret) >= 2.5:
                found.extend(_url_hit(match, hits, "secret in a URL query parameter", secret))
    return found


def _url_hit(match: re.Match[str], hits: list[Hit], title: str,
             secret: str | None = None) -> list[Hit]:
    secret = match.group("secret") if secret is None else secret
    if is_placeholder(secret) or secret.startswith("$"):
        return []
    start, end = match.start("secret"), match.end("secret")
    if any(h.start >= start and h.end <= end for h in hits):
        return []  # a token used as a URL password is reported as the token
    return [Hit("url-credentials", title, start, end, secret, "", "medium", "GIT_PASSWORD")]


def find_assignment_secrets(name: str, value: str, value_offset: int = 0) -> list[Hit]:
    """Secrets in `NAME=value`: shaped tokens anywhere, or a random value under a secret name."""
    hits = [_shift(h, value_offset) for h in find_secrets(value)]
    if hits or not is_secret_name(name):
        return hits
    stripped = value.strip()
    if looks_random(stripped):
        start = value_offset + value.find(stripped)
        hits.append(Hit("generic-secret", f"value of the secret-named variable {name}", start,
                        start + len(stripped), stripped, "", "medium", name))
    return hits


def _shift(hit: Hit, offset: int) -> Hit:
    return Hit(hit.kind, hit.title, hit.start + offset, hit.end + offset, hit.value, hit.prefix,
               hit.confidence, hit.variable)


def _line_around(text: str, offset: int, before: int = 0) -> str:
    start = text.rfind("\n", 0, offset) + 1
    for _ in range(before):
        if start <= 0:
            break
        start = text.rfind("\n", 0, start - 1) + 1
    end = text.find("\n", offset)
    return text[start:] if end < 0 else text[start:end]


def _without_overlaps(hits: list[Hit]) -> list[Hit]:
    """Keep the longest hit where hits overlap (a token inside a private key block...)."""
    hits.sort(key=lambda h: (h.start, -(h.end - h.start)))
    kept: list[Hit] = []
    for hit in hits:
        if kept and hit.start < kept[-1].end:
            continue
        kept.append(hit)
    return kept


_URL = lazy_compile(r"[\w.\-]+://\S*")  # a URL under a secret name: not itself the secret
# Generic `name = value` / `name: value` / `name="value"` assignments in code and config files.
_ASSIGNMENT = lazy_compile(  # the look-behind keeps a long word from costing quadratic time
    r"""(?<![A-Za-z0-9_.\-])(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)["']?\s*(?::|=|:=|\s=>)\s*(?P<q>["'`]?)(?P<value>[^\s"'`,;)}\]#]+)(?P=q)"""
)


def find_secrets_in_file_text(text: str) -> list[Hit]:
    """Shapes plus random values assigned to secret-named keys (unquoted tokens included)."""
    lowered = _lower(text)
    hits = _find_secrets(text, lowered)
    covered = [(h.start, h.end) for h in hits]
    done: set[int] = set()
    # Only lines holding a secret-ish word can assign to a secret-named key.
    for keyword in _KEYWORD.finditer(lowered):
        line_start = text.rfind("\n", 0, keyword.start()) + 1
        if line_start in done:
            continue
        done.add(line_start)
        line_end = text.find("\n", keyword.end())
        line_end = len(text) if line_end < 0 else line_end
        for match in _ASSIGNMENT.finditer(text, line_start, line_end):
            name, value = match.group("name"), match.group("value")
            start = match.start("value")
            if any(s <= start < e for s, e in covered):
                continue
            if not is_secret_name(name.rsplit(".", 1)[-1]) or not looks_random(value):
                continue
            hits.append(Hit("generic-secret", f"value of the secret-named key {name}", start,
                            match.end("value"), value, "", "medium", name.upper()))
    return _without_overlaps(hits)


# A secret-ish word ending a name right before `=`/`:` (`HF_TOKEN =`, `api_key_value:`), so
# `tokenizer = ...` lines in ML code do not trigger the assignment check.
_KEYWORD = lazy_compile(r"(?:token|secret|passw(?:or)?d|pword|api_?key|access_?key|"
                      r"private_?key|auth|credentials?)(?:_\w*)?[\"']?\s*(?::|=)")
