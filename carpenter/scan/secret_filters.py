"""Drop secret findings in context files that are names, not values (Python-aware).

The shape engine (`carpenter.core.shapes`) is language-blind and shared with redaction, which
must stay strict; this stage-level filter only removes *findings*. LLM code is full of
secret-named variables that hold no secret (`self.token_dim = config.token_dim`,
`pad_token = tokenizer.eos_token`, `"TOKEN_CLS": PeftModelForTokenClassification`,
`token=args.hf_access_token`): a secret is a value, so a finding found only through a secret
*name* (kind `generic-secret`) is kept in Python code only when its value is a string literal,
or, in a comment, when it is not a dotted name, call or subscript. Python files are split with
the `tokenize` module so comments and strings are told apart; notebook source lines are decoded
from their JSON string first. Token shapes (`hf_...`, W&B keys) are kept wherever they are,
except inside long base64 blobs (notebook images), where any shape is a coincidence.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from functools import lru_cache

from carpenter.core.lazyre import lazy_compile
from carpenter.core.patterncache import seed_equivalent
from carpenter.core.shapes import secret_data

PYTHON_SUFFIXES = (".py", ".pyi", ".pyw")
# A base64 payload (an embedded image or model blob); real tokens never sit inside one.
_BLOB = lazy_compile(r"[A-Za-z0-9+/]{200,}={0,2}")
# `a.b`, `a.b(...)`, `f(...)`, `x[...]`: a reference to something, not a credential.
_REFERENCE = lazy_compile(r"[A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)+\s*(?:[(\[].*)?"
                        r"|[A-Za-z_]\w*\s*[(\[].*")
_LITERAL_TYPES = frozenset({tokenize.STRING} | {
    getattr(tokenize, name) for name in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
    if hasattr(tokenize, name)})

Tokens = dict[int, list[tokenize.TokenInfo]]


def keep_hit(path: str, text: str, line: int, kind: str, value: str) -> bool:
    """Whether a hit at 1-based `line` of the file `path` (content `text`) is a real finding."""
    line_text = _line(text, line)
    if _in_blob(line_text, value):
        return False
    if kind != "generic-secret":
        return True
    if _exempt_key(line_text, value):
        return False
    lower = path.lower()
    if lower.endswith(PYTHON_SUFFIXES):
        return _python_value(_tokens(text), line, line_text, value)
    if lower.endswith(".ipynb"):
        return _notebook_value(line_text, value)
    return True


# The key a value is assigned to on its line: `secret_name: x`, `"api_key_env": "x"`, `k = x`.
_KEY_BEFORE = lazy_compile(r"""([A-Za-z_][\w.\-]*)["']?\s*[:=]\s*["']?$""")


def _exempt_key(line_text: str, value: str) -> bool:
    """A value under a key that names something about a secret, not the secret itself
    (`secret_name`, `token_type`, `api_key_path`): the same exemptions as Carpenter's own
    secret-name rule, applied to detect-secrets' keyword hits too."""
    at = line_text.find(value)
    # The key is right before the value: a bounded window keeps the `$`-anchored search
    # linear on a hostile megabyte-long line.
    match = _KEY_BEFORE.search(line_text[max(0, at - 256):at]) if at > 0 else None
    if match is None:
        return False
    name = match.group(1).rsplit(".", 1)[-1]
    data = secret_data()
    return name.upper() not in data.known_names and data.name_exempt.search(name) is not None


def _line(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""


def _in_blob(line_text: str, value: str) -> bool:
    if len(line_text) < 200 or not value:
        return False
    at = line_text.find(value)
    return at >= 0 and any(m.start() <= at < m.end() for m in _BLOB.finditer(line_text))


@lru_cache(maxsize=1)
def _prime_tokenize() -> None:
    """tokenize compiles one large pattern on first use (~13M instructions, more than the rest
    of the filtering); its text lists the string prefixes (r, b, rb, f, ...) in set order,
    which follows the hash seed, so the same text never comes twice. The alternation order of
    the prefixes cannot change a match (a prefix must be followed by the quote, and only one
    alternative is), so the text with the prefixes sorted is compiled through the pattern
    cache and handed to tokenize under its own text."""
    prefix = getattr(tokenize, "StringPrefix", None)
    pseudo = getattr(tokenize, "PseudoToken", None)
    prefixes = getattr(tokenize, "_all_string_prefixes", None)
    if not (isinstance(prefix, str) and isinstance(pseudo, str) and callable(prefixes)):
        return  # another tokenize: it compiles its own, as without this
    ordered = sorted(prefixes())
    if prefix in pseudo and sorted(prefix[1:-1].split("|")) == ordered:  # the shape assumed
        seed_equivalent(pseudo, pseudo.replace(prefix, "(" + "|".join(ordered) + ")"),
                        re.UNICODE.value)


@lru_cache(maxsize=8)
def _tokens(text: str) -> Tokens:
    """Python tokens by every line they cover; a file that stops tokenizing keeps what it had."""
    _prime_tokenize()
    by_line: Tokens = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            for row in range(tok.start[0], tok.end[0] + 1):
                by_line.setdefault(row, []).append(tok)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return by_line


def _token_at(tokens: list[tokenize.TokenInfo], line: int, col: int) -> tokenize.TokenInfo | None:
    for tok in tokens:
        if tok.start <= (line, col) < tok.end:
            return tok
    return None


def _python_value(tokens: Tokens, line: int, line_text: str, value: str) -> bool:
    col = line_text.find(value)
    if col < 0:
        return True  # cannot place it: keep (never lose a secret to the filter)
    tok = _token_at(tokens.get(line, []), line, col)
    if tok is None:
        return _comment_value(value)  # the file stopped tokenizing before this line
    if tok.type in _LITERAL_TYPES:
        return True
    if tok.type == tokenize.COMMENT:
        return _comment_value(value)
    return False  # a name, attribute access, call or subscript in code


def _comment_value(value: str) -> bool:
    """Commented-out code: a reference is no secret; any other word may be one."""
    return _REFERENCE.fullmatch(value.strip()) is None


def _notebook_value(line_text: str, value: str) -> bool:
    """A notebook line is a JSON string holding one line of a cell (source or output)."""
    raw = line_text.strip().rstrip(",")
    try:
        code = json.loads(raw)
    except ValueError:
        return _comment_value(value)
    if not isinstance(code, str):
        return True
    decoded = value.replace("\\n", "").replace('\\"', '"').strip()
    tokens = _tokens(code.rstrip("\n") + "\n")
    at = code.find(decoded)
    if at < 0:
        return _comment_value(decoded)
    tok = _token_at(tokens.get(1, []), 1, at)
    if tok is None or tok.type == tokenize.COMMENT:
        return _comment_value(decoded)
    if tok.type in _LITERAL_TYPES:
        return True
    # Prose in outputs and Markdown also tokenizes: call it code only when it parses as a
    # statement that assigns or passes the value.
    return not _assigns_reference(code.strip())


def _assigns_reference(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return _REFERENCE.fullmatch(code) is not None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.keyword | ast.AugAssign):
            return True
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            return True
        if isinstance(node, ast.Dict):
            return True
    return False
