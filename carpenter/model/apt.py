"""apt-get / apt / aptitude commands: subcommand, packages and options with file offsets."""

from __future__ import annotations

from dataclasses import field

from carpenter.core.records import record
from carpenter.model.dockerfile import Instruction
from carpenter.model.shell import SimpleCommand, Word, run_commands
from carpenter.model.variables import expand, has_variables

APT_TOOLS = frozenset({"apt-get", "apt", "aptitude"})
# Long options (value-taking ones map to True). apt accepts `--no-X` for any boolean `--X`.
APT_LONG: dict[str, bool] = {
    "--yes": False, "--assume-yes": False, "--assume-no": False, "--quiet": False,
    "--no-install-recommends": False, "--install-recommends": False,
    "--no-install-suggests": False, "--install-suggests": False, "--fix-missing": False,
    "--fix-broken": False, "--reinstall": False, "--download-only": False, "--simulate": False,
    "--dry-run": False, "--just-print": False, "--recon": False, "--no-act": False,
    "--no-upgrade": False, "--only-upgrade": False, "--auto-remove": False,
    "--autoremove": False, "--purge": False, "--ignore-missing": False,
    "--allow-unauthenticated": False, "--allow-downgrades": False,
    "--allow-remove-essential": False, "--allow-change-held-packages": False,
    "--force-yes": False, "--verbose-versions": False, "--no-download": False,
    "--print-uris": False, "--show-progress": False, "--show-upgraded": False,
    "--trivial-only": False, "--no-remove": False, "--allow-insecure-repositories": False,
    "--allow-releaseinfo-change": False, "--with-new-pkgs": False, "--mark-auto": False,
    "--help": False, "--version": False, "--compile": False, "--build": False,
    "--target-release": True, "--default-release": True, "--option": True,
    "--config-file": True, "--solver": True, "--host-architecture": True,
    "--build-profiles": True, "--update": False, "--snapshot": True, "--list-cleanup": False,
    "--no-list-cleanup": False, "--arch-only": False, "--indep-only": False,
    "--no-show-upgraded": False,
}
APT_SHORT: dict[str, bool] = {
    "y": False, "q": False, "d": False, "f": False, "m": False, "s": False, "b": False,
    "u": False, "V": False, "h": False, "v": False, "a": True, "c": True, "o": True, "t": True,
    "S": True, "P": True,
}
INSTALL_VERBS = frozenset({"install", "reinstall"})
UPGRADE_VERBS = frozenset({"upgrade", "dist-upgrade", "full-upgrade", "safe-upgrade"})


@record(eq=False, slots=True)
class AptOption:
    """An option of an apt-get/apt command."""

    text: str
    word: Word
    known: bool = True
    suggestion: str | None = None


@record(eq=False, slots=True)
class AptPackage:
    """A package argument of `apt-get install` (its `=version` or `/release`, if any)."""

    text: str  # expanded
    word: Word
    name: str
    version: str | None  # after `=`
    release: str | None  # after `/` (target release: not a pin)
    unresolved: bool = False  # a shell variable with no known value

    @property
    def pinned(self) -> bool:
        if self.text.endswith(".deb"):
            return True  # a local package file
        return bool(self.version) and not any(c in self.version for c in "*?[")


@record(eq=False, slots=True)
class AptCommand:
    """An apt-get/apt command: its verb, packages and options."""

    command: SimpleCommand
    tool: str
    verb: Word | None
    packages: list[AptPackage] = field(default_factory=list)
    options: list[AptOption] = field(default_factory=list)


def apt_commands(inst: Instruction) -> list[AptCommand]:
    cached = getattr(inst, "_apt_commands", None)
    if cached is not None:
        return cached
    found: list[AptCommand] = []
    for _script, cmd in run_commands(inst):
        parsed = parse_apt(cmd, inst.vars)
        if parsed is not None:
            found.append(parsed)
    inst._apt_commands = found  # type: ignore[attr-defined]
    return found


def parse_apt(cmd: SimpleCommand, variables) -> AptCommand | None:
    words, _ = cmd.effective()
    if not words or words[0].text.rsplit("/", 1)[-1] not in APT_TOOLS:
        return None
    result = AptCommand(cmd, words[0].text.rsplit("/", 1)[-1], None)
    i = 1
    while i < len(words):
        word = words[i]
        text = word.text
        if text.startswith("-") and len(text) > 1:
            i += _option(result, words, i)
            continue
        if result.verb is None:
            result.verb = word
        elif result.verb.text in INSTALL_VERBS:
            result.packages.extend(_packages(word, variables))
        i += 1
    return result


def _option(result: AptCommand, words: list[Word], i: int) -> int:
    word = words[i]
    text = word.text
    if text.startswith("--"):
        name = text.split("=", 1)[0]
        base = "--" + name[5:] if name.startswith("--no-") else name
        if name in APT_LONG or base in APT_LONG:
            takes = APT_LONG.get(name, APT_LONG.get(base, False))
            result.options.append(AptOption(text, word))
            return 2 if takes and "=" not in text else 1
        import difflib

        close = difflib.get_close_matches(name, list(APT_LONG), n=1, cutoff=0.75)
        result.options.append(AptOption(text, word, False, close[0] if close else None))
        return 1
    for index, char in enumerate(text[1:]):
        takes = APT_SHORT.get(char)
        if takes is None:
            suggestion = "-y" if text.startswith("-y") else None
            result.options.append(AptOption(text, word, False, suggestion))
            return 1
        if takes:
            result.options.append(AptOption(text, word))
            return 1 if text[index + 2 :] else 2
    result.options.append(AptOption(text, word))
    return 1


def _packages(word: Word, variables) -> list[AptPackage]:
    text = word.text
    unresolved = False
    if has_variables(text):
        expanded, missing = expand(text, variables)
        if missing:
            return [AptPackage(text, word, text, None, None, unresolved=True)]
        parts = expanded.split()
    else:
        parts = [text]
    out = []
    for part in parts:
        if part.endswith(".deb") or part.startswith(("/", "./", "../")):
            out.append(AptPackage(part, word, part, None, None, unresolved))  # a local file
            continue
        name, eq, version = part.partition("=")
        name, slash, release = name.partition("/")
        out.append(AptPackage(part, word, name, version if eq else None,
                              release if slash else None, unresolved))
    return out
