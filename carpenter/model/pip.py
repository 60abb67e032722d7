"""pip / uv install commands: which words are requirements, files, indexes and options.

`pip_installs(inst)` lists every `pip install` an instruction runs (`pip`, `pip3`, `pip3.10`,
`pythonX[.Y] -m pip`, `uv pip install`, behind `sudo`/`env`/... wrappers), with each argument
classified and tied to its file offsets. ARG/ENV values in force are expanded first, so
`transformers==$TF_VERSION` with a default counts as pinned.
"""

from __future__ import annotations

import re
from dataclasses import field
from functools import lru_cache
from typing import NamedTuple

from carpenter.core.lazyre import lazy_compile
from carpenter.core.records import record
from carpenter.model.dockerfile import Instruction
from carpenter.model.shell import PYTHONS, Script, SimpleCommand, Word, run_commands
from carpenter.model.variables import expand, has_variables

PIP_NAME = lazy_compile(r"^pip(?:\d+(?:\.\d+)?)?$")
SHA_40 = lazy_compile(r"^[0-9a-fA-F]{40}$")
VCS_PREFIX = lazy_compile(r"^(?:git|hg|svn|bzr)\+", re.IGNORECASE)
URL_PREFIX = lazy_compile(r"^(?:https?|ftp|file)://", re.IGNORECASE)
ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip", ".tar")
# A sdist/archive whose file name carries a version (`pkg-1.2.3.tar.gz`) is a fixed file.
VERSIONED_FILE = lazy_compile(r"[-_]v?\d+(?:\.\d+)+[^/]*$")
MOVING_ARCHIVE = lazy_compile(r"/(?:archive/)?refs/heads/|/archive/(?:main|master|develop|dev)\b")

_SEPARATORS = lazy_compile(r"[-_.]+")
_TRAILING_EXTRAS = lazy_compile(r"\[[^\]]*\]$")
_REQUIREMENT_LIKE = lazy_compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[|@|[<>=!~;]|$)")
_HASH_FRAGMENT = lazy_compile(r"(?:sha256|sha384|sha512|md5)=[0-9a-fA-F]+")
_COMMIT_ARCHIVE = lazy_compile(r"/archive/[0-9a-fA-F]{40}\.(?:zip|tar\.gz)$")
# The common requirement shapes, `name`, `name[extra,...]` and `name OP version[, ...]` with
# public PEP 440 versions, classified without packaging. Anything else (markers, URLs, local
# versions, odd spellings) goes to packaging, which also reports what is invalid; a test holds
# both paths to the same answers.
_RELEASE = r"[0-9]+(?:\.[0-9]+)*"
_SUFFIX = r"(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?"
_SPEC = (rf"(?:(?:==|!=)\s*{_RELEASE}(?:\.\*|{_SUFFIX})"
         rf"|~=\s*[0-9]+(?:\.[0-9]+)+{_SUFFIX}|(?:<=|>=|<|>)\s*{_RELEASE}{_SUFFIX})")
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
# Small patterns applied piece by piece: one pattern repeating _SPEC cost 10-25 ms to compile.
_HEAD = lazy_compile(rf"(?P<name>{_NAME})\s*(?:\[(?P<extras>[^\]]*)\])?\s*(?P<specs>.*)", re.S)
_EXTRA = lazy_compile(rf"\s*{_NAME}\s*")
_ONE_SPEC = lazy_compile(rf"\s*{_SPEC}\s*")
_SPEC_ITEM = lazy_compile(r"\s*(===|==|!=|~=|<=|>=|<|>)\s*([^\s,]+)\s*")

