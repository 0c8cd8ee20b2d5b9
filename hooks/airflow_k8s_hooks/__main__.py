"""``python -m airflow_k8s_hooks``: see the package docstring for commands and exit codes."""

import sys

from airflow_k8s_hooks.cli import main

sys.exit(main())
