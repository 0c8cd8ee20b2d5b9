"""Adversarial values (see hostile.py): table-driven over every string, key and number of values.yaml, and
property-based over arbitrary text. Each case is refused naming its key, or renders valid objects with
nothing injected and an airflow.cfg Airflow's own parser reads. Never a template crash.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .hostile import (
    Case,
    Outcome,
    airflow_cfg,
    all_cases,
    cfg_problems,
    manifest_problems,
    parse_airflow_cfgs,
    refusal_problems,
    render,
    render_many,
    value_paths,
)
from .render import RELEASE, RenderError, helm_template

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "40"))
# HOSTILE_PAYLOADS=all tries every payload on every value (`make fuzz`); the default, one of each kind.
EVERY_PAYLOAD = os.environ.get("HOSTILE_PAYLOADS") == "all"


def check(outcomes: list[Outcome], workdir: Path) -> tuple[Counter[str], list[str]]:
    """Counts of refused/rendered cases and every problem found, airflow.cfg parsed by Airflow in one batch."""
    counts: Counter[str] = Counter(tried=len(outcomes))
    problems: list[str] = []
    rendered = [o for o in outcomes if o.manifest is not None]
    for outcome in outcomes:
        found = refusal_problems(outcome) if outcome.refused is not None else manifest_problems(outcome)
        problems += [f"{outcome.case.dotted} ({outcome.case.where} {outcome.case.payload!r}): {p}" for p in found]
        if not found:
            counts["refused naming the key" if outcome.refused is not None else "rendered valid"] += 1
    for outcome, parsed in zip(rendered, parse_airflow_cfgs([airflow_cfg(o) for o in rendered], workdir),
                               strict=True):
        problems += [f"{outcome.case.dotted} ({outcome.case.payload!r}): {p}" for p in cfg_problems(parsed)]
    return counts, problems


def test_every_value_key_and_number_is_refused_naming_it_or_rendered_clean(tmp_path: Path) -> None:
    cases = all_cases(every_payload=EVERY_PAYLOAD)
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = render_many(cases, pool)
    counts, problems = check(outcomes, tmp_path)
    print(f"\n[measure] hostile values: {counts['tried']} tried, {counts['refused naming the key']} refused naming "
          f"the key, {counts['rendered valid']} rendered valid, {len(problems)} problems")
    assert not problems, "\n".join(problems[:40])
    # The table reaches both outcomes: strings that are data render, strings that would inject are refused.
    assert counts["refused naming the key"] > 0 and counts["rendered valid"] > 0


STRING_PATHS, _ = value_paths()
TEXT = st.text(st.characters(codec="utf-8"), max_size=40)  # utf-8: no lone surrogates


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(STRING_PATHS), text=TEXT)
def test_any_text_in_any_string_value(path: tuple[str, ...], text: str) -> None:
    outcome = render(Case(path, "value", text))
    problems = refusal_problems(outcome) if outcome.manifest is None else manifest_problems(outcome)
    assert not problems, problems


@pytest.mark.parametrize(("values", "named"), [
    # a release name whose longest derived name passes 63 characters
    ({}, "fullnameOverride"),
])
def test_a_long_release_name_is_refused_naming_the_override(values: dict[str, Any], named: str) -> None:
    with pytest.raises(RenderError, match=named):
        helm_template(values, release="r" * 45)


def test_dotted_mount_names_become_distinct_valid_volume_names() -> None:
    manifest = helm_template({"workers": {"configMapMounts": {"a.b": "/etc/ab", "a-b": "/etc/a-b"},
                                          "secretMounts": {"a.b": "/etc/sab"}}})
    pod = manifest.task_pod_templates()["default.yaml"]
    names = [v["name"] for v in pod["spec"]["volumes"]]
    mounted = [m["name"] for m in pod["spec"]["containers"][0]["volumeMounts"]]
    assert len(names) == len(set(names)), names
    assert {n for n in names if n.startswith(("cm-", "secret-"))} <= set(mounted)
    assert all("." not in n for n in names), names


def test_a_database_password_is_url_encoded_in_the_url() -> None:
    from sqlalchemy.engine import make_url

    password = "p@ss/w:rd#1 %+"
    manifest = helm_template({"postgresql": {"password": password}})
    secret = manifest.get("Secret", f"{RELEASE}-airflow-k8s-database")["stringData"]
    url = make_url(secret["connection"])
    assert (url.password, url.host, url.port, url.database) == (password, f"{RELEASE}-airflow-k8s-postgresql", 5432,
                                                                "airflow")
