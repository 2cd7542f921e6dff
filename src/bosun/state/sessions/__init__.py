"""2025-era sessions: the record, the store interface, and its in-memory and Redis implementations."""
