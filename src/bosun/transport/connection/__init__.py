"""The HTTP/1.1 connection under uvicorn: limits no client can get past, and how a connection closes.

Below the ASGI app: it sees bytes and connections, never JSON-RPC.
"""
