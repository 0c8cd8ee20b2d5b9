"""Fixtures for the hook tests: the integration ones start real services (see ``stack.py``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def _unavailable(reason: str) -> None:
    # In CI a missing service is a failure, never a silent skip.
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"integration services unavailable in CI: {reason}")
    pytest.skip(f"integration services unavailable: {reason}")


@pytest.fixture(scope="session")
def airflow_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    import stack

    home = tmp_path_factory.mktemp("airflow-home")
    gen = stack.start_session(home)
    try:
        session = next(gen)
    except stack.services.ServiceError as e:
        _unavailable(str(e))
    yield session
    gen.close()


@pytest.fixture
def scenario(airflow_session: object, tmp_path: Path) -> Iterator[object]:
    import stack

    sc = stack.new_scenario(airflow_session, tmp_path)  # type: ignore[arg-type]
    try:
        yield sc
    finally:
        sc.close()
