"""Bosun serving the benchmark's one-line tool; both protocol eras from the same app."""

from bosun import Server

server = Server("bench")


@server.tool()
async def echo(text: str) -> str:
    return text


app = server.asgi_app()
