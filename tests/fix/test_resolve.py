"""`fix --resolve`: a package the snapshot lacks is resolved at the snapshot's date (network)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from carpenter.fix.engine import FixOptions, fix_paths
from carpenter.snapshot.pypi import first_upload

from .helpers import after, make_snapshot, submission


def _pypi() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _pypi(), reason="needs network access to PyPI")
def test_resolve_pins_a_missing_package_as_of_the_snapshot_date(tmp_path):
    df = submission(tmp_path / "s", "FROM python:3.10-slim\nRUN pip install humanize peft\n")
    plain = fix_paths([str(df.parent)], FixOptions(make_snapshot()))
    assert any("humanize: not in snapshot" in r.reason for r in plain.skipped)
    report = fix_paths([str(df.parent)], FixOptions(make_snapshot(), resolve=True))
    # the stage's constraints lock goes in before the install line
    line = next(x for x in after(report, df).splitlines() if x.startswith("RUN pip"))
    version = line.split("humanize==")[1].split()[0]
    uploaded = first_upload("humanize", version, "https://pypi.org/simple")
    assert uploaded is not None and uploaded < datetime(2023, 10, 26, tzinfo=UTC)
    assert "peft==0.5.0" in line
