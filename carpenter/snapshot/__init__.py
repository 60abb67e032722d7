"""Snapshots: what was known to work at a date (carpenter/data/snapshots/*.toml).

Entry points: `carpenter.snapshot.model.load_snapshot(name_or_path) -> Snapshot` and
`carpenter.snapshot.create.create_snapshot(CreateRequest) -> Snapshot` (network).
"""
