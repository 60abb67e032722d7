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


# --- found by bench/secret_precision_bench.py (session 4) -------------------------------------

# A real-looking Hugging Face token that happens to contain `zzz` (one in a hundred does).
ZZZ_TOKEN = "hf_" + "XalHpazzZQoQyvoEiDOFlZtIUZsjDNpOLa"


def _kinds(tmp_path: Path, name: str, text: str) -> list[tuple[int, str]]:
    path = tmp_path / name
    path.write_text(text)
    hits = without_name_only_hits(scan_files([str(path)]))
    return [(h.line, h.kind) for h in hits]


def test_a_token_containing_a_placeholder_word_is_still_a_secret(tmp_path) -> None:
    from carpenter.core.redact import redact
    from carpenter.core.shapes import find_secrets, is_placeholder

    assert not is_placeholder(ZZZ_TOKEN)
    assert [h.kind for h in find_secrets(f'token="{ZZZ_TOKEN}"')] == ["huggingface-token"]
    assert ZZZ_TOKEN not in redact(f"login --token {ZZZ_TOKEN}")
    assert _kinds(tmp_path, "m.py", f'model = load("org/m", token="{ZZZ_TOKEN}")\n') == [
        (1, "huggingface-token")]


@pytest.mark.parametrize("value", ["YourTokenHere", "yourtokenhere", "paste-your-token-here",
                                   "hf_fake_token", "DummyApiKey", "xxx-redacted", "sk-xxxx",
                                   "OPENAI_API_KEY", "HF_TOKEN"])
def test_placeholders_and_variable_names_are_not_secrets(value: str) -> None:
    from carpenter.core.shapes import is_placeholder

    assert is_placeholder(value)


def test_a_git_sha_below_a_wandb_call_is_not_a_wandb_key(tmp_path) -> None:
    sha = "6d4ca6278282088ace9f19161134131b91f35d77"
    code = (f'wandb.init(project="llm")\nrevision = "{sha}"\n'
            f'model = from_pretrained("org/m", revision="{sha}")\n')
    assert _kinds(tmp_path, "m.py", code) == []
    assert _kinds(tmp_path, "run.sh", f"export WANDB_MODE=offline\ngit checkout {sha}\n") == []


def test_wandb_keys_with_their_keyword_above_are_still_found(tmp_path) -> None:
    key = "6d4ca6278282088ace9f19161134131b91f35d77"
    netrc = f"machine api.wandb.ai\n  login user\n  password {key}\n"
    assert _kinds(tmp_path, "netrc.txt", netrc) == [(3, "wandb-api-key")]
    assert _kinds(tmp_path, "c.yaml", f"wandb:\n  api_key: {key}\n") == [(2, "wandb-api-key")]
    assert _kinds(tmp_path, "t.py", f'wandb.login(key="{key}")\n') == [(1, "wandb-api-key")]


def test_keys_about_a_secret_are_not_the_secret(tmp_path) -> None:
    text = ("secret_name: hf-token\napi_key_env: OPENAI_API_KEY\ntoken_type: bearer-jwt\n"
            "password: Xk9#mQ2vLp7wRt\n")
    assert _kinds(tmp_path, "config.yaml", text) == [(4, "generic-secret")]


def test_a_github_token_in_a_url_is_one_finding_with_its_whole_value(tmp_path) -> None:
    token = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
    path = tmp_path / "clone.sh"
    path.write_text(f"git clone https://oauth2:{token}@github.com/org/private.git\n")
    hits = without_name_only_hits(scan_files([str(path)]))
    assert [(h.kind, h.value) for h in hits] == [("github-token", token)]


def test_the_key_before_a_value_is_found_in_bounded_time_on_a_hostile_line() -> None:
    import subprocess
    import sys

    # In a child: sre holds the GIL, so a quadratic search would hang this process instead
    # of failing. 60 s is a generous bound, not a timing: the old search took hours.
    code = ("from carpenter.scan.secret_filters import keep_hit\n"
            "line = 'a' * 200_000 + ' token = \"Xk9mQ2vLp7wRt4Zy8NcB\"'\n"
            "print(keep_hit('c.txt', line + '\\n', 1, 'generic-secret', "
            "'Xk9mQ2vLp7wRt4Zy8NcB'))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "True", done.stderr
