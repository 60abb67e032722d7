"""core.patterncache: a pattern read back from the cache file is the pattern re.compile makes
(same code, flags, groups, matches), a later process parses nothing the file holds, a file that
cannot be trusted is ignored and then rewritten, and errors, warnings and the switches behave
as without the cache."""

from __future__ import annotations

import atexit
import importlib
import json
import os
import pkgutil
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import carpenter
from carpenter.core import marshalfile, patterncache
from carpenter.core.errors import ConfigError
from carpenter.core.lazyre import LazyPattern, lazy_compile
from carpenter.core.resources import data_dir

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "fixtures" / "submissions" / "sec-context-files"


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The pattern cache turned on (the suite turns caches off), in a folder of its own; the
    process-wide store is reset before and after, and its exit-time save unregistered."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CARPENTER_CACHE_DIR", str(folder))
    monkeypatch.delenv("CARPENTER_NO_CACHE", raising=False)
    _reset()
    yield folder
    _reset()


def _reset() -> None:
    if patterncache._store is not None and patterncache._store.added:
        atexit.unregister(patterncache._store.save)
    patterncache._store = None
    patterncache._disabled = False


def _fresh_store() -> patterncache._Store:
    """What a new process would see: the store as read from the file now."""
    path = patterncache.cache_path()
    assert path is not None
    return patterncache._Store(path)


