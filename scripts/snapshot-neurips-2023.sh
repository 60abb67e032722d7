#!/usr/bin/env bash
# Regenerate the bundled neurips-2023 snapshot (needs network access to PyPI; ~2 min).
# The resolution is reproducible: only files uploaded before the cut-off are considered.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/carpenter snapshot create --as-of 2023-10-25 \
  -r carpenter/data/snapshots/inputs/neurips-2023.in \
  --latest-only flash-attn --latest-only deepspeed \
  --python 3.10 --platform x86_64-unknown-linux-gnu \
  --curated carpenter/data/snapshots/curated/neurips-2023.toml \
  --out carpenter/data/snapshots/neurips-2023.toml
