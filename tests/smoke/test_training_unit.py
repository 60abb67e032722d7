"""`smoke --train` and the submission-folder hub ids, without an engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from carpenter.core.errors import ConfigError
from carpenter.smoke import hub_ids, training
from carpenter.smoke.result import SmokeResult, TrainResult
from carpenter.smoke.runner import SmokeOptions, with_context_ids

TRAINER_LOG = """\
trainable params: 1,792 || all params: 39,584 || trainable%: 4.5271
loaded 8 examples from /carpenter-data/train.jsonl
{'loss': '5.74', 'grad_norm': '0.1319', 'learning_rate': '0.0002', 'epoch': '0.125'}
{'loss': '5.71', 'grad_norm': '0.1402', 'learning_rate': '0.0001', 'epoch': '0.25'}
{'train_runtime': '0.91', 'train_loss': '5.72', 'epoch': '0.25'}
"""


def judged(log: str, code: int | None, oom: bool = False, timed_out: bool = False) -> TrainResult:
    out = TrainResult(wall_s=3.0)
    training.judge(out, log, code, oom, timed_out, 60, training.load_table())
    return out


def test_table_sets_step_caps_and_dataset_variables() -> None:
    env = training.train_env(training.load_table(), 2, None)
    assert env["MAX_STEPS"] == "2" and env["NUM_TRAIN_EPOCHS"] == "1"
    assert env["DATASET_PATH"] == "/carpenter-data/train.jsonl"
    assert env["DATA_DIR"] == "/carpenter-data"
    assert env["WANDB_MODE"] == "disabled"


def test_own_dataset_file_or_folder(tmp_path: Path) -> None:
    table = training.load_table()
    (tmp_path / "mine.csv").write_text("text\nhello\n")
    env = training.train_env(table, 5, tmp_path / "mine.csv")
    assert env["DATASET_PATH"] == "/carpenter-data/mine.csv" and env["MAX_STEPS"] == "5"
    env = training.train_env(table, 5, tmp_path)  # an HF-datasets save_to_disk folder
    assert env["DATASET_PATH"] == env["DATA_DIR"] == "/carpenter-data"


def test_tiny_dataset_has_the_common_fields(tmp_path: Path) -> None:
    training.write_dataset(tmp_path, 8)
    rows = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 8
    assert {"instruction", "input", "output", "text", "prompt", "response"} <= set(rows[0])
    assert (tmp_path / "train.csv").read_text().startswith("instruction,input,output")


def test_two_trainer_steps_and_exit_zero_is_finished() -> None:
    out = judged(TRAINER_LOG, 0)
    assert out.stage == "finished" and out.failure is None
    assert out.steps_logged == 2
    assert list(out.evidence) == ["model-load", "first-step"]
    assert out.evidence["first-step"].startswith("{'loss': '5.74'")
    assert not any(c.failed for c in out.checks)


@pytest.mark.parametrize("line", [
    "Training Epoch: 1/1, step 0/2 completed (loss: 5.4312):  50%|#####     | 1/2",
    "step 1 | loss 5.43 | lr 2e-4",
    "iter 1: loss 5.4321, time 120.3ms",
    '{"loss": 5.43, "step": 1}',
])
def test_step_lines_of_common_training_loops(line: str) -> None:
    assert training.progress(line, training.load_table())[0] == "first-step"


@pytest.mark.parametrize("line", ["loading dataset step", "Step 0: warming up",
                                  "{'train_runtime': '0.91', 'train_loss': '5.72'}"])
def test_lines_that_are_not_steps(line: str) -> None:
    assert training.progress(line, training.load_table())[2] == 0


def test_crash_before_the_first_step_has_a_class_and_evidence() -> None:
    log = ("trainable params: 1,792 || all params: 39,584\nTraceback (most recent call last):\n"
           "FileNotFoundError: [Errno 2] No such file or directory: '/data/alpaca.jsonl'\n")
    out = judged(log, 1)
    assert out.stage == "model-load"
    assert out.failure["class"] == "crash"
    assert out.failure["evidence"].startswith("FileNotFoundError")
    assert out.checks[0].failed and "before its first step" in out.checks[0].detail


def test_offline_model_load_is_a_network_failure() -> None:
    log = ("OSError: We couldn't connect to 'https://huggingface.co' to load the files, and "
           "couldn't find them in the cached files.\n")
    out = judged(log, 1)
    assert out.stage == "not-started" and out.failure["class"] == "network"


def test_wall_clock_cap_after_the_first_step_passes() -> None:
    out = judged(TRAINER_LOG.splitlines()[2] + "\n", None, timed_out=True)
    assert out.stopped_by_cap and out.stage == "first-step"
    assert out.failure is None and not any(c.failed for c in out.checks)


def test_wall_clock_cap_before_the_first_step_is_a_timeout() -> None:
    out = judged("Loading checkpoint shards:  50%|", None, timed_out=True)
    assert out.failure["class"] == "timeout" and out.checks[0].failed


def test_oom_kill_is_out_of_memory() -> None:
    out = judged(TRAINER_LOG.splitlines()[0], 137, oom=True)
    assert out.failure["class"] == "out-of-memory"


def test_train_cmd_runs_under_a_shell() -> None:
    kwargs, shown = training.command_kwargs("bash train.sh && python upload.py")
    assert kwargs == {"entrypoint": ["/bin/sh", "-c"],
                      "command": ["bash train.sh && python upload.py"]}
    assert shown[0] == "bash"
    assert training.command_kwargs(None) == ({}, [])


def test_malformed_table_is_a_located_error(tmp_path: Path) -> None:
    bad = tmp_path / "training.toml"
    bad.write_text("[dataset]\nmount = 1\n")
    with pytest.raises(ConfigError) as err:
        training.load_table.__wrapped__(bad)
    assert err.value.path == str(bad)


SUBMISSION_DOCKERFILE = """\
FROM python:3.11
RUN python -c "from huggingface_hub import snapshot_download; \\
snapshot_download('mistralai/Mistral-7B-v0.1')"
RUN python -c "from datasets import load_dataset; load_dataset('tatsu-lab/alpaca')"
COPY . /app
CMD ["python", "/app/train.py"]
"""
SUBMISSION_TRAIN = """\
from transformers import AutoModelForCausalLM, AutoTokenizer
BASE = "meta-llama/Llama-2-7b-hf"
tokenizer = AutoTokenizer.from_pretrained(BASE)
model = AutoModelForCausalLM.from_pretrained(BASE)
remote = AutoModelForCausalLM.from_pretrained("Qwen/Qwen-7B", trust_remote_code=True)
other = AutoModelForCausalLM.from_pretrained("someone/unknown-arch-model")
local = AutoModelForCausalLM.from_pretrained("./checkpoints")
"""


def submission(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text(SUBMISSION_DOCKERFILE)
    (tmp_path / "train.py").write_text(SUBMISSION_TRAIN)
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "x.py").write_text('f.from_pretrained("gpt2-ignored/x")\n')
    return tmp_path


def test_context_ids_from_scan_and_python_files(tmp_path: Path) -> None:
    ids = hub_ids.context_ids(str(submission(tmp_path)))
    # Scan's DL001 first (the Dockerfile's RUN), then the Python files; datasets, unknown
    # architectures, local folders and hidden folders are left out; remote-code ids stay (the
    # tiny-model plan says why they cannot be served).
    assert ids == ["mistralai/Mistral-7B-v0.1", "meta-llama/Llama-2-7b-hf", "Qwen/Qwen-7B"]


def test_context_ids_read_environment_defaults(tmp_path: Path) -> None:
    # The 2023 shape: the base model is a variable whose default is the hub id.
    (tmp_path / "train.py").write_text(
        'import os\nfrom transformers import AutoModelForCausalLM\n'
        'BASE_MODEL = os.environ.get("BASE_MODEL", "meta-llama/Llama-2-7b-hf")\n'
        'model = AutoModelForCausalLM.from_pretrained(BASE_MODEL)\n')
    assert hub_ids.context_ids(str(tmp_path)) == ["meta-llama/Llama-2-7b-hf"]


def test_context_ids_join_the_models_without_duplicates(tmp_path: Path) -> None:
    result = SmokeResult(image="x")
    options = SmokeOptions(train=True, context=str(submission(tmp_path)),
                           models=("meta-llama/Llama-2-7b-hf",))
    out = with_context_ids(options, result)
    assert out.models == ("meta-llama/Llama-2-7b-hf", "mistralai/Mistral-7B-v0.1",
                          "Qwen/Qwen-7B")
    assert result.context_ids == ["mistralai/Mistral-7B-v0.1", "Qwen/Qwen-7B"]
    real = SmokeOptions(train=True, context=str(tmp_path), real_weights=True)
    assert with_context_ids(real, SmokeResult(image="x")).models == ()


def test_cli_train_cmd_implies_train_and_not_server(monkeypatch) -> None:
    from carpenter.smoke import cli, runner

    seen = {}

    def fake(image: str, options: SmokeOptions) -> SmokeResult:
        seen["options"] = options
        return SmokeResult(image=image, status="passed")

    monkeypatch.setattr(runner, "smoke", fake)
    result = CliRunner().invoke(cli.smoke, ["--no-harness", "--profile", "neurips-2023",
                                            "--train-cmd", "python train.py --epochs 1",
                                            "--real-weights", "img"])
    assert result.exit_code == 0, result.output
    options = seen["options"]
    assert options.train and not options.server and options.real_weights
    assert options.train_cmd == "python train.py --epochs 1" and options.train_steps == 2
