"""scan.cuda answers whether a CUDA extension release has prebuilt wheels without importing
packaging for final releases and plain comparisons; the answer must be packaging's."""

from __future__ import annotations

import itertools

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from carpenter.model.pip import _pinned_version as pinned_version
from carpenter.scan.cuda import WheelSet, _simple_contains, cuda_data

VERSIONS = ["0", "0.0.1", "0.0.20", "1", "1.1", "1.1.0", "1.4.99", "2.3", "2.3.0", "2.3.0.0",
            "2.4", "2.5.6", "2.5.7", "2.6.3", "2.7", "2.9", "10.0", "2.5.7rc1", "2.5.7.post1",
            "2.5.7+cu121", "2.5.*", "not-a-version", "v2.5.6", "2.5.6.dev0"]
EXTRA_SPECS = [">=2.3.0,<2.4", "==2.5", "==2.5.0", ">2.5", "<=2.5.6", " >= 1.0 , < 2 ",
               "~=2.5", "!=2.5.6", "==2.5.*", ">=2.5a1", ""]


def _packaging(spec: str, version: str) -> bool | None:
    try:
        return Version(version) in SpecifierSet(spec)
    except InvalidVersion:
        return None


def test_the_shipped_ranges_answer_as_packaging() -> None:
    specs = {w.versions for package in cuda_data().packages for w in package.wheels}
    assert len(specs) >= 8
    for spec, version in itertools.product(sorted(specs) + EXTRA_SPECS, VERSIONS):
        wheel = WheelSet(spec, (), (), ())
        assert wheel.contains(version) == _packaging(spec, version), (spec, version)


@pytest.mark.parametrize(("spec", "version"), [("~=2.5", "2.5.6"), ("!=2.5.6", "2.5.6"),
                                               (">=2.5", "2.6rc1"), (">=2.5", "x")])
def test_what_the_fast_path_cannot_read_goes_to_packaging(spec: str, version: str) -> None:
    assert _simple_contains(spec, version) is None


def test_a_range_is_no_pin_and_an_exact_one_is() -> None:
    assert pinned_version(">=4.36,<5") is None and pinned_version("!=1.0") is None
    assert pinned_version("==1.2.3") == "1.2.3" and pinned_version("===1.0") == "1.0"
    assert pinned_version(">=1,==1.2") is None  # two clauses: packaging decides, as before