# pip install options (long name -> takes a value). Short aliases map onto long names.
PIP_OPTIONS: dict[str, bool] = {
    "--requirement": True, "--constraint": True, "--editable": True, "--index-url": True,
    "--extra-index-url": True, "--find-links": True, "--target": True, "--prefix": True,
    "--root": True, "--src": True, "--platform": True, "--python-version": True,
    "--implementation": True, "--abi": True, "--upgrade-strategy": True, "--no-binary": True,
    "--only-binary": True, "--progress-bar": True, "--global-option": True,
    "--install-option": True, "--build-option": True, "--config-settings": True, "--log": True,
    "--log-file": True, "--local-log": True, "--proxy": True, "--retries": True,
    "--timeout": True, "--exists-action": True, "--trusted-host": True, "--cert": True,
    "--client-cert": True, "--cache-dir": True, "--report": True, "--root-user-action": True,
    "--python": True, "--keyring-provider": True, "--use-feature": True,
    "--use-deprecated": True, "--group": True, "--uploaded-prior-to": True, "--hash": True,
    "--resume-retries": True,
    "--pre": False, "--upgrade": False, "--force-reinstall": False, "--ignore-installed": False,
    "--ignore-requires-python": False, "--no-deps": False, "--no-build-isolation": False,
    "--use-pep517": False, "--no-use-pep517": False, "--check-build-dependencies": False,
    "--break-system-packages": False, "--user": False, "--no-warn-script-location": False,
    "--no-warn-conflicts": False, "--no-compile": False, "--compile": False,
    "--prefer-binary": False, "--require-hashes": False, "--no-clean": False,
    "--no-index": False, "--dry-run": False, "--isolated": False, "--verbose": False,
    "--quiet": False, "--version": False, "--help": False, "--no-input": False,
    "--no-cache-dir": False, "--disable-pip-version-check": False, "--no-color": False,
    "--require-virtualenv": False, "--debug": False, "--no-python-version-warning": False,
}
# Second spellings of the same option (uv's plural forms, pip's old names).
ALIASES: dict[str, str] = {
    "--requirements": "--requirement", "--constraints": "--constraint",
    "--default-timeout": "--timeout", "--overrides": "--override",
    "--no-dependencies": "--no-deps",
}
PIP_SHORT: dict[str, str] = {
    "r": "--requirement", "c": "--constraint", "e": "--editable", "i": "--index-url",
    "f": "--find-links", "t": "--target", "U": "--upgrade", "I": "--ignore-installed",
    "q": "--quiet", "v": "--verbose", "V": "--version", "h": "--help", "C": "--config-settings",
}
# uv pip install (clap: no abbreviations) adds these.
UV_OPTIONS: dict[str, bool] = {
    **PIP_OPTIONS,
    "--system": False, "--index": True, "--default-index": True, "--index-strategy": True,
    "--torch-backend": True, "--no-build-isolation-package": True, "--resolution": True,
    "--prerelease": True, "--exclude-newer": True, "--override": True,
    "--build-constraint": True, "--build-constraints": True,
    "--link-mode": True, "--native-tls": False, "--no-cache": False, "--compile-bytecode": False,
    "--reinstall": False, "--reinstall-package": True, "--upgrade-package": True,
    "--offline": False, "--strict": False, "--refresh": False, "--refresh-package": True,
    "--no-sources": False, "--config-file": True, "--no-progress": False, "--color": True,
    "--allow-insecure-host": True, "--no-verify-hashes": False, "--verify-hashes": False,
    "--extra": True, "--all-extras": False, "--no-config": False, "--python-platform": True,
    "--no-build": False, "--config-setting": True, "--managed-python": False,
    "--no-managed-python": False, "--no-python-downloads": False, "--exact": False,
    "--no-break-system-packages": False, "--project": True, "--directory": True,
}
UV_SHORT: dict[str, str] = {
    **PIP_SHORT, "p": "--python", "P": "--upgrade-package", "n": "--no-cache",
    "C": "--config-setting",
}
# Options of pip itself that may come before the subcommand (`pip -q --no-cache-dir install`).
GENERAL_VALUE_OPTIONS = frozenset(
    {"--log", "--proxy", "--retries", "--timeout", "--exists-action", "--trusted-host", "--cert",
     "--client-cert", "--cache-dir", "--python", "--use-feature", "--use-deprecated",
     "--keyring-provider", "--log-file", "--local-log", "--directory", "--project",
     "--config-file", "--color"}
)


