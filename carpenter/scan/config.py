"""Scan configuration: defaults < profile < .carpenter.toml / [tool.carpenter] < command line."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from carpenter.core.errors import ConfigError
from carpenter.core.resources import data_dir
from carpenter.scan.finding import SEVERITIES

DEFAULT_FAIL_ON = "warning"


@dataclass(frozen=True)
class ScanConfig:
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


def _matches_any(rule: type, keys: tuple[str, ...]) -> bool:
    return any(rule_matches(rule, key) for key in keys)


def rule_matches(rule: type, key: str) -> bool:
    key = key.strip()
    if not key:
        return False
    if key.upper() == "ALL":
        return True
    return rule.id.startswith(key.upper()) or key.lower() in (rule.name, rule.category)


def find_config_file(start: Path) -> Path | None:
    """The nearest .carpenter.toml, or pyproject.toml with [tool.carpenter], from start upwards."""
    for folder in [start, *start.parents]:
        candidate = folder / ".carpenter.toml"
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "tool" in _read_toml(pyproject) and "carpenter" in _read_toml(
            pyproject
        ).get("tool", {}):
            return pyproject
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read configuration: {exc}", path=str(path)) from None


def load_file_settings(path: Path) -> dict[str, Any]:
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("carpenter", {})
    return {key.replace("_", "-"): value for key, value in data.items()}


def load_profile(name: str) -> dict[str, Any]:
    path = data_dir() / "profiles" / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in (data_dir() / "profiles").glob("*.toml"))
        raise ConfigError(f"unknown profile {name!r} (known: {', '.join(known) or 'none'})")
    return load_file_settings(path)


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
            changes["fail_on"] = _severity(value, origin, key)
        elif key == "profile":
            changes["profile"] = str(value)
        elif key == "severity":
            if not isinstance(value, dict):
                raise ConfigError("severity must be a table of rule = level", path=origin)
            merged = dict(config.severity)
            merged.update({k: _severity(v, origin, k) for k, v in value.items()})
            changes["severity"] = merged
    return replace(config, **changes)


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
    found = config_file or find_config_file(start or Path(os.getcwd()))
    file_settings = load_file_settings(found) if found else {}
    profile = cli.get("profile") or file_settings.get("profile")
    config = ScanConfig()
    if profile:
        config = apply_settings(config, load_profile(profile), f"profile {profile}")
        config = replace(config, profile=profile)
    if file_settings:
        config = apply_settings(config, file_settings, str(found))
        config = replace(config, source=str(found))
    cli_settings = {k: v for k, v in cli.items() if v not in (None, (), [])}
    return apply_settings(config, cli_settings, "command line")
