"""JSON-RPC framing, protocol versions, request metadata and the dispatch table.

Nothing here knows about HTTP or about the user's functions: the transport layer
feeds parsed messages in, the application layer registers handlers.
"""
