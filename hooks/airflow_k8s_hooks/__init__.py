"""Helm hooks that switch an Airflow deployment's executor without losing or repeating a task.

Run as ``python -m airflow_k8s_hooks <command>``; ``--help`` on each command lists its flags, and every
flag can also come from ``AIRFLOW_K8S_HOOKS_<FLAG>`` (``--on-timeout`` -> ``AIRFLOW_K8S_HOOKS_ON_TIMEOUT``).

Commands: ``plan`` (read-only report), ``preflight`` (refuse early), ``drain`` (stop schedulers, let the old
executor finish or hand its queued work back to the scheduler), ``migrate-settings`` (post-upgrade: restore
schedulers, report config, re-point leftovers, record state), ``migrate-values`` (rewrite a values file).

Exit codes (every error is one line on stderr, ``[<command>] <kind>: <message>``, never a traceback):
    0   done (or nothing to do).
    2   bad usage (unknown flag or executor, empty list, negative or non-numeric number, a name Kubernetes
        would refuse, a missing values file); names the flag or file.
    3   permanent refusal: the message says what to change (pinned work, foreign broker messages, the DB
        or broker rejecting the credentials or a malformed URL: fix the Secret, a retry reads the same one;
        a hand-edited state ConfigMap; a request the Kubernetes API rejects as malformed; a values file
        migrate-values cannot rewrite safely).
    4   drain timed out with ``--on-timeout fail``: schedulers and consumers restored, nothing lost.
    70  internal error (EX_SOFTWARE): an unexpected exception, a bug; ``AIRFLOW_K8S_HOOKS_TRACEBACK=1``
        prints its traceback. The Job retries it as any crash.
    75  retryable (EX_TEMPFAIL): the DB, broker or Kubernetes API is unreachable; the Job's backoff retries
        and the step resumes where it stopped.
"""

__version__ = "0.1.0"
