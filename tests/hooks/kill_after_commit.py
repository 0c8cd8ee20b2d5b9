"""Run ``drain`` and SIGKILL it right after the N-th hand-over commit, before that batch is acked.

The worst moment for a crash: TIs handed back, their messages still unacked on the broker. Used by the
integration tests as ``python kill_after_commit.py N drain ARGS...``.
"""

from __future__ import annotations

import os
import signal
import sys

from airflow_k8s_hooks import handover
from airflow_k8s_hooks.cli import main

after = int(sys.argv[1])
real_commit = handover.commit_batch
commits = 0


def commit_then_die(*args, **kwargs):  # type: ignore[no-untyped-def]
    global commits
    changed = real_commit(*args, **kwargs)
    commits += 1
    if commits >= after:
        print(f"KILLED after commit {commits} ({changed.changed} handed back, not acked)", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    return changed


handover.commit_batch = commit_then_die
sys.exit(main(sys.argv[2:]))
