"""Offline tests of the cluster tooling in ci/cluster (no cluster, no root needed)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "ci" / "cluster"))
