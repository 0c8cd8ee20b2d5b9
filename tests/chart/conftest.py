from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from .render import Manifest, helm_template
from .scenarios import SCENARIOS


@pytest.fixture(scope="session")
def rendered() -> dict[str, Manifest]:
    """Every scenario rendered once, in parallel: tests assert many things on each render."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(helm_template, values) for name, values in SCENARIOS.items()}
        return {name: future.result() for name, future in futures.items()}
