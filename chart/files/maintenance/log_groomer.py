"""Log-groomer sidecar: delete log files older than N days under the logs folder, every interval.

Runs beside the scheduler, dag-processor, triggerer and Celery workers (chart value `logs.retention`):
    python log_groomer.py --root /opt/airflow/logs --days 15 --interval 900
Files are judged by modification time; folders left empty are removed too (never the root). Several
groomers on one shared claim are safe: a file another one deleted first is skipped. Stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
import time
from pathlib import Path

log = logging.getLogger("log-groomer")


def sweep(root: Path, max_age_seconds: float, now: float | None = None) -> tuple[int, int]:
    """Delete files under `root` older than `max_age_seconds`, then the folders that held only such files or
    that are empty and as old; (files, folders) deleted. A fresh empty folder (a task about to write its
    log) is kept.

    Example: `sweep(Path("/opt/airflow/logs"), 15 * 86400)`.
    """
    cutoff = (time.time() if now is None else now) - max_age_seconds
    files = folders = 0
    removed: set[str] = set()
    for folder, dirnames, filenames in os.walk(root, topdown=False):
        left = [d for d in dirnames if os.path.join(folder, d) not in removed]
        for name in filenames:
            path = Path(folder, name)
            try:
                if path.lstat().st_mtime < cutoff:
                    path.unlink()
                    files += 1
                    continue
            except FileNotFoundError:  # another groomer on the same claim was first
                continue
            left.append(name)
        if Path(folder) == root or left:
            continue
        emptied = bool(dirnames or filenames)
        try:
            if emptied or os.stat(folder).st_mtime < cutoff:
                os.rmdir(folder)
                removed.add(folder)
                folders += 1
        except OSError:  # gone already, or a file appeared meanwhile
            continue
    return files, folders


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Delete old log files, every interval.")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--days", type=float, required=True)
    parser.add_argument("--interval", type=float, default=900)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log.info("deleting files older than %s days under %s every %ss", args.days, args.root, args.interval)
    while not stop.is_set():
        if args.root.is_dir():
            files, folders = sweep(args.root, args.days * 86400)
            if files or folders:
                log.info("deleted %d files and %d empty folders", files, folders)
        stop.wait(args.interval)


if __name__ == "__main__":
    main()