@record(eq=False, slots=True)
class PipRequirement:
    """One thing to install, from a command line or a requirements file."""

    text: str  # after quote removal and variable expansion
    word: Word  # where it is written (file offsets)
    kind: str  # requirement | vcs | url | path | invalid
    name: str | None = None  # normalized (PEP 503)
    raw_name: str | None = None
    extras: tuple[str, ...] = ()
    specifier: str = ""
    marker: str | None = None
    url: str | None = None
    vcs_ref: str | None = None  # `@ref` of a VCS URL
    editable: bool = False
    hashes: tuple[str, ...] = ()
    missing_vars: frozenset[str] = frozenset()  # variables with no value at build time
    error: str | None = None  # why it is not a valid requirement

    @property
    def pinned_version(self) -> str | None:
        """The exact version of `name==X`/`name===X` (no wildcard), else None."""
        if self.kind != "requirement" or not self.specifier:
            return None
        return _pinned_version(self.specifier)

    @property
    def pinned(self) -> bool:
        """Exactly pinned: one `==`/`===` without wildcard, a hash, a fixed file or a commit."""
        if self.missing_vars:
            return False
        if self.hashes:
            return True
        if self.kind == "requirement":
            return self.pinned_version is not None
        if self.kind == "vcs":
            return bool(self.vcs_ref and SHA_40.match(self.vcs_ref))
        if self.kind == "url":
            return url_is_fixed(self.url or self.text)
        if self.kind == "path":
            return self.text.endswith(ARCHIVE_SUFFIXES)  # a local built file is fixed
        return False

    @property
    def is_wheel(self) -> bool:
        """A built wheel (remote URL or local file): installing it compiles nothing."""
        location = (self.url or self.text).split("#", 1)[0].split("?", 1)[0]
        return self.kind in ("url", "path") and location.endswith(".whl")

    @property
    def is_local_dir(self) -> bool:
        return self.kind == "path" and not self.text.endswith(ARCHIVE_SUFFIXES)


_EXACT_PIN = lazy_compile(rf"=={_RELEASE}{_SUFFIX}")


@lru_cache(maxsize=8192)
def _pinned_version(specifier: str) -> str | None:
    """The `==`/`===` version of a specifier string (a pure function, asked many times)."""
    if _EXACT_PIN.fullmatch(specifier):
        return specifier[2:]  # the common `==1.2.3`: no need for packaging
    if "==" not in specifier:
        return None  # `>=4.36,<5`: no `==`/`===` clause, so no pin (and no packaging import)
    try:
        from packaging.specifiers import SpecifierSet

        specs = list(SpecifierSet(specifier))
    except Exception:
        return None
    if len(specs) != 1 or specs[0].operator not in ("==", "===") or "*" in specs[0].version:
        return None
    return specs[0].version


@record(eq=False, slots=True)
class PipOption:
    """An option of a pip/uv install command, with its expanded value."""

    name: str  # canonical long name, e.g. "--index-url"
    value: str | None  # expanded value
    word: Word  # the option word
    value_word: Word | None  # where the value is written (same as word for `--x=v`)
    known: bool = True
    suggestion: str | None = None  # for unknown options: the closest real option


@record(eq=False, slots=True)
class PipInstall:
    """A pip/uv install command: its requirements, -r/-c files and options."""

    command: SimpleCommand
    script: Script | None
    tool: str  # "pip" | "uv"
    program: list[Word]  # words naming the program (`python3 -m pip`, `uv pip`)
    subcommand: Word
    requirements: list[PipRequirement] = field(default_factory=list)
    options: list[PipOption] = field(default_factory=list)

    def option_values(self, name: str) -> list[PipOption]:
        return [o for o in self.options if o.name == name]

    def has(self, name: str) -> bool:
        return any(o.name == name for o in self.options)

    @property
    def requirement_files(self) -> list[PipOption]:
        return self.option_values("--requirement")

    @property
    def constraint_files(self) -> list[PipOption]:
        return self.option_values("--constraint")

    @property
    def index_urls(self) -> list[PipOption]:
        names = ("--index-url", "--extra-index-url", "--index", "--default-index")
        return [o for o in self.options if o.name in names]

    @property
    def unknown_options(self) -> list[PipOption]:
        return [o for o in self.options if not o.known]

    @property
    def pre(self) -> bool:
        return self.has("--pre") or any(
            o.value in ("allow", "if-necessary", "explicit")
            for o in self.option_values("--prerelease")
        )

    @property
    def upgrade(self) -> bool:
        return self.has("--upgrade")


# ---------------------------------------------------------------------------------------------
# Recognising pip commands


