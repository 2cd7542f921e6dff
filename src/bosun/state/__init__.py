"""The state replicas share: 2025 sessions, resumable streams' events and the change bus.

Each seam is a small interface (`store.py`) with an in-memory implementation (`memory.py`, one process) and a
Redis one (`redis_store.py`, any number of replicas); `replicas.py` builds the Redis side when `REDIS_URL` is set.
It must not import the transport: the transport uses it, through those interfaces.
"""
