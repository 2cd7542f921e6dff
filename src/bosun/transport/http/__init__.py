"""Streamable HTTP, both eras: the ASGI app that routes a request to the 2026-07-28 endpoint or the 2025 session
endpoint, and what they share (reading headers and bodies, SSE replies, resumable streams, Origin/Host guards).
"""
