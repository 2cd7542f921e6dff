"""A module that builds its app when imported (`app = server.asgi_app()`), then is served as a file: two apps
are built in one process, and the metrics must come from the one that serves."""

from bosun import Server

server = Server("prebuilt")


@server.tool()
def add(a: int, b: int) -> int:
    return a + b


app = server.asgi_app()
