"""Scan configuration: defaults < profile < .carpenter.toml / [tool.carpenter] < command line."""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
from dataclasses import field, replace
from typing import TYPE_CHECKING, Any

from carpenter.core.errors import ConfigError
from carpenter.core.records import record
from carpenter.core.resources import data_dir
from carpenter.scan.finding import SEVERITIES

if TYPE_CHECKING:  # pathlib and tomllib only once a config file is found: most scans find none
    from pathlib import Path

DEFAULT_FAIL_ON = "warning"
# `fail-on = "none"`: report, never fail (ruff's --exit-zero as a setting).
FAIL_ON_CHOICES = (*SEVERITIES, "none")
KNOWN_KEYS = frozenset({"select", "extend-select", "ignore", "profile-rules", "fail-on",
                        "profile", "severity", "exclude", "per-file-ignores", "ignore-pragmas",
                        # Tables of the commands above scan, which check their own keys.
                        "check", "batch"})


@record(eq=False, frozen=True)
class ScanConfig:
    """The rule selection and overrides of `.carpenter.toml` and the command line."""

    select: tuple[str, ...] = ("ALL",)
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    fail_on: str = DEFAULT_FAIL_ON
    profile: str | None = None
    severity: dict[str, str] = field(default_factory=dict)  # rule/category -> severity override
    profile_rules: tuple[str, ...] = ()  # profile-only rules this profile turns on
    # Rules whose inline suppressions (`# carpenter: ignore[...]`, `# hadolint ignore=`) are
    # not honoured: ("ALL",) with --ignore-pragmas; ("secret",) in the competition profile, so
    # a submission cannot silence the report of its own leaked token.
    ignore_pragmas: tuple[str, ...] = ()
    source: str | None = None  # the file the settings came from
    exclude: tuple[str, ...] = ()  # globs of Dockerfiles not to scan (relative to `root`)
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (glob, rules)
    root: str | None = None  # folder the globs are relative to (the config file's folder)

    def excludes(self, path: str) -> bool:
        return any(_glob_match(path, pattern, self.root) for pattern in self.exclude)

    def for_file(self, path: str) -> ScanConfig:
        """This config with the per-file ignores that match `path` added to `ignore`."""
        extra = tuple(rule for pattern, rules in self.per_file_ignores
                      if _glob_match(path, pattern, self.root) for rule in rules)
        if not extra:
            return self
        return replace(self, ignore=self.ignore + extra, per_file_ignores=())

    def selects(self, rule: type) -> bool:
        if rule.profile_only and not _matches_any(rule, self.profile_rules + self.extend_select):
            return False
        if _matches_any(rule, self.ignore):
            return False
        return _matches_any(rule, self.select + self.extend_select)

    def severity_of(self, rule_id: str, name: str, category: str, default: str) -> str:
        for key in (rule_id, name, category):
            if key in self.severity:
                return self.severity[key]
        return default


