"""Exit codes and the exceptions that carry them: every error says whether a retry can help."""

from __future__ import annotations

import re

OK = 0
USAGE = 2
REFUSED = 3
DRAIN_TIMEOUT = 4
INTERNAL = 70  # EX_SOFTWARE: an unexpected exception, a bug; the Job retries it as it would any crash
TEMPFAIL = 75  # EX_TEMPFAIL from sysexits.h: the Job's backoffLimit retries it


class HookError(Exception):
    """Base class: ``exit_code`` is what the process exits with."""

    exit_code = REFUSED


class Refused(HookError):
    """Permanent: re-running cannot help; the message says what to change."""

    exit_code = REFUSED


class DrainTimedOut(HookError):
    """The drain deadline passed with ``--on-timeout fail``; the release was put back as it was."""

    exit_code = DRAIN_TIMEOUT


class Retryable(HookError):
    """A dependency (DB, broker, Kubernetes API) is unreachable or answered badly; try again later."""

    exit_code = TEMPFAIL


class UsageError(HookError):
    """The command line is wrong."""

    exit_code = USAGE


_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]+@")


def masked(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@host`` URL in it replaced by ``***``.

    Example:
        >>> masked("cannot parse postgresql://airflow:s3cret@db:5x/airflow")
        'cannot parse postgresql://airflow:***@db:5x/airflow'
    """
    return _URL_PASSWORD.sub(r"\1***@", text)
