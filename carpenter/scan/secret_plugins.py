"""detect-secrets plugins for what its defaults miss, built from carpenter/data/secrets.toml.

detect-secrets has no Hugging Face or W&B detector and its KeywordDetector ignores `token`
names and unquoted values. This module is loaded by detect-secrets from its file path
(`plugins_used: [{"name": ..., "path": "file://..."}]`), so it must define the classes at import
time; it is imported only when a context is scanned (detect-secrets is a heavy import).
"""

from __future__ import annotations

import re
from collections.abc import Generator

from detect_secrets.plugins.base import BasePlugin, RegexBasedDetector

from carpenter.scan.secrets import find_secrets, find_secrets_in_file_text, secret_data


class _ShapePlugin(RegexBasedDetector):
    """Tokens of the shapes in secrets.toml of one `kind` (placeholders and low entropy dropped)."""

    kind = ""
    title = ""
    variable = ""
    denylist = ()

    def analyze_string(self, string: str) -> Generator[str, None, None]:
        for hit in find_secrets(string):
            if hit.kind == self.kind:
                yield hit.value

    @classmethod
    def prefix_of(cls, value: str) -> str:
        for shape in secret_data().tokens:
            if shape.kind == cls.kind:
                match = shape.regex.match(value)
                if match:
                    return match.group("prefix")
        return ""


class HuggingFaceTokenDetector(_ShapePlugin):
    """Hugging Face user access tokens: `hf_` + 34 characters."""

    secret_type = "Hugging Face Token"
    kind = "huggingface-token"
    title = "Hugging Face access token"
    variable = "HF_TOKEN"


class HuggingFaceOrgTokenDetector(_ShapePlugin):
    """Hugging Face organization tokens: `api_org_` + 34 letters."""

    secret_type = "Hugging Face Org Token"
    kind = "huggingface-org-token"
    title = "Hugging Face organization API token"
    variable = "HF_TOKEN"


class WandbKeyDetector(_ShapePlugin):
    """W&B API keys: `wandb_v1_` keys anywhere, classic 40-hex keys next to a W&B keyword."""

    secret_type = "Weights and Biases API Key"
    kind = "wandb-api-key"
    title = "Weights & Biases API key"
    variable = "WANDB_API_KEY"


class SecretNamedValueDetector(BasePlugin):
    """Random-looking values assigned to secret-named keys, quoted or not (`HF_TOKEN=...`)."""

    secret_type = "Secret-named Value"
    kind = "generic-secret"
    title = "value of a secret-named variable"
    variable = ""

    def analyze_string(self, string: str) -> Generator[str, None, None]:
        for hit in find_secrets_in_file_text(string):
            if hit.kind == "generic-secret":
                yield hit.value

    @classmethod
    def prefix_of(cls, value: str) -> str:
        return ""


# Other shapes of secrets.toml that detect-secrets covers under its own names are left to it;
# the ones below it lacks entirely.
class OtherShapeDetector(BasePlugin):
    """Google, Slack and other shapes from secrets.toml that the default plugins miss."""

    secret_type = "Carpenter Token Shape"
    kind = "token"
    title = "API token"
    variable = ""
    _kinds = frozenset({"google-api-key", "kaggle-key", "aws-secret-access-key"})

    def analyze_string(self, string: str) -> Generator[str, None, None]:
        for hit in find_secrets(string):
            if hit.kind in self._kinds:
                yield hit.value

    @classmethod
    def prefix_of(cls, value: str) -> str:
        match = re.match(r"AIza", value)
        return match.group(0) if match else ""


def plugin_classes() -> list[type]:
    return [HuggingFaceTokenDetector, HuggingFaceOrgTokenDetector, WandbKeyDetector,
            SecretNamedValueDetector, OtherShapeDetector]


PLUGIN_NAMES = [cls.__name__ for cls in plugin_classes()]
