"""Issue 14: downloads hidden in the Python scripts a RUN executes (ast, never run)."""

from __future__ import annotations

from carpenter.scan.pyscripts import code_downloads, command_options, script_downloads


def _targets(found) -> list[tuple[str, str | None, str, int]]:
    return [(d.fn, d.target, d.rel, d.line) for d in found]


def test_argparse_default_resolved_and_overridden_by_the_command_line() -> None:
    text = ('import argparse\nfrom transformers import AutoModel\nM = "org/default"\n'
            'p = argparse.ArgumentParser()\np.add_argument("--model-name", default=M)\n'
            'args = p.parse_args()\nAutoModel.from_pretrained(args.model_name)\n')
    assert _targets(script_downloads("dl.py", text, lambda rel: None)) == [
        ("from_pretrained", "org/default", "dl.py", 7)]
    found = script_downloads("dl.py", text, lambda rel: None, ["--model-name", "org/other"])
    assert [d.target for d in found] == ["org/other"]


def test_local_imports_followed_two_levels_only() -> None:
    files = {
        "a/run.py": "from helpers import go\ngo()\n",
        "a/helpers.py": "import deeper\ndef go():\n    deeper.f()\n"
                        "    snapshot_download('org/one')\n",
        "a/deeper.py": "import deepest\ndef f():\n    deepest.g()\n    load_dataset('org/two')\n",
        "a/deepest.py": "def g():\n    load_dataset('org/three')\n",
    }
    found = script_downloads("a/run.py", files["a/run.py"], files.get)
    assert _targets(found) == [("snapshot_download", "org/one", "a/helpers.py", 4),
                               ("load_dataset", "org/two", "a/deeper.py", 4)]


def test_unused_import_is_not_followed() -> None:
    files = {"run.py": "import helpers\nprint(1)\n", "helpers.py": "snapshot_download('o/n')\n"}
    assert script_downloads("run.py", files["run.py"], files.get) == []


def test_look_alikes_are_quiet() -> None:
    text = ("AutoTokenizer.from_pretrained(model_dir)\nAutoModel.from_pretrained('./ckpt')\n"
            "load_dataset('json', data_files='t.jsonl')\n"
            "subprocess.run(['python', '-m', 'compileall', '.'])\n"
            "os.system('git status')\nrequests.get(api_url)\n"
            "snapshot_download('org/m', revision='" + "a" * 40 + "')\n")
    found = script_downloads("x.py", text, lambda rel: None)
    assert [d for d in found if not d.pinned] == []


def test_unresolved_hub_download_still_reported() -> None:
    found = code_downloads("hf_hub_download(repo_id=name, filename='x')", "python -c")
    assert found is not None and [(d.fn, d.target) for d in found] == [("hf_hub_download", None)]


def test_broken_python_never_crashes() -> None:
    assert code_downloads("def (:\n", "python -c") is None
    assert script_downloads("x.py", "from . import (\n", lambda rel: None) == []
    assert script_downloads("x.py", "import x\nx.y()\n", lambda rel: "def (:") == []


def test_command_options() -> None:
    assert command_options(["--repo_id", "o/m", "--flag", "--rev=abc", "pos"]) == {
        "repo_id": "o/m", "rev": "abc"}


# --- found by bench/download_recall_bench.py (session 4) --------------------------------------

def test_a_submodule_imported_from_its_package_is_followed() -> None:
    files = {
        "main.py": "from helpers import loader\n\nloader.fetch_all()\n",
        "helpers/__init__.py": "",
        "helpers/loader.py": "def fetch_all():\n    snapshot_download('org/model')\n",
    }
    assert _targets(script_downloads("main.py", files["main.py"], files.get)) == [
        ("snapshot_download", "org/model", "helpers/loader.py", 2)]


def test_an_unused_helper_of_an_imported_module_is_no_download() -> None:
    tools = ("def describe():\n    return 'ok'\n\n"
             "def fetch(repo):\n    return snapshot_download(repo or 'org/m')\n\n"
             "if __name__ == '__main__':\n    fetch(None)\n")
    files = {"check.py": "from tools import describe\nprint(describe())\n", "tools.py": tools}
    assert script_downloads("check.py", files["check.py"], files.get) == []
    files["check.py"] = "import tools\nprint(tools.describe())\n"
    assert script_downloads("check.py", files["check.py"], files.get) == []


def test_helpers_reached_through_what_the_script_uses_are_downloads() -> None:
    tools = ("def fetch():\n    return snapshot_download('org/m')\n\n"
             "def prepare():\n    return fetch()\n\n"
             "class Loader:\n    def load(self):\n        load_dataset('org/d')\n")
    cases = {"import tools\ntools.prepare()\n": ["org/m"],
             "from tools import Loader\nLoader().load()\n": ["org/d"],
             "import fire\nfrom tools import fetch\nfire.Fire(fetch)\n": ["org/m"],
             "import tools\nrun_all(tools)\n": ["org/d", "org/m"]}
    for script, targets in cases.items():
        found = script_downloads("run.py", script, {"tools.py": tools}.get)
        assert sorted(d.target for d in found) == targets, script


def test_module_level_code_of_an_imported_module_runs_on_import() -> None:
    files = {"run.py": "import setup_cache\nprint(setup_cache.PATH)\n",
             "setup_cache.py": "PATH = '/c'\nnltk.download('punkt')\n"}
    assert [d.fn for d in script_downloads("run.py", files["run.py"], files.get)] == [
        "nltk.download"]