def pip_installs(inst: Instruction) -> list[PipInstall]:
    """Every pip/uv install an instruction runs, cached on the instruction."""
    cached = getattr(inst, "_pip_installs", None)
    if cached is not None:
        return cached
    found: list[PipInstall] = []
    for script, cmd in run_commands(inst):
        install = parse_pip_command(cmd, inst.vars, script)
        if install is not None:
            found.append(install)
    inst._pip_installs = found  # type: ignore[attr-defined]
    return found


def pip_program(cmd: SimpleCommand) -> tuple[str, list[Word], list[Word]] | None:
    """("pip"|"uv", program words, remaining words) if the command runs pip, else None."""
    words, _env = cmd.effective()
    if not words:
        return None
    base = words[0].text.rsplit("/", 1)[-1]
    if PIP_NAME.match(base):
        return "pip", words[:1], words[1:]
    if PYTHONS.match(base):
        i = 1
        while i < len(words) and words[i].text.startswith("-") and words[i].text != "-m":
            i += 1
        if i + 1 < len(words) and words[i].text == "-m" and PIP_NAME.match(words[i + 1].text):
            return "pip", words[: i + 2], words[i + 2 :]
        return None
    if base == "uv" and len(words) > 1 and words[1].text == "pip":
        return "uv", words[:2], words[2:]
    return None


def parse_pip_command(
    cmd: SimpleCommand, variables, script: Script | None = None
) -> PipInstall | None:
    found = pip_program(cmd)
    if found is None:
        return None
    tool, program, rest = found
    longs, shorts = (UV_OPTIONS, UV_SHORT) if tool == "uv" else (PIP_OPTIONS, PIP_SHORT)
    # General options before the subcommand.
    i = 0
    while i < len(rest) and rest[i].text.startswith("-"):
        takes_value = rest[i].text.split("=", 1)[0] in GENERAL_VALUE_OPTIONS
        i += 2 if takes_value and "=" not in rest[i].text else 1
    if i >= len(rest) or rest[i].text != "install":
        return None
    install = PipInstall(cmd, script, tool, program, rest[i])
    _parse_arguments(install, rest[:i] + rest[i + 1 :], variables, longs, shorts)
    return install


def _parse_arguments(install: PipInstall, words: list[Word], variables, longs, shorts) -> None:
    i = 0
    while i < len(words):
        word = words[i]
        text = word.text
        if text.startswith("-") and len(text) > 1:
            before = len(install.options)
            i += _parse_option(install, words, i, variables, longs, shorts)
            added = install.options[before:]
            if added and added[-1].name == "--editable" and added[-1].value_word is not None:
                # `-e PATH|URL` installs something: it is a requirement, not a setting.
                option = install.options.pop()
                value_word = option.value_word
                if value_word is not word:
                    raw = value_word.text
                else:
                    raw = text.partition("=")[2] if text.startswith("--") else text[2:]
                for req in _requirements_of(value_word, raw, variables):
                    req.editable = True
                    install.requirements.append(req)
            continue
        install.requirements.extend(_requirements_of(word, text, variables))
        i += 1


def _parse_option(install: PipInstall, words: list[Word], i: int, variables, longs, shorts) -> int:
    """Record the option at words[i]; return how many words it used."""
    word = words[i]
    text = word.text
    if text.startswith("--"):
        name, eq, value = text.partition("=")
        canonical = _long_name(name, longs, install.tool)
        if canonical is None:
            suggestion = _suggest(name, longs)
            install.options.append(PipOption(name, value or None, word, None, False, suggestion))
            return 1
        if not longs[canonical]:
            install.options.append(PipOption(canonical, None, word, None))
            return 1
        if eq:
            install.options.append(PipOption(canonical, _expand(value, variables), word, word))
            return 1
        value_word = words[i + 1] if i + 1 < len(words) else None
        value = _expand(value_word.text, variables) if value_word else None
        install.options.append(PipOption(canonical, value, word, value_word))
        return 2 if value_word else 1
    # Short options, possibly combined (`-qU`, `-rreq.txt`).
    chars = text[1:]
    for index, char in enumerate(chars):
        canonical = shorts.get(char)
        if canonical is None:
            suggestion = _suggest("-" + chars, longs) if len(chars) > 2 else None
            install.options.append(PipOption(text, None, word, None, False, suggestion))
            return 1
        if longs.get(canonical):
            rest = chars[index + 1 :]
            if rest:
                install.options.append(
                    PipOption(canonical, _expand(rest, variables), word, word)
                )
                return 1
            value_word = words[i + 1] if i + 1 < len(words) else None
            value = _expand(value_word.text, variables) if value_word else None
            install.options.append(PipOption(canonical, value, word, value_word))
            return 2 if value_word else 1
        install.options.append(PipOption(canonical, None, word, None))
    return 1


