"""Data: the database engine and per-call sessions, and the cache. Used by the application and ops."""
