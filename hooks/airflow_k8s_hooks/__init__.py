"""Helm hooks that switch an Airflow deployment's executor without losing or repeating a task."""

__version__ = "0.1.0"
