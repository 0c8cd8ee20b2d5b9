"""Helm hooks that switch an Airflow deployment's executor without losing or repeating a task.

Run as ``python -m airflow_k8s_hooks <command>``; ``--help`` on each command lists its flags, and every
flag can also come from ``AIRFLOW_K8S_HOOKS_<FLAG>`` (``--on-timeout`` -> ``AIRFLOW_K8S_HOOKS_ON_TIMEOUT``).

Commands: ``plan`` (read-only report), ``preflight`` (refuse early), ``drain`` (stop schedulers, let the old
executor finish or hand its queued work back to the scheduler), ``migrate-settings`` (post-upgrade: restore
schedulers, report config, re-point leftovers, record state), ``migrate-values`` (rewrite a values file).

Exit codes:
    0   done (or nothing to do).
    2   bad usage (unknown flag or executor, empty list, negative or non-numeric number); names the flag.
    3   permanent refusal: the message says what to change (pinned work, foreign broker messages, the DB
        or broker rejecting the credentials: fix the Secret, a retry reads the same one).
    4   drain timed out with ``--on-timeout fail``: schedulers and consumers restored, nothing lost.
    75  retryable (EX_TEMPFAIL): the DB, broker or Kubernetes API is unreachable; the Job's backoff retries
        and the step resumes where it stopped.
"""

__version__ = "0.1.0"
