"""`airflow db clean` of everything older than N days, the cut-off computed now (chart value `dbClean`):
    python db_clean.py --retention-days 90 [--tables=dag_run,xcom] [--skip-archive]
execs `airflow db clean --clean-before-timestamp <now - N days, UTC> --yes ...`: no shell in between.
"""

from __future__ import annotations

import argparse
import datetime
import os


def clean_command(retention_days: int, tables: str, skip_archive: bool,
                  now: datetime.datetime | None = None) -> list[str]:
    """The `airflow db clean` argv for rows older than `retention_days` before `now` (UTC).

    Example: `clean_command(90, "", True)` -> `["airflow", "db", "clean", "--clean-before-timestamp", ...]`.
    """
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    cutoff = (moment - datetime.timedelta(days=retention_days)).isoformat(timespec="seconds")
    command = ["airflow", "db", "clean", "--clean-before-timestamp", cutoff, "--yes"]
    if tables:
        command.append(f"--tables={tables}")
    if skip_archive:
        command.append("--skip-archive")
    return command


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="airflow db clean of rows older than N days.")
    parser.add_argument("--retention-days", type=int, required=True)
    parser.add_argument("--tables", default="")
    parser.add_argument("--skip-archive", action="store_true")
    args = parser.parse_args(argv)
    if args.retention_days < 1:
        parser.error("--retention-days must be at least 1")
    command = clean_command(args.retention_days, args.tables, args.skip_archive)
    print("running:", " ".join(command), flush=True)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