def _glob_match(path: str, pattern: str, root: str | None) -> bool:
    """ruff-style globs: against the path relative to the config's folder, or the file name
    when the pattern has no slash (`Dockerfile.dev` matches at any depth)."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute, root) if root else path
    relative = relative.replace(os.sep, "/")
    if "/" not in pattern.rstrip("/"):
        return fnmatch.fnmatch(os.path.basename(absolute), pattern) or any(
            fnmatch.fnmatch(part, pattern.rstrip("/")) for part in relative.split("/")[:-1])
    return fnmatch.fnmatch(relative, pattern.lstrip("./")) or fnmatch.fnmatch(
        relative, pattern.lstrip("./").rstrip("/") + "/*")


def _matches_any(rule: type, keys: tuple[str, ...]) -> bool:
    return any(rule_matches(rule, key) for key in keys)


def rule_matches(rule: type, key: str) -> bool:
    key = key.strip()
    if not key:
        return False
    if key.upper() == "ALL":
        return True
    return rule.id.startswith(key.upper()) or key.lower() in (rule.name, rule.category)


def find_config_file(start: Path | str) -> Path | None:
    """The nearest .carpenter.toml, or pyproject.toml with [tool.carpenter], from start upwards."""
    for candidate, pyproject in _upwards(start):
        if _is_file(candidate):
            return _path(candidate)
        if _is_file(pyproject) and "tool" in _read_toml(pyproject) and "carpenter" in _read_toml(
            pyproject
        ).get("tool", {}):
            return _path(pyproject)
    return None


def _upwards(start: Path | str) -> list[tuple[str, str]]:
    """(.carpenter.toml, pyproject.toml) of `start` and each of its parents, as the text of
    `folder / name`. The scan passes a normalised absolute folder (os.path.abspath), whose
    parents are its os.path.dirname chain; anything else goes through pathlib, whose own
    normalisation then decides (`.` has no parent, `./a` is `a`)."""
    names = (".carpenter.toml", "pyproject.toml")
    if not (isinstance(start, str) and os.path.isabs(start) and os.path.normpath(start) == start):
        from pathlib import Path

        path = Path(start)
        return [(str(f / names[0]), str(f / names[1])) for f in (path, *path.parents)]
    folders = [start]
    while (parent := os.path.dirname(folders[-1])) != folders[-1]:
        folders.append(parent)
    return [(os.path.join(f, names[0]), os.path.join(f, names[1])) for f in folders]


# Path.is_file's answer without pathlib: False for these errors, any other OSError raised.
_NOT_THERE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP})


def _is_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError as exc:
        if exc.errno not in _NOT_THERE:
            raise
        return False
    except ValueError:
        return False


def _path(text: str | os.PathLike[str]) -> Path:
    from pathlib import Path

    return Path(text)


def _read_toml(path: Path | str) -> dict[str, Any]:
    import tomllib

    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read configuration: {exc}", path=str(path)) from None


def load_file_settings(path: Path, strict: bool = True) -> dict[str, Any]:
    """Settings of a config file; `strict`: unknown keys are errors (not for profiles, whose
    other tables, e.g. [contract], are read by the rules that need them)."""
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("carpenter", {})
    settings = {key.replace("_", "-"): value for key, value in data.items()}
    unknown = [key for key in settings if key not in KNOWN_KEYS] if strict else []
    if unknown:
        # A typo (`ignores = [...]`) would otherwise silently turn nothing off.
        key = unknown[0]
        original = next(k for k in data if k.replace("_", "-") == key)
        raise ConfigError(
            f"unknown setting {original!r} (known: {', '.join(sorted(KNOWN_KEYS))})",
            path=str(path), line=_key_line(path, original),
        )
    return settings


def _key_line(path: Path, key: str) -> int | None:
    """The line where `key` is set (`key =`, or a `[....key]` table); None if not found."""
    pattern = re.compile(
        rf"""^\s*(?:["']?{re.escape(key)}["']?\s*=|\[[^\]]*\b{re.escape(key)}["']?\s*\])"""
    )
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    in_carpenter = path.name != "pyproject.toml"
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith("["):
            in_carpenter = in_carpenter or "carpenter" in stripped
            if path.name == "pyproject.toml":
                in_carpenter = "tool.carpenter" in stripped
        if in_carpenter and pattern.match(line):
            return number
    return None


def load_profile(name: str) -> dict[str, Any]:
    path = data_dir() / "profiles" / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in (data_dir() / "profiles").glob("*.toml"))
        raise ConfigError(f"unknown profile {name!r} (known: {', '.join(known) or 'none'})")
    return load_file_settings(path, strict=False)


def apply_settings(config: ScanConfig, settings: dict[str, Any], origin: str) -> ScanConfig:
    changes: dict[str, Any] = {}
    for key, value in settings.items():
        if key in ("select", "ignore", "extend-select", "profile-rules"):
            if isinstance(value, str):
                value = [v for v in value.split(",") if v.strip()]
            if not isinstance(value, list):
                raise ConfigError(f"{key} must be a list of rule ids or names", path=origin)
            changes[key.replace("-", "_")] = tuple(str(v).strip() for v in value)
        elif key == "ignore-pragmas":
            changes["ignore_pragmas"] = _pragma_keys(value, origin)
        elif key == "fail-on":
            changes["fail_on"] = _fail_on(value, origin)
        elif key == "exclude":
            changes["exclude"] = _string_list(value, origin, key)
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError("per-file-ignores must be a table of glob = [rules]",
                                  path=origin)
            changes["per_file_ignores"] = tuple(
                (str(glob), _string_list(rules, origin, f"per-file-ignores.{glob}"))
                for glob, rules in value.items())
        elif key == "profile":
            changes["profile"] = str(value)
        elif key == "severity":
            if not isinstance(value, dict):
                raise ConfigError("severity must be a table of rule = level", path=origin)
            merged = dict(config.severity)
            merged.update({k: _severity(v, origin, k) for k, v in value.items()})
            changes["severity"] = merged
    return replace(config, **changes)


def _string_list(value: Any, origin: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list):
        raise ConfigError(f"{key} must be a list of strings", path=origin)
    return tuple(str(v).strip() for v in value)


def _fail_on(value: Any, origin: str) -> str:
    text = str(value).lower()
    if text not in FAIL_ON_CHOICES:
        raise ConfigError(f"fail-on: {value!r} is not one of {', '.join(FAIL_ON_CHOICES)}",
                          path=origin)
    return text


def _pragma_keys(value: Any, origin: str) -> tuple[str, ...]:
    """`ignore-pragmas = true` (every rule), false (none) or a list of rules/categories."""
    if isinstance(value, bool):
        return ("ALL",) if value else ()
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list):
        raise ConfigError("ignore-pragmas must be true, false or a list of rules", path=origin)
    return tuple(str(v).strip() for v in value)


def _severity(value: Any, origin: str, key: str) -> str:
    text = str(value).lower()
    if text not in SEVERITIES:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(SEVERITIES)}", path=origin)
    return text


def resolve_config(
    cli: dict[str, Any], start: Path | None = None, config_file: Path | None = None
) -> ScanConfig:
    """Merge the profile, the nearest config file and command-line settings."""
    found = config_file or find_config_file(start or os.getcwd())
    return _resolve_found(cli, found)


def _resolve_found(cli: dict[str, Any], found: Path | None) -> ScanConfig:
    file_settings = load_file_settings(found) if found else {}
    profile = cli.get("profile") or file_settings.get("profile")
    config = ScanConfig()
    if profile:
        config = apply_settings(config, load_profile(profile), f"profile {profile}")
        config = replace(config, profile=profile)
    if file_settings:
        config = apply_settings(config, file_settings, str(found))
        config = replace(config, source=str(found), root=str(_path(found).resolve().parent))
    cli_settings = {k: v for k, v in cli.items() if v not in (None, (), [])}
    return apply_settings(config, cli_settings, "command line")


def config_for_folder(cli: dict[str, Any], folder: Path | str,
                      cache: dict[Path | None, ScanConfig]) -> ScanConfig:
    """The config of the nearest config file above `folder` (ruff's per-file discovery),
    merged with the command line; one resolve per config file."""
    found = find_config_file(folder)
    if found not in cache:
        cache[found] = _resolve_found(cli, found)
    return cache[found]
