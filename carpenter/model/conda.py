"""conda / mamba / micromamba commands and environment.yml files, with file offsets."""

from __future__ import annotations

import re
from dataclasses import field

from carpenter.core.lazyre import lazy_compile
from carpenter.core.records import record
from carpenter.model.dockerfile import Instruction
from carpenter.model.shell import SimpleCommand, Word, run_commands
from carpenter.model.source import SourceFile
from carpenter.model.variables import expand, has_variables

CONDA_TOOLS = frozenset({"conda", "mamba", "micromamba"})
VALUE_OPTIONS = frozenset({
    "-n", "--name", "-p", "--prefix", "-c", "--channel", "-f", "--file", "--solver", "--clone",
    "--repodata-fn", "--experimental", "--platform", "--subdir", "-r", "--root-prefix",
    "--channel-priority", "--relocate-prefix", "--category", "--channel-alias", "--rc-file",
    "--env", "--lockfile",
})
PACKAGE_VERBS = frozenset({"install", "create", "update", "upgrade"})
_SPEC = lazy_compile(
    r"^(?:(?P<channel>[^:\s]+)::)?(?P<name>[A-Za-z0-9_][A-Za-z0-9_.\-]*)\s*(?P<rest>.*)$"
)


@record(eq=False, slots=True)
class CondaSpec:
    """A package spec of a conda/mamba command (`numpy=1.26`)."""

    text: str
    offset: int
    end_offset: int
    name: str
    constraint: str  # what follows the name ("", "=1.2", "==1.2.3", ">=1", " 1.2.*")
    unresolved: bool = False

    @property
    def pinned(self) -> bool:
        """`=1.2` (conda's fuzzy 1.2.*) and `==1.2.3` count; ranges and explicit `*` do not."""
        rest = self.constraint.strip()
        if self.unresolved:
            return False
        if rest.startswith("[") and "version=" in rest:
            rest = "==" + rest.split("version=", 1)[1].strip("'\"]")
        version = rest.lstrip("=").split("=", 1)[0].strip()
        if not version or any(c in version for c in "*<>!,|~"):
            return False
        return rest.startswith("=") or rest[:1].isdigit()


def parse_spec(text: str, offset: int, end_offset: int) -> CondaSpec | None:
    match = _SPEC.match(text.strip())
    if match is None:
        return None
    return CondaSpec(text.strip(), offset, end_offset, match.group("name").lower(),
                     match.group("rest"))


@record(eq=False, slots=True)
class CondaCommand:
    """A conda/mamba/micromamba command: its verb, specs and environment files."""

    command: SimpleCommand
    tool: str
    verb: Word | None
    env_verb: Word | None = None  # `conda env create|update`
    specs: list[CondaSpec] = field(default_factory=list)
    files: list[tuple[Word, str]] = field(default_factory=list)  # -f/--file values (expanded)
    all_packages: bool = False  # `update --all`


def conda_commands(inst: Instruction) -> list[CondaCommand]:
    cached = getattr(inst, "_conda_commands", None)
    if cached is not None:
        return cached
    found: list[CondaCommand] = []
    for _script, cmd in run_commands(inst):
        parsed = parse_conda(cmd, inst.vars)
        if parsed is not None:
            found.append(parsed)
    inst._conda_commands = found  # type: ignore[attr-defined]
    return found


def parse_conda(cmd: SimpleCommand, variables) -> CondaCommand | None:
    words, _ = cmd.effective()
    if not words or words[0].text.rsplit("/", 1)[-1] not in CONDA_TOOLS:
        return None
    result = CondaCommand(cmd, words[0].text.rsplit("/", 1)[-1], None)
    i = 1
    while i < len(words):
        word = words[i]
        text = word.text
        if text.startswith("-") and len(text) > 1:
            name, eq, value = text.partition("=")
            takes = name in VALUE_OPTIONS and not eq
            value_word = words[i + 1] if takes and i + 1 < len(words) else None
            if name in ("-f", "--file") and (value_word is not None or eq):
                raw = value_word.text if value_word is not None else value
                result.files.append((value_word or word, _expand(raw, variables)))
            if name == "--all":
                result.all_packages = True
            i += 2 if takes else 1
            continue
        if result.verb is None:
            result.verb = word
        elif result.verb.text == "env" and result.env_verb is None:
            result.env_verb = word
        elif result.verb.text in PACKAGE_VERBS:
            result.specs.extend(_specs(word, variables))
        i += 1
    return result


def _specs(word: Word, variables) -> list[CondaSpec]:
    start = word.offset + (1 if word.raw[:1] in "\"'" else 0)
    end = word.end_offset - (1 if word.raw[-1:] in "\"'" and len(word.raw) > 1 else 0)
    if has_variables(word.text):
        expanded, missing = expand(word.text, variables)
        parts = expanded.split() if not word.quoted else [expanded]
        out = []
        for part in parts:
            spec = parse_spec(part, start, end)
            if spec is not None:
                spec.unresolved = bool(missing)
                out.append(spec)
        return out
    spec = parse_spec(word.text, start, end)
    return [spec] if spec is not None else []


