"""Issue 14: secret-named variables in LLM code are not secrets; real leaks still are."""

from __future__ import annotations

from pathlib import Path

import pytest

from carpenter.scan.secret_filters import keep_hit
from carpenter.scan.secrets import scan_files, without_name_only_hits

LLM = Path(__file__).resolve().parent / "rules" / "cases" / "SEC002" / "llm"


def _found(name: str) -> list[tuple[int, str]]:
    hits = without_name_only_hits(scan_files([str(LLM / name)]))
    return [(h.line, h.kind) for h in hits]


def test_llm_server_full_of_look_alikes_has_no_finding() -> None:
    assert _found("server.py") == []


def test_real_leaks_next_to_look_alikes_are_all_found() -> None:
    assert _found("finetune.py") == [
        (5, "huggingface-token"),  # token='hf_...'
        (6, "huggingface-token"),  # commented out: still leaked
        (7, "wandb-api-key"),
        (8, "generic-secret"),  # a random literal under a secret name
        (9, "generic-secret"),  # KEY=value in a comment
    ]


def test_notebook_code_and_base64_image_have_no_finding() -> None:
    assert _found("loss_curve.ipynb") == []


@pytest.mark.parametrize(("line", "keep"), [
    ('api_key = "b0Tz8BbwTKx8EqwtHmcOJEZq"', True),
    ("api_key = settings.production_api_key", False),
    ("api_key = load_key_from_vault(name)", False),
    ("self.secret = config['secret_value_here']", False),
    ("# secret = config.secret_value_here", False),
    ("# secret: b0Tz8BbwTKx8EqwtHmcOJEZq", True),
    ("f(token=b0Tz8BbwTKx8EqwtHmcOJEZq)", False),  # an identifier, however random
])
def test_python_value_must_be_a_literal(line: str, keep: bool) -> None:
    value = line.split("=", 1)[-1].split(":", 1)[-1].strip().strip("\"'#) ")
    if line.startswith("self.secret"):
        value = "config['secret_value_here']"
    assert keep_hit("a.py", line + "\n", 1, "generic-secret", value) is keep


def test_other_files_and_shapes_are_not_filtered() -> None:
    assert keep_hit("run.sh", "TOKEN=a.b.c\n", 1, "generic-secret", "a.b.c")
    assert keep_hit("a.py", "x = tok.hf_a\n", 1, "huggingface-token", "tok.hf_a")


def test_unterminated_python_never_crashes() -> None:
    text = 'x = (\napi_key = "b0Tz8BbwTKx8EqwtHmcOJEZq"\n"""unterminated\n'
    assert keep_hit("a.py", text, 2, "generic-secret", "b0Tz8BbwTKx8EqwtHmcOJEZq")
    assert keep_hit("a.py", text, 9, "generic-secret", "zzz") in (True, False)


def test_python_files_without_quoted_secret_values_skip_the_engine(tmp_path) -> None:
    from carpenter.scan.secrets import engine_gate

    code = tmp_path / "server.py"
    code.write_text("self.hf_token = args.hf_access_token\npad_token = tokenizer.eos_token\n")
    assert not engine_gate(str(code))
    code.write_text('db_password = "hunter2hunter2"\n')  # detect-secrets' keyword detector
    assert engine_gate(str(code))
    yaml = tmp_path / "c.yaml"
    yaml.write_text("password: hunter2\n")  # unquoted values count outside Python
    assert engine_gate(str(yaml))
