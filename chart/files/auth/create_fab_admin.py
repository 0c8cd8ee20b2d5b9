"""Create the first FAB admin user once; an existing user is left as it is.

The password comes from the environment (the auth Secret), never from the command line: arguments are
visible in the pod spec and to every process on the node. Settings: AIRFLOW_K8S_ADMIN_USERNAME,
AIRFLOW_K8S_ADMIN_FIRSTNAME, AIRFLOW_K8S_ADMIN_LASTNAME, AIRFLOW_K8S_ADMIN_EMAIL,
AIRFLOW_K8S_ADMIN_PASSWORD. Exit 0 when the user exists (created now or before), 1 on failure (the Job
retries).
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    username = os.environ["AIRFLOW_K8S_ADMIN_USERNAME"]
    password = os.environ["AIRFLOW_K8S_ADMIN_PASSWORD"]
    if not password:
        print("the auth Secret's admin-password is empty; set it and upgrade again", file=sys.stderr)
        return 1
    with get_application_builder() as appbuilder:
        security = appbuilder.sm
        if security.find_user(username=username):
            print(f"user {username!r} exists; left as it is")
            return 0
        role = security.find_role("Admin")
        if role is None:
            print("FAB has no Admin role yet (database not migrated?)", file=sys.stderr)
            return 1
        created = security.add_user(username, os.environ["AIRFLOW_K8S_ADMIN_FIRSTNAME"],
                                    os.environ["AIRFLOW_K8S_ADMIN_LASTNAME"], os.environ["AIRFLOW_K8S_ADMIN_EMAIL"],
                                    role, password)
    if not created:
        print(f"FAB refused to create user {username!r}", file=sys.stderr)
        return 1
    print(f"created admin user {username!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
