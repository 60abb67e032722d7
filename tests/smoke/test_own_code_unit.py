"""Own-code smoke without an engine: model families, failure classes, budget arithmetic."""

from __future__ import annotations

import pytest

from carpenter.core.errors import ConfigError
from carpenter.core.options import parse_secret
from carpenter.smoke import budget, failures, tinymodel
from carpenter.smoke.own_code import parse_adapter, secret_value


@pytest.mark.parametrize(("repo", "family"), [
    ("mistralai/Mistral-7B-v0.1", "mistral"), ("meta-llama/Llama-2-7b-hf", "llama"),
    ("Qwen/Qwen1.5-7B", "qwen2"), ("tiiuae/falcon-7b", "falcon"), ("microsoft/phi-2", "phi"),
    ("EleutherAI/pythia-1b", "gpt_neox"), ("gpt2", "gpt2"),
    ("openlm-research/open_llama_3b", "llama"),
])
def test_families_match_the_ids_submissions_load(repo: str, family: str) -> None:
    found = tinymodel.load_shapes().family_for(repo)
    assert found is not None and found.name == family


def test_remote_code_and_unknown_ids_become_notes_not_stand_ins() -> None:
    todo = tinymodel.plan(tinymodel.load_shapes(), ["Qwen/Qwen-7B", "google/t5-v1_1-xl",
                                                    "mistralai/Mistral-7B-v0.1"], {}, "5.24.0")
    assert [m["repo"] for m in todo.models] == ["mistralai/Mistral-7B-v0.1"]
    assert "trust_remote_code" in todo.notes[0] and "Qwen/Qwen-7B" in todo.notes[0]
    assert "no known architecture family" in todo.notes[1]


def test_cache_key_follows_the_transformers_version() -> None:
    shapes = tinymodel.load_shapes()
    a = tinymodel.plan(shapes, ["gpt2"], {"org/lora": "gpt2"}, "4.36.2")
    b = tinymodel.plan(shapes, ["gpt2"], {"org/lora": "gpt2"}, "5.24.0")
    assert a.keys["gpt2"] != b.keys["gpt2"] and a.keys["org/lora"] != b.keys["org/lora"]
    assert a.adapters[0]["targets"] == ["c_attn"] and a.adapters[0]["base_repo"] == "gpt2"
    assert tinymodel.plan(shapes, ["gpt2"], {}, "4.36.2").keys["gpt2"] == a.keys["gpt2"]


@pytest.mark.parametrize(("line", "klass"), [
    ("ModuleNotFoundError: No module named 'flash_attn'", "import-error"),
    ("KeyError: 'HUGGINGFACE_TOKEN'", "missing-env"),
    ("OSError: We couldn't connect to 'https://huggingface.co' to load the files", "network"),
    ("OSError: /weights does not appear to have a file named config.json", "model-load"),
    ("OSError: Repo id must be in the form 'repo_name' or 'namespace/repo_name': "
     "'/models/not-there'. Use `repo_type` argument if needed.", "model-load"),
    ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", "out-of-memory"),
    # pandas 2.0.3 (built against numpy 1) under numpy 2: the issue 11 transitive break
    ("ValueError: numpy.dtype size changed, may indicate binary incompatibility. Expected 96 "
     "from C header, got 88 from PyObject", "import-error"),
    ("A module that was compiled using NumPy 1.x cannot be run in", "import-error"),
])
def test_each_log_line_gets_its_class_and_is_the_evidence(line: str, klass: str) -> None:
    found = failures.classify_exit(f"INFO starting\n{line}\n", 1, False)
    assert (found.name, found.evidence) == (klass, line)


def test_network_wins_over_its_consequence_and_oom_kill_over_the_log() -> None:
    log = ("'[Errno 111] Connection refused' thrown while requesting HEAD https://huggingface.co/"
           "mistralai/Mistral-7B-v0.1/resolve/main/config.json\n"
           "OSError: mistralai/Mistral-7B-v0.1 is not a local folder and is not a valid model "
           "identifier\n")
    assert failures.classify_exit(log, 1, False).name == "network"
    assert failures.classify_exit(log, 137, True).name == "out-of-memory"
    assert failures.classify_exit(log, 137, True, 300 * 2**20).evidence == (
        "the container was OOM-killed at its 300 MiB limit (exit 137)")
    assert failures.classify_exit("Segmentation fault\n", 139, False).name == "crash"
    assert failures.classify_timeout("INFO loading\n", 30).name == "timeout"
    assert failures.repos_in_log(log) == ["mistralai/Mistral-7B-v0.1"]
    assert failures.repos_in_log("see https://huggingface.co/docs/transformers/x") == []