def _long_name(name: str, longs: dict[str, bool], tool: str) -> str | None:
    if name in longs:
        return name
    if name in ALIASES and (tool == "uv" or name == "--default-timeout"):
        return ALIASES[name]
    if tool == "pip":  # optparse accepts unambiguous prefixes (`--upgr`)
        matches = [option for option in PIP_OPTIONS if option.startswith(name)]
        if len(matches) == 1 and len(name) > 3:
            return matches[0]
    return None


def _suggest(name: str, longs: dict[str, bool]) -> str | None:
    import difflib

    close = difflib.get_close_matches(name if name.startswith("--") else "-" + name,
                                      list(longs), n=1, cutoff=0.75)
    return close[0] if close else None


def _expand(text: str, variables) -> str:
    return expand(text, variables)[0] if has_variables(text) else text


# ---------------------------------------------------------------------------------------------
# Requirements


def _requirements_of(word: Word, text: str, variables) -> list[PipRequirement]:
    """A command-line argument as requirement(s): an unquoted `$PKGS` may hold several."""
    missing: frozenset[str] = frozenset()
    if has_variables(text):
        expanded, unset = expand(text, variables)
        missing = frozenset(unset)
        parts = expanded.split() if not word.quoted else [expanded]
        if not parts:
            return [PipRequirement(text, word, "invalid", missing_vars=missing,
                                   error="expands to nothing")]
    else:
        parts = [text]
    out = []
    for part in parts:
        req = classify_requirement(part, word)
        if missing and req.kind == "invalid":
            # `x==$UNSET` expands to `x==`: keep the name, the version is unknown.
            probe = classify_requirement(expand(text, dict.fromkeys(missing, "0"))[0], word)
            if probe.kind != "invalid":
                req = probe
                req.text = text  # as written: the variable is the problem
                req.specifier = ""
        req.missing_vars = missing
        out.append(req)
    return out


class _Classified(NamedTuple):
    """The word-independent part of a classified requirement (immutable, so shareable)."""

    kind: str
    name: str | None = None
    raw_name: str | None = None
    extras: tuple[str, ...] = ()
    specifier: str = ""
    marker: str | None = None
    url: str | None = None
    vcs_ref: str | None = None
    error: str | None = None


def classify_requirement(text: str, word: Word) -> PipRequirement:
    """Classify one requirement string (command-line argument or requirements-file line)."""
    stripped = text.strip()
    c = _classify(stripped)
    return PipRequirement(stripped, word, c.kind, name=c.name, raw_name=c.raw_name,
                          extras=c.extras, specifier=c.specifier, marker=c.marker, url=c.url,
                          vcs_ref=c.vcs_ref, error=c.error)


# The same requirement strings recur across files and rules; packaging's parser is slow.
@lru_cache(maxsize=8192)
def _classify(stripped: str) -> _Classified:
    if VCS_PREFIX.match(stripped):
        url, ref, name = _vcs_parts(stripped)
        return _Classified("vcs", name=name, raw_name=name, url=url, vcs_ref=ref)
    if URL_PREFIX.match(stripped):
        return _Classified("url", url=stripped, name=_name_from_fragment(stripped))
    if _looks_like_path(stripped):
        return _Classified("path")
    simple = _simple_requirement(stripped)
    if simple is not None:
        return simple
    # packaging (and its markers, tags, platform...) costs ~15 ms to import: only for the
    # requirements the simple grammar below does not cover (markers, URLs, local versions).
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(stripped)
    except InvalidRequirement as exc:
        return _Classified("invalid", error=str(exc).split("\n")[0])
    name = canonicalize_name(req.name)
    marker = str(req.marker) if req.marker else None
    if req.url:
        if VCS_PREFIX.match(req.url):
            url, ref, _ = _vcs_parts(req.url)
            return _Classified("vcs", name=name, raw_name=req.name,
                               extras=tuple(sorted(req.extras)), url=url, vcs_ref=ref,
                               marker=marker)
        kind = "url" if URL_PREFIX.match(req.url) else "path"
        return _Classified(kind, name=name, raw_name=req.name,
                           extras=tuple(sorted(req.extras)), url=req.url, marker=marker)
    return _Classified("requirement", name=name, raw_name=req.name,
                       extras=tuple(sorted(req.extras)), specifier=str(req.specifier),
                       marker=marker)


