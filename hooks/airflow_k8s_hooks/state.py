"""The state ConfigMap: which executors the running release serves, and what a drain has done so far.

Created and patched by the hooks through the API (never by Helm, so an upgrade never overwrites it); the
chart reads it with ``lookup`` at render time. Keys:

``executors``         comma list the running release serves, first = default.
``retiring``          old executors kept only to finish in-flight work (may be empty): what the drain
                      measured, not what the chart guessed at render time.
``requested``         the executors the values asked for (``executors`` minus the ones kept to retire): an
                      executor of ``executors`` not ``requested`` and not ``retiring`` has nothing left.
``schedulerReplicas`` scheduler replicas before ``drain`` scaled them to 0.
``drainTarget``       the executor list a drain in progress or done is for.
``drainPhase``        ``stopping`` | ``stopped`` | ``drained`` | ``done`` | ``kept-old`` | ``restored``.
``drainQueues``       queues the drain found (cancelled consumers no longer report theirs).
``drainConsumers``    ``worker=queue`` pairs it cancelled, to add back if the drain gives up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from airflow_k8s_hooks.clients.kube import Kube
from airflow_k8s_hooks.errors import Refused, UsageError
from airflow_k8s_hooks.executors import parse_list

PHASES = ("stopping", "stopped", "drained", "done", "kept-old", "restored")
_EXECUTOR_KEYS = ("executors", "retiring", "requested", "drainTarget")


@dataclass(frozen=True)
class State:
    """Parsed state ConfigMap; ``None``/empty fields mean 'not recorded'.

    Example:
        >>> State.parse({"executors": "CeleryExecutor", "schedulerReplicas": "2"}).scheduler_replicas
        2
    """

    executors: str = ""
    retiring: str = ""
    requested: str = ""
    scheduler_replicas: int | None = None
    drain_target: str = ""
    drain_phase: str = ""
    drain_queues: tuple[str, ...] = ()
    drain_consumers: tuple[tuple[str, str], ...] = ()
    exists: bool = field(default=False, compare=False)

    @classmethod
    def parse(cls, data: Mapping[str, str] | None) -> State:
        if data is None:
            return cls()
        replicas = data.get("schedulerReplicas", "").strip()
        pairs = tuple(
            (w, q) for w, _, q in (p.partition("=") for p in _split(data.get("drainConsumers", ""))) if w and q
        )
        return cls(
            executors=data.get("executors", "").strip(),
            retiring=data.get("retiring", "").strip(),
            requested=data.get("requested", "").strip(),
            scheduler_replicas=int(replicas) if replicas.isdigit() else None,
            drain_target=data.get("drainTarget", "").strip(),
            drain_phase=data.get("drainPhase", "").strip(),
            drain_queues=tuple(_split(data.get("drainQueues", ""))),
            drain_consumers=pairs,
            exists=True,
        )

    def data(self) -> dict[str, str]:
        """The ConfigMap ``data`` this state writes (every key, so a patch also clears old values)."""
        return {
            "executors": self.executors,
            "retiring": self.retiring,
            "requested": self.requested,
            "schedulerReplicas": "" if self.scheduler_replicas is None else str(self.scheduler_replicas),
            "drainTarget": self.drain_target,
            "drainPhase": self.drain_phase,
            "drainQueues": ",".join(self.drain_queues),
            "drainConsumers": ",".join(f"{w}={q}" for w, q in self.drain_consumers),
        }

    def but(self, **changes: object) -> State:
        """A copy with ``changes``."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@dataclass(frozen=True)
class StateStore:
    """Reads and writes :class:`State` in one ConfigMap."""

    kube: Kube
    namespace: str
    name: str

    def load(self) -> State:
        """The recorded state; a value the hooks cannot have written (a hand edit) is refused, naming it."""
        data = self.kube.read_config_map(self.namespace, self.name)
        if data is not None:
            self._check(data)
        return State.parse(data)

    def _check(self, data: Mapping[str, str]) -> None:
        where = f"state ConfigMap {self.namespace}/{self.name}"
        fix = (f"fix the key or delete the ConfigMap (kubectl -n {self.namespace} delete configmap {self.name}; "
               "the next upgrade records it again)")
        for key in _EXECUTOR_KEYS:
            value = (data.get(key) or "").strip()
            if value:
                try:
                    parse_list(value)
                except UsageError as e:
                    raise Refused(f"{where}: {key}={value!r}: {e}; {fix}") from None
        phase = (data.get("drainPhase") or "").strip()
        if phase and phase not in PHASES:
            raise Refused(f"{where}: drainPhase={phase!r} is not one of {', '.join(PHASES)}; {fix}")
        replicas = (data.get("schedulerReplicas") or "").strip()
        if replicas and not replicas.isdigit():
            raise Refused(f"{where}: schedulerReplicas={replicas!r} is not a whole number >= 0; {fix}")

    def save(self, state: State) -> State:
        self.kube.write_config_map(self.namespace, self.name, state.data())
        return state.but(exists=True)
