"""tokenize's big pattern is read back from the pattern cache under a fixed text.

Its own text lists the string prefixes in hash-seed order, so caching it as it is would never
hit; `secret_filters._prime_tokenize` compiles the text with the prefixes sorted and hands that
to tokenize. These tests check that the hand-over happens, that it tokenizes exactly as
tokenize's own pattern does, and that a second process (another hash seed) parses nothing.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tokenize
from pathlib import Path

from carpenter.scan import secret_filters

ROOT = Path(__file__).resolve().parents[2]
# String prefixes of every case and order, in code, comments and nested quotes.
TRICKY = '''x = rb'a' + Rb"b" + bR'c' + BR"d" + u'e' + U"f" + f'{x}' + Fr"{y}" + rf'\\d'
y = """doc 'with' quotes""" + r\'\'\'raw\'\'\' + b"\\x00"  # token = 'hf_' rb"x"
def token_dim(self): return self.config.token_dim  # u"not a string"
z = br'\\'' + "a\\
b"
'''


def _tokens(text: str) -> list[tuple[int, str, tuple[int, int], tuple[int, int]]]:
    return [(t.type, t.string, t.start, t.end)
            for t in tokenize.generate_tokens(io.StringIO(text).readline)]


def _unprimed() -> None:
    re.purge()
    tokenize._compile.cache_clear()  # type: ignore[attr-defined]


def _corpus() -> list[str]:
    files = sorted((ROOT / "carpenter").rglob("*.py"))[:60] + sorted(
        (ROOT / "fixtures").rglob("*.py"))[:40]
    return [TRICKY] + [p.read_text(encoding="utf-8") for p in files]


def test_the_primed_pattern_is_the_sorted_text() -> None:
    _unprimed()
    secret_filters._prime_tokenize.cache_clear()
    secret_filters._prime_tokenize()
    used = tokenize._compile(tokenize.PseudoToken)  # type: ignore[attr-defined]
    assert "(|B|BR|Br|F|FR|Fr|R|RB|RF|Rb|Rf|U|b|bR|br|f|fR|fr|r|rB|rF|rb|rf|u)" in used.pattern


def test_the_primed_pattern_tokenizes_as_tokenize_does() -> None:
    corpus = _corpus()
    _unprimed()
    own = [_tokens(text) for text in corpus]
    _unprimed()
    secret_filters._prime_tokenize.cache_clear()
    secret_filters._prime_tokenize()
    assert tokenize._compile(tokenize.PseudoToken).pattern != tokenize.PseudoToken  # type: ignore[attr-defined]
    assert [_tokens(text) for text in corpus] == own
    _unprimed()


PROBE = """
import re._parser as parser, sys
parsed = []
real = parser.parse
def counting(text, *a, **k):
    parsed.append(text)
    return real(text, *a, **k)
parser.parse = counting
from carpenter.scan import secret_filters
secret_filters._tokens("token = tokenizer.eos_token  # rb'x'\\n")
print(sum(isinstance(t, str) and ("Rb|" in t or "|rb" in t) for t in parsed))
"""


def test_a_second_process_with_another_seed_parses_no_tokenize_pattern(tmp_path: Path) -> None:
    def run(seed: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": seed, "CARPENTER_CACHE_DIR": str(tmp_path),
               "PYTHONPATH": str(ROOT)}
        env.pop("CARPENTER_NO_CACHE", None)
        return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                              text=True, check=True).stdout.strip()

    assert run("1") == "1"  # the first process parses it once, and stores it
    assert run("2") == "0"
    assert run("3") == "0"