def test_budget_verdicts_extrapolate_each_stage() -> None:
    spec = budget.load_budget("neurips-2023")
    fast = budget.stage_verdicts(spec, 3.1)
    assert fast[0] == ("open", True, "600 requests at 3.1 s each: 31 min of the 300-minute budget")
    slow = dict((name, (ok, text)) for name, ok, text in budget.stage_verdicts(spec, 10.0))
    assert slow["open"][0] and not slow["closed"][0]
    assert slow["closed"][1].startswith("too slow: 5,000 requests need 13.9 h of a 10.0 h budget")
    bodies = budget.request_bodies(spec, {"prompt": "x", "top_p": 1.0}, 5)
    assert len(bodies) == 5 and bodies[0]["top_p"] == 1.0 and bodies[4] == bodies[0]
    assert len(bodies[2]["prompt"].split()) > len(bodies[0]["prompt"].split())


def test_memory_verdict_against_the_track() -> None:
    spec = budget.load_budget("neurips-2023")
    checks = {name: (status, detail) for name, status, detail in
              budget.memory_verdict(300 * 2**20, spec, "4090", gpu_peak_bytes=int(30e9))}
    assert checks["peak memory"][0] == "pass"
    assert checks["GPU memory (4090 track)"] == ("fail", "peak 30.0 GB of 24 GB (-6.0 GB headroom)")
    skipped = budget.memory_verdict(None, spec, "A100")
    assert [s for _, s, _ in skipped] == ["skip", "skip"] and "40 GB" in skipped[1][2]


def test_secret_and_adapter_options(tmp_path, monkeypatch) -> None:
    with pytest.raises(ConfigError, match="exactly one of src=FILE or env=VAR"):
        parse_secret("id=HUGGINGFACE_TOKEN")
    monkeypatch.delenv("NOPE_UNSET", raising=False)
    with pytest.raises(ConfigError, match="NOPE_UNSET is not set"):
        secret_value(parse_secret("id=T,env=NOPE_UNSET"))
    (tmp_path / "tok").write_text("s3cret-value\n")
    assert secret_value(parse_secret(f"id=T,src={tmp_path / 'tok'}")) == "s3cret-value"
    assert parse_adapter("org/lora", ("org/base",)) == ("org/lora", "org/base")
    with pytest.raises(ConfigError, match="name its base"):
        parse_adapter("org/lora", ())
    with pytest.raises(ConfigError, match="expected a hub id"):
        tinymodel.check_repo_id("/weights/final")


def test_memory_option_takes_rebuild_sizes_and_refuses_too_small() -> None:
    from carpenter.core.options import parse_size
    from carpenter.smoke.cli import container_memory

    assert container_memory(parse_size("300m")) == 300 * 2**20
    assert container_memory(parse_size("8g")) == 8 * 2**30
    with pytest.raises(ConfigError, match="at least 6m"):
        container_memory(parse_size("1k"))
    with pytest.raises(ConfigError, match="expected a size"):
        parse_size("lots")


class _FakeContainer:
    def __init__(self, stats: dict, peak: bytes | None) -> None:
        self._stats, self._peak = stats, peak

    def stats(self, stream: bool = False) -> dict:
        return self._stats

    def exec_run(self, argv: list[str]) -> tuple[int, bytes]:
        return (0, self._peak) if self._peak is not None else (1, b"No such file")


def test_peak_memory_reads_cgroup_v2_peak_not_current_usage() -> None:
    from carpenter.smoke.budget import peak_memory

    v1 = _FakeContainer({"memory_stats": {"max_usage": 700, "usage": 100}}, None)
    v2 = _FakeContainer({"memory_stats": {"usage": 100}}, b"900\n")
    old_kernel = _FakeContainer({"memory_stats": {"usage": 100}}, None)
    assert (peak_memory(v1), peak_memory(v2), peak_memory(old_kernel)) == (700, 900, 100)
