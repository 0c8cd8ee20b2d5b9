"""Fixtures for the hook tests: the integration ones start real services (see ``stack.py``)."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
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
def airflow_session() -> Iterator[object]:
    import stack

    # Not pytest's tmp_path: other pytest runs on the machine rotate (delete) old basetemp dirs while our
    # servers still write there.
    home = Path(tempfile.mkdtemp(prefix="hooks-airflow-"))
    gen = stack.start_session(home)
    try:
        session = next(gen)
    except stack.services.ServiceError as e:
        _unavailable(str(e))
    yield session
    gen.close()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def scenario_dir(airflow_session: object, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A per-scenario dir under the session home (logs stay there until the session ends)."""
    path = Path(airflow_session.home) / re.sub(r"\W+", "_", request.node.name)[:80]  # type: ignore[attr-defined]
    path.mkdir()
    yield path


@pytest.fixture
def scenario(airflow_session: object, scenario_dir: Path, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh scenario; a test module's TASK_SECONDS sets how long each task sleeps (the DAG's default: 6 s)."""
    import stack

    seconds = getattr(request.module, "TASK_SECONDS", None)
    env = {"HOOKS_TEST_SLEEP": str(seconds)} if seconds else {}
    sc = stack.new_scenario(airflow_session, scenario_dir, **env)  # type: ignore[arg-type]
    try:
        yield sc
    finally:
        sc.close()
