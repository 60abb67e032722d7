"""Fix stage: turn scan findings into span edits pinned against a snapshot.

Entry point: `fix_paths(paths, FixOptions(snapshot, ...)) -> FixReport` (in memory); writing is
`carpenter.fix.output.write_in_place` / `write_copy`.
"""
