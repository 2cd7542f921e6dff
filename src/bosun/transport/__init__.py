"""Streamable HTTP: the ASGI face of a server, for both protocol eras."""
