"""The simple requirement grammar of model/pip.py must agree with packaging on every input it
accepts; what it does not accept goes to packaging (issue 14: cold-scan speed)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name as packaging_canonical

from carpenter.model import pip

ACCEPTED = [
    "torch", "torch==2.1.0", "Torch_Vision == 0.16.0", "flash-attn==2.5.6", "a>=1.0,<2",
    "a <2 , >=1.0", "a[b,c]==1", "A[ C , b ]>=1", "peft~=0.7", "x==1.*", "x!=1.0.*",
    "x==1.0a1", "x>=1.0rc2.post1.dev3", "x==1,==1", "x>1", "x<1.0b2", "x.y-z_w",
    "x == 1.0.post1", "x==01.02", "x[]", "x[]==1", "bitsandbytes>=0.41.1,<0.42",
    "transformers[torch]==4.36.2",
]
# Valid or not, these need packaging's full grammar (or its error message).
DEFERRED = [
    "peft~=1", "x==1.0+cu118", "x===1.0", "x>=1.0.*", "x ==1.0 ; python_version<'3'",
    "x @ https://a/b.whl", "x==", "x-", "-x", "x==1.0-1", "x>=1.0dev1", "x==v1.0",
    "x~=1.0.*",
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_simple_grammar_matches_packaging(text: str) -> None:
    got = pip._simple_requirement(text)
    assert got is not None
    req = Requirement(text)
    assert (got.name, got.raw_name, got.extras, got.specifier) == (
        packaging_canonical(req.name), req.name, tuple(sorted(req.extras)), str(req.specifier))


@pytest.mark.parametrize("text", DEFERRED)
def test_other_shapes_go_to_packaging(text: str) -> None:
    assert pip._simple_requirement(text) is None


@pytest.mark.parametrize("spec", ["==1.2.3", "==1.0rc1", "==1.*", ">=1", "==1.0+cu118",
                                  "===abc", "==01.2", "==1.0.post1.dev2", "==1,<2"])
def test_pinned_version_matches_packaging(spec: str) -> None:
    specs = list(SpecifierSet(spec))
    expected = (specs[0].version if len(specs) == 1 and specs[0].operator in ("==", "===")
                and "*" not in specs[0].version else None)
    assert pip._pinned_version(spec) == expected


@pytest.mark.parametrize("name", ["Flash_Attn", "a.b-c__d", "X", "torch"])
def test_canonical_name_is_pep503(name: str) -> None:
    assert pip.canonicalize_name(name) == packaging_canonical(name)


def test_simple_installs_do_not_import_packaging_requirements(tmp_path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:3.10\n"
                          "RUN pip install torch==2.1.0 'transformers[torch]>=4.36,<5' einops\n")
    code = (
        "import sys\n"
        "from carpenter.model.dockerfile import load_dockerfile\n"
        "from carpenter.model.pip import pip_installs\n"
        f"df = load_dockerfile({str(dockerfile)!r})\n"
        "reqs = [r.name for i in df.instructions\n"
        "        for p in pip_installs(i) for r in p.requirements]\n"
        "assert reqs == ['torch', 'transformers', 'einops'], reqs\n"
        "assert 'packaging.requirements' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
