"""A shell task that outlives a Celery worker rollout (tests/e2e/test_celery_warm_shutdown.py).

BashOperator kills its shell in `on_kill`: if the worker's SIGTERM reached the task (dumb-init signalling the
whole process group), this task would fail; a warm shutdown lets it finish as try 1.
"""

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG(dag_id="celery_warm_shutdown", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         catchup=False, default_args={"retries": 0}):
    BashOperator(task_id="sleep_60", bash_command="echo started; sleep 60; echo finished")
