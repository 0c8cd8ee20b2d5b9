"""Thin clients for the metadata DB, the Celery broker and the Kubernetes API: I/O only, no decisions."""
