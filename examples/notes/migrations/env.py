"""Alembic environment for the notes server: Bosun runs it under a lock, over the async engine."""

from bosun.data.migrate import run_env

run_env()