def _parsed_here(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every pattern re's parser sees from now on."""
    from re import _parser  # type: ignore[attr-defined]

    seen: list[object] = []
    real = _parser.parse

    def counting(pattern: object, *args: Any) -> Any:
        seen.append(pattern)
        return real(pattern, *args)

    monkeypatch.setattr(_parser, "parse", counting)
    return seen


# ---------------------------------------------------------------------------------------------
# The patterns: every lazy pattern of the code and of the data files


def _lazy_patterns() -> list[tuple[str | bytes, int]]:
    """(pattern, flags) of every LazyPattern reachable from Carpenter's core, model and scan
    modules once the data files are loaded, plus detect-secrets' gate patterns."""
    from carpenter.core.shapes import secret_data
    from carpenter.scan import secret_gate
    from carpenter.scan.cuda import cuda_data

    roots: list[object] = [secret_data(), cuda_data()]
    for module in _scan_path_modules():
        roots.extend(vars(module).values())
    found: dict[tuple[type, str | bytes, int], None] = {}
    for lazy in _walk(roots):
        found[(type(lazy.pattern), lazy.pattern, int(lazy._flags))] = None
    for source in secret_gate._gate().sources:
        for text in (source.full, source.first, *source.pieces):
            found[(str, text, 0)] = None
    return [(pattern, flags) for _, pattern, flags in found]


def _scan_path_modules() -> Iterator[object]:
    for part in ("core", "model", "scan"):
        package = importlib.import_module(f"carpenter.{part}")
        yield package
        for info in pkgutil.walk_packages(package.__path__, f"carpenter.{part}."):
            if not info.name.endswith("_build"):  # a generator script, not the scan path
                yield importlib.import_module(info.name)


def _walk(roots: list[object]) -> Iterator[LazyPattern]:
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        value = todo.pop()
        if id(value) in seen or isinstance(value, str | bytes | int | float | type):
            continue
        seen.add(id(value))
        if isinstance(value, LazyPattern):
            yield value
        elif isinstance(value, dict):
            todo.extend(value.values())
        elif isinstance(value, list | tuple | set | frozenset):
            todo.extend(value)
        elif type(value).__module__.startswith("carpenter."):  # a data record
            todo.extend(_fields(value))


def _fields(value: object) -> list[object]:
    names = list(getattr(value, "__dict__", {}))
    for klass in type(value).__mro__:
        slots = getattr(klass, "__slots__", ())
        names.extend([slots] if isinstance(slots, str) else slots)
    return [getattr(value, name, None) for name in names]


def _data_patterns() -> list[tuple[str, int]]:
    """The rebuild classifier's patterns (compiled by re directly today; the same engine)."""
    import tomllib

    raw = tomllib.loads((data_dir() / "rebuild" / "failure_classes.toml").read_text("utf-8"))
    found: list[tuple[str, int]] = []
    for entry in raw["class"]:
        for key in ("patterns", "evidence"):
            found += [(p, int(re.IGNORECASE)) for p in entry.get(key, ())] + [(p, 0) for p in
                                                                          entry.get(key, ())]
    return found


def _samples(pattern: str | bytes) -> list[str]:
    text = "\n".join(p.read_text("utf-8", "replace") for p in sorted(SAMPLE.rglob("*"))
                     if p.is_file())
    extra = ("HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyzABCDEFGH pip install torch==2.1.0 "
             "FROM nvidia/cuda:12.1.1-devel-ubuntu22.04 git+https://github.com/a/b@v1")
    return [text, extra, pattern if isinstance(pattern, str) else pattern.decode("latin-1")]


def _same_behaviour(cached: re.Pattern[Any], pattern: str | bytes, flags: int) -> None:
    reference = re.compile(pattern, flags)
    # Pattern equality compares the pattern, the final flags and every code word.
    assert cached == reference and cached is not reference, pattern
    assert (cached.flags, cached.groups, dict(cached.groupindex)) == (
        reference.flags, reference.groups, dict(reference.groupindex))
    for sample in _samples(pattern):
        subject: str | bytes = sample if isinstance(pattern, str) else sample.encode()
        assert ([m.span() + m.groups() for m in cached.finditer(subject)]
                == [m.span() + m.groups() for m in reference.finditer(subject)]), pattern
        ours, theirs = cached.match(subject), reference.match(subject)
        assert (ours and ours.span()) == (theirs and theirs.span()), pattern


def test_every_scan_and_data_pattern_read_back_is_the_compiled_one(cache_dir: Path) -> None:
    patterns = _lazy_patterns() + _data_patterns()
    assert len(patterns) > 150
    assert any(isinstance(p, bytes) for p, _ in patterns)
    first = _fresh_store()
    for pattern, flags in patterns:
        _same_behaviour(first.compile(pattern, flags), pattern, flags)  # parsed here
    first.save()
    second = _fresh_store()
    assert set(second.entries) == {(p, f) for p, f in patterns}
    for pattern, flags in patterns:
        _same_behaviour(second.compile(pattern, flags), pattern, flags)  # read back
    assert not second.added


def test_a_hit_parses_nothing_and_lands_in_re_cache(cache_dir: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    source = r"(?P<name>[a-z]+)-(?P<num>\d{3,})_patterncache_test"
    patterncache.compile_cached(source, re.IGNORECASE)  # parsed, kept
    assert patterncache._store is not None and patterncache._store.added
    patterncache._store.save()
    re.purge()
    _reset()
    parsed = _parsed_here(monkeypatch)
    compiled = patterncache.compile_cached(source, re.IGNORECASE)
    assert parsed == []
    assert compiled.search("x ABC-1234_patterncache_test")["num"] == "1234"  # type: ignore
    assert re.compile(source, re.IGNORECASE) is compiled  # re's own cache holds it, as before
    assert parsed == []


def test_a_second_process_parses_none_of_the_scans_patterns(tmp_path: Path) -> None:
    """Two cold scans of a submission: the second parses only the standard library's own
    patterns (imports of click, json, ...), none that the cache file holds, and prints the
    same report as a scan without the cache."""
    code = textwrap.dedent("""\
        import json, runpy, sys
        from re import _parser
        seen = []
        real = _parser.parse
        def counting(pattern, *args):
            seen.append(pattern if isinstance(pattern, str) else pattern.decode("latin-1"))
            return real(pattern, *args)
        _parser.parse = counting
        sys.argv = ["carpenter", "scan", "--no-cache", "--format", "json", sys.argv[1]]
        try:
            runpy.run_module("carpenter.cli", run_name="__main__")
        except SystemExit:
            pass
        print(json.dumps(seen), file=sys.stderr)
        """)
    folder = tmp_path / "cache"
    env = {**os.environ, "CARPENTER_CACHE_DIR": str(folder), "CARPENTER_NO_CACHE": ""}
    runs = [subprocess.run([sys.executable, "-c", code, str(SAMPLE)], capture_output=True,
                           text=True, cwd=ROOT, env=env, timeout=120) for _ in range(2)]
    plain = subprocess.run([sys.executable, "-m", "carpenter.cli", "scan", "--no-cache",
                            "--format", "json", str(SAMPLE)], capture_output=True, text=True,
                           cwd=ROOT, env={**env, "CARPENTER_NO_CACHE": "1"}, timeout=120)
    first, second = (json.loads(run.stderr.strip().splitlines()[-1]) for run in runs)
    held = {p if isinstance(p, str) else p.decode("latin-1")
            for p, _ in patterncache._read(str(folder / _file_name()))}
    assert len(held) > 30 and held <= set(first)
    assert not held & set(second)
    assert len(second) < len(first) - 30, (len(first), len(second), len(held))
    assert runs[0].stdout == runs[1].stdout == plain.stdout and '"SEC' in plain.stdout


def _file_name() -> str:
    return f"re-{sys.implementation.cache_tag}.marshal"


# ---------------------------------------------------------------------------------------------
# Files that cannot be trusted, and the switches


def _damage(path: Path, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[:-7])
    elif how == "damaged":
        path.write_bytes(data[:-3] + bytes([data[-3] ^ 1]) + data[-2:])
    elif how == "wrong-key":
        marshalfile.save(str(path), b"another format", patterncache._read(str(path)))
    elif how == "foreign-owner":
        owner = path.stat().st_uid
        monkeypatch.setattr(os, "getuid", lambda: owner + 1)
    elif how == "group-writable":
        path.chmod(0o620)
    elif how == "oversized":
        monkeypatch.setattr(marshalfile, "MAX_PAYLOAD", 64)
    elif how == "not-a-cache":
        path.write_bytes(b"\x00" * 100)


@pytest.mark.parametrize("how", ["truncated", "damaged", "wrong-key", "foreign-owner",
                                 "group-writable", "oversized", "not-a-cache"])
def test_an_untrusted_file_is_ignored_then_rewritten(
        cache_dir: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    source = r"untrusted-(\d+)-patterncache"
    store = _fresh_store()
    store.compile(source, 0)
    store.save()
    path = cache_dir / _file_name()
    _damage(path, how, monkeypatch)
    parsed = _parsed_here(monkeypatch)
    again = _fresh_store()
    assert again.entries == {}
    compiled = again.compile(source, 0)
    assert parsed == [source] and compiled.match("untrusted-7-patterncache")[1] == "7"  # type: ignore
    monkeypatch.undo()  # the real owner and size limit again: the rewritten file is good
    again.save()
    assert (source, 0) in patterncache._read(str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_malformed_entry_is_parsed_again(cache_dir: Path) -> None:
    path = str(cache_dir / _file_name())
    bad_code = (32, b"\xff\xff\xff\xff" * 3, 0, {}, (None,))
    marshalfile.save(path, patterncache._file_key(), {("a+b", 0): bad_code, ("c", 0): "junk"})
    store = _fresh_store()
    assert store.compile("a+b", 0) == re.compile("a+b") and store.compile("c", 0).match("c")
    store.save()
    assert patterncache._read(path)[("a+b", 0)] != bad_code


def test_an_unwritable_cache_folder_gives_a_normal_scan_quietly(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    env = {**os.environ, "CARPENTER_NO_CACHE": ""}
    args = [sys.executable, "-m", "carpenter.cli", "scan", "--no-cache", str(SAMPLE)]
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**env, "CARPENTER_CACHE_DIR": str(blocker / "cache")})
    plain = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=120,
                           env={**env, "CARPENTER_NO_CACHE": "1"})
    assert (done.returncode, done.stdout, done.stderr) == (plain.returncode, plain.stdout,
                                                            plain.stderr)
    assert done.stderr == "" and "SEC" in done.stdout


def test_no_cache_env_writes_nothing_and_no_cache_flag_keeps_patterns(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    args = [sys.executable, "-m", "carpenter", "scan", "--no-cache", str(SAMPLE)]  # as users do
    env = {**os.environ, "CARPENTER_CACHE_DIR": str(folder), "CARPENTER_NO_SERVER": "1"}
    subprocess.run(args, capture_output=True, cwd=ROOT, timeout=120,
                   env={**env, "CARPENTER_NO_CACHE": "1"})
    assert not folder.exists()
    subprocess.run(args, capture_output=True, cwd=ROOT, timeout=120,
                   env={**env, "CARPENTER_NO_CACHE": ""})
    # --no-cache: no result cache; the compiled patterns (and those of the imports) are kept
    assert sorted(os.listdir(folder)) == sorted([_file_name(), "re-imports-" + _file_name()[3:]])


def test_switched_off_it_is_re_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARPENTER_NO_CACHE", "1")
    _reset()
    try:
        assert patterncache.compile_cached("x+y", re.I) == re.compile("x+y", re.I)
        assert patterncache._store is None and patterncache.cache_path() is None
    finally:
        _reset()


# ---------------------------------------------------------------------------------------------
# Errors, warnings, unusual arguments: exactly re.compile


@pytest.mark.parametrize("bad", ["(unclosed", "a{2,1}", "(?P<x", "[z-a]", b"\\p", "(?<=a+)b"])
def test_a_bad_pattern_raises_what_re_compile_raises(cache_dir: Path, bad: str | bytes) -> None:
    with pytest.raises(re.error) as ours:
        patterncache.compile_cached(bad)
    with pytest.raises(re.error) as theirs:
        re.compile(bad)
    assert (str(ours.value), ours.value.pos) == (str(theirs.value), theirs.value.pos)
    assert patterncache._store is not None and not patterncache._store.added


def test_a_bad_data_pattern_is_still_a_located_config_error(cache_dir: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        lazy_compile("(?P<x", 0, origin="/data/secrets.toml").search("x")
    assert caught.value.path == "/data/secrets.toml"


def test_a_scan_with_an_edited_data_pattern_fails_clearly_with_a_cache(tmp_path: Path) -> None:
    """The located error of tests/core/test_lazyre.py, with the cache on and already filled."""
    data = tmp_path / "data"
    shutil.copytree(data_dir(), data)
    toml = data / "secrets.toml"
    text = toml.read_text(encoding="utf-8")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "Dockerfile").write_text("FROM python:3.11\nENV HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz"
                                    "ABCDEFGH\n", encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "CARPENTER_DATA_DIR": str(data),
           "CARPENTER_CACHE_DIR": str(tmp_path / "cache")}
    args = [sys.executable, "-m", "carpenter.cli", "scan", "--no-cache", str(sub)]
    filled = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env)
    assert filled.returncode == 1 and (tmp_path / "cache" / _file_name()).exists()
    toml.write_text(text.replace('prefix = "hf_"', 'prefix_regex = "(hf_"', 1), encoding="utf-8")
    for _ in range(2):
        done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env)
        output = done.stdout + done.stderr
        assert done.returncode == 2, output
        assert "secrets.toml: SEC001: invalid pattern" in output and "Traceback" not in output


def test_a_pattern_that_warns_warns_every_time_and_is_not_kept(cache_dir: Path) -> None:
    for _ in range(2):
        re.purge()
        with pytest.warns(FutureWarning, match="nested set"):
            patterncache.compile_cached("[[a-z]_patterncache]")
    assert ("[[a-z]_patterncache]", 0) not in _fresh_store().entries | (
        patterncache._store.entries if patterncache._store else {})


@pytest.mark.parametrize("flags", [re.DEBUG, re.TEMPLATE if hasattr(re, "TEMPLATE") else 0])
def test_unusual_flags_go_to_re(cache_dir: Path, flags: int,
                                capsys: pytest.CaptureFixture[str]) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # re.TEMPLATE is deprecated
        compiled = patterncache.compile_cached("q_unusual", flags)
    assert compiled.match("q_unusual")
    store = patterncache._store
    assert store is None or ("q_unusual", int(flags)) not in store.entries
    if flags == re.DEBUG:
        assert "LITERAL" in capsys.readouterr().out  # re's own debug listing


def test_regex_flag_values_and_types(cache_dir: Path) -> None:
    assert patterncache.compile_cached("k", re.I | re.M) == re.compile("k", re.I | re.M)
    assert patterncache.compile_cached(b"k", re.I).flags == re.compile(b"k", re.I).flags
    with pytest.raises(TypeError):
        patterncache.compile_cached(123)  # type: ignore[arg-type]
    compiled = re.compile("already")
    assert patterncache.compile_cached(compiled) is compiled  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Saving: merge and bound


def test_saves_merge_with_what_another_process_wrote(cache_dir: Path) -> None:
    one, two = _fresh_store(), _fresh_store()
    one.compile("one_patterncache", 0)
    two.compile("two_patterncache", 0)
    one.save()
    two.save()
    assert {("one_patterncache", 0), ("two_patterncache", 0)} <= set(_fresh_store().entries)


def test_the_file_keeps_the_most_recently_used_entries(cache_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patterncache, "MAX_ENTRIES", 3)
    store = _fresh_store()
    for name in "abcde":
        store.compile(f"{name}_bound", 0)
    store.save()
    assert list(_fresh_store().entries) == [("c_bound", 0), ("d_bound", 0), ("e_bound", 0)]
    later = _fresh_store()
    later.compile("c_bound", 0)  # a hit: now the most recent
    later.compile("f_bound", 0)
    later.save()
    assert list(_fresh_store().entries) == [("e_bound", 0), ("c_bound", 0), ("f_bound", 0)]


def test_only_a_process_that_added_patterns_writes(cache_dir: Path) -> None:
    store = _fresh_store()
    store.compile("written_once", 0)
    store.save()
    path = cache_dir / _file_name()
    before = path.stat().st_mtime_ns, path.stat().st_ino
    hit = _fresh_store()
    hit.compile("written_once", 0)
    assert not hit.added  # so no exit-time save was registered
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == before


def test_the_package_has_no_other_cache_dir_helper() -> None:
    """One definition of where caches live (core.resources), used by the scan's result cache
    and the pattern cache alike."""
    hits = [str(p.relative_to(ROOT)) for p in Path(carpenter.__file__).parent.rglob("*.py")
            if "def default_cache_dir" in p.read_text("utf-8")]
    assert hits == ["carpenter/core/resources.py"]


IMPORTS_PROBE = """
import re, re._parser as parser, sys
parsed = []
real = parser.parse
def counting(text, *a, **k):
    parsed.append(text)
    return real(text, *a, **k)
parser.parse = counting
from carpenter.core import patterncache
patterncache.preload()
import carpenter.cli
patterncache.note_imports()
count = len(parsed)
# every pattern in re's cache behaves as a fresh compile of its text (same code and flags)
same = all(compiled == re._compiler.compile(key[1], key[2]) for key, compiled in
           list(re._cache.items()) if getattr(compiled, "pattern", None) == key[1])
print(count, same)
"""


def _imports_run(cache: Path, **env: str) -> tuple[int, bool]:
    done = subprocess.run([sys.executable, "-c", IMPORTS_PROBE], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT),
                               "CARPENTER_CACHE_DIR": str(cache), **env})
    count, same = done.stdout.split()
    return int(count), same == "True"


def test_import_time_patterns_are_preloaded_by_the_next_process(tmp_path: Path) -> None:
    os.environ.pop("CARPENTER_NO_CACHE", None)
    first, same = _imports_run(tmp_path)
    assert first > 10 and same  # platform, json, gettext, click, ... parse their patterns
    assert list(tmp_path.glob("re-imports-*.marshal"))
    again, same = _imports_run(tmp_path)
    assert (again, same) == (0, True)


def test_a_damaged_imports_file_is_parsed_again_and_rewritten(tmp_path: Path) -> None:
    _imports_run(tmp_path)
    (path,) = tmp_path.glob("re-imports-*.marshal")
    path.write_bytes(path.read_bytes()[:-7])
    damaged, same = _imports_run(tmp_path)
    assert damaged > 10 and same
    assert _imports_run(tmp_path) == (0, True)


def test_no_cache_env_preloads_and_writes_nothing(tmp_path: Path) -> None:
    count, same = _imports_run(tmp_path, CARPENTER_NO_CACHE="1")
    assert count > 10 and same
    assert not list(tmp_path.iterdir())
