"""Events of resumable 2025 POST streams: the store interface, and its in-memory and Redis implementations."""