def canonicalize_name(name: str) -> str:
    """The PEP 503 normal form of a project name (what packaging.utils returns)."""
    return _SEPARATORS.sub("-", name).lower()




def _simple_requirement(text: str) -> _Classified | None:
    match = _HEAD.fullmatch(text)
    if match is None:
        return None
    extras = match["extras"]
    names: set[str] = set()
    if extras is not None and extras.strip():
        items = extras.split(",")
        if not all(_EXTRA.fullmatch(item) for item in items):
            return None
        names = {item.strip() for item in items}
    specs: set[str] = set()
    if match["specs"]:
        for item in match["specs"].split(","):
            if not _ONE_SPEC.fullmatch(item):
                return None
            spec = _SPEC_ITEM.fullmatch(item)
            if spec is None:
                return None
            specs.add(spec[1] + spec[2])
    return _Classified("requirement", name=canonicalize_name(match["name"]),
                       raw_name=match["name"], extras=tuple(sorted(names)),
                       specifier=",".join(sorted(specs)))


def _looks_like_path(text: str) -> bool:
    text = _TRAILING_EXTRAS.sub("", text)  # `.[train]`: a path with extras
    if text in (".", "..") or text.startswith(("./", "../", "/", "~")):
        return True
    if text.endswith(ARCHIVE_SUFFIXES) and "==" not in text:
        return True
    return "/" in text and not _REQUIREMENT_LIKE.match(text)


def _vcs_parts(url: str) -> tuple[str, str | None, str | None]:
    """(url without fragment, @ref or None, #egg= name or None) of a VCS URL."""
    base, _, fragment = url.partition("#")
    name = None
    for item in fragment.split("&"):
        key, _, value = item.partition("=")
        if key == "egg" and value:
            name = canonicalize_name(value.split("[")[0])
    _scheme, _sep, after = base.partition("://")
    path = after.split("/", 1)[1] if "/" in after else ""
    ref = None
    if "@" in path:
        ref = path.rsplit("@", 1)[1] or None
    return base, ref, name


def _name_from_fragment(url: str) -> str | None:
    _, _, fragment = url.partition("#")
    for item in fragment.split("&"):
        key, _, value = item.partition("=")
        if key == "egg" and value:
            return canonicalize_name(value)
    filename = url.split("#")[0].rstrip("/").rsplit("/", 1)[-1]
    if filename.endswith(".whl"):
        return canonicalize_name(filename.split("-", 1)[0])
    return None


def url_is_fixed(url: str) -> bool:
    """A remote file that cannot change: a wheel, a hash fragment, a versioned sdist, a commit."""
    base, _, fragment = url.partition("#")
    if _HASH_FRAGMENT.search(fragment):
        return True
    base = base.split("?", 1)[0]
    if MOVING_ARCHIVE.search(base):
        return False
    if base.endswith(".whl"):
        return True
    if _COMMIT_ARCHIVE.search(base):
        return True
    filename = base.rstrip("/").rsplit("/", 1)[-1]
    return filename.endswith(ARCHIVE_SUFFIXES) and VERSIONED_FILE.search(filename) is not None


def requirement_value_word(req: PipRequirement) -> tuple[int, int]:
    """File offsets of the requirement's own text inside its word (quotes excluded)."""
    word = req.word
    start = word.offset + (1 if word.raw[:1] in "\"'" else 0)
    end = word.end_offset - (1 if word.raw[-1:] in "\"'" and len(word.raw) > 1 else 0)
    return start, max(start, end)