def _expand(text: str, variables) -> str:
    return expand(text, variables)[0] if has_variables(text) else text


# ---------------------------------------------------------------------------------------------
# environment.yml


# An environment file is a few kilobytes; PyYAML needs seconds per megabyte (minutes without
# libyaml), so a larger one is refused with a located error instead of stalling a scan.
MAX_ENV_BYTES = 1024 * 1024


@record(eq=False, slots=True)
class EnvEntry:
    """One dependency of an environment file (a conda spec or a pip requirement)."""

    manager: str  # "conda" | "pip"
    text: str
    offset: int
    end_offset: int


@record(eq=False, slots=True)
class EnvProblem:
    """Why an environment file cannot be read, where (1-based line and column)."""

    message: str
    line: int | None = None
    column: int | None = None


@record(eq=False, slots=True)
class EnvironmentFile:
    """The `dependencies:` of an environment.yml: conda specs and the `pip:` list, in order."""

    entries: list[EnvEntry] = field(default_factory=list)
    problem: EnvProblem | None = None

    @property
    def pip(self) -> list[EnvEntry]:
        return [e for e in self.entries if e.manager == "pip"]

    def conda_specs(self) -> list[CondaSpec]:
        return [spec for e in self.entries if e.manager == "conda"
                if (spec := parse_spec(e.text, e.offset, e.end_offset)) is not None]

    def python(self) -> str | None:
        """`python=3.10` / `python==3.10.13` / `python 3.10.*` -> "3.10"; "" when the file
        names Python without one version (`python`, a range); None when it names none."""
        for spec in self.conda_specs():
            if spec.name != "python":
                continue
            rest = spec.constraint.strip()
            if rest[:1] in "<>!~" or "," in rest or "|" in rest:
                return ""
            match = re.match(r"^=*\s*(\d+)\.(\d+)", rest)
            return f"{match.group(1)}.{match.group(2)}" if match else ""
        return None


def environment_entries(source: SourceFile) -> list[EnvEntry] | None:
    """The `dependencies:` of an environment file (with its `pip:` list); None if unreadable."""
    env = read_environment(source)
    return None if env.problem is not None else env.entries


def read_environment(source: SourceFile) -> EnvironmentFile:
    """Parse an environment file; a file that is not one gives `problem` (never raises).

    yaml.compose builds nodes without expanding aliases, so an alias bomb stays small; only
    the `dependencies:` list and its `pip:` list are walked, one level each."""
    import yaml

    if len(source.text) > MAX_ENV_BYTES:
        return EnvironmentFile(problem=EnvProblem(
            f"environment file too large to read ({len(source.text)} characters > "
            f"{MAX_ENV_BYTES})"))
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10x faster
    try:
        root = yaml.compose(source.text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        what = ": ".join(p for p in (exc.context, exc.problem) if p)
        return EnvironmentFile(problem=EnvProblem(f"not valid YAML: {what}", *where))
    except (yaml.YAMLError, RecursionError, ValueError) as exc:  # nesting too deep, ...
        return EnvironmentFile(problem=EnvProblem(f"not valid YAML: {type(exc).__name__}: "
                                                  f"{str(exc).splitlines()[0][:200]}"))
    if root is None:
        return EnvironmentFile()
    if not isinstance(root, yaml.MappingNode):
        return EnvironmentFile(problem=_shape(root, "an environment file is a YAML mapping "
                                                    "(name:, channels:, dependencies:)"))
    env = EnvironmentFile()
    for key, value in root.value:
        if getattr(key, "value", None) != "dependencies":
            continue
        if not isinstance(value, yaml.SequenceNode):
            env.problem = _shape(value, "`dependencies:` must be a list")
            return env
        for item in value.value:
            if isinstance(item, yaml.ScalarNode):
                env.entries.append(_entry("conda", item))
            elif isinstance(item, yaml.MappingNode):
                for sub_key, sub_value in item.value:
                    if getattr(sub_key, "value", None) != "pip":
                        continue
                    if not isinstance(sub_value, yaml.SequenceNode):
                        env.problem = _shape(sub_value, "`pip:` must be a list")
                        return env
                    env.entries.extend(_entry("pip", node) for node in sub_value.value
                                       if isinstance(node, yaml.ScalarNode))
    return env


def _shape(node, message: str) -> EnvProblem:
    return EnvProblem(message, node.start_mark.line + 1, node.start_mark.column + 1)


def _entry(manager: str, node) -> EnvEntry:
    start, end = node.start_mark.index, node.end_mark.index
    if node.style in ("'", '"'):
        start, end = start + 1, end - 1
    return EnvEntry(manager, str(node.value), start, end)
