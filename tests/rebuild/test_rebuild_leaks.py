"""A rebuild's outputs (stdout, stderr, the build log) never hold a build-arg or secret value,
even printed alone on a line of the build's own output (`echo "key:" && echo $KEY`)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from rebuild_helpers import BASE_IMAGE, carpenter

pytestmark = pytest.mark.engine


def test_build_arg_values_never_reach_any_output(engine, image_tag, tmp_path: Path) -> None:
    wandb = secrets.token_hex(20)  # 40 hex: a W&B key has no shape of its own
    password = "pw-" + secrets.token_urlsafe(12)
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\n"
        "ARG WANDB_API_KEY\nARG DB_PASSWORD\n"
        'RUN echo "wandb key:" && echo $WANDB_API_KEY && echo "db:" && echo "$DB_PASSWORD"\n')
    log = tmp_path / "build.log"
    done = carpenter("rebuild", str(context), "--tag", image_tag, "--no-cache", "--log",
                     str(log), "--format", "json", "--build-arg", f"WANDB_API_KEY={wandb}",
                     "--build-arg", f"DB_PASSWORD={password}")
    text = log.read_text()
    assert "wandb key:" in text and "db:" in text, done.stderr[-2000:]  # the step ran
    for channel, output in (("stdout", done.stdout), ("stderr", done.stderr), ("log", text)):
        assert wandb not in output, f"{channel} leaks the W&B key"
        assert password not in output, f"{channel} leaks the password"
