"""The part of `Server` that declares MCP Apps views and links tools to them (the extension: bosun/apps).

    server = Server("notes")
    dashboard = server.view("ui://notes/dashboard", html=Path(__file__).parent / "dashboard.html",
                            csp=Csp(connect_domains=["https://api.example.com"]), prefers_border=True)

    @server.tool(ui=dashboard)                                  # the host shows the result in the view
    async def show_notes(ctx: Context) -> Board: ...

    @server.tool(ui=dashboard, visibility=["app"], scopes=["notes:write"])  # for the view's buttons only
    async def dashboard_add_note(title: str, ctx: Context) -> Board: ...

It extends `Mounts` because a mounted server's views are passed on: mounting one declares the
extension too (bosun/apps/extension.py says why, before any backend has answered). The apps package
is imported on first use: a server with no view, link or bridge loads none of it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bosun.app.extensions import Extension
from bosun.mounts import Mounts

if TYPE_CHECKING:
    from bosun.apps.policy import Csp
    from bosun.apps.view import View
    from bosun.bridge.bridge import Bridge


class Views(Mounts):
    """Needs the registry and the server's extension list (besides what `Mounts` needs)."""

    extensions: list[Extension]

    def view(self, uri: str, html: str | os.PathLike[str], *, name: str | None = None, title: str | None = None,
             description: str | None = None, csp: Csp | Mapping[str, Sequence[str]] | None = None,
             permissions: Iterable[str] | Mapping[str, Any] = (), prefers_border: bool | None = None,
             domain: str | None = None, scopes: Iterable[str] = ()) -> View:
        """Declare an MCP Apps view at `uri` (`ui://...`): `html` is the document, or a `pathlib.Path` to read it
        from (now, once). `csp` lists the origins it may reach (none by default: the host's strict policy),
        `permissions` the browser features it asks for (camera, microphone, geolocation, clipboard-write),
        `prefers_border` whether the host should draw its frame, `domain` a host-specific dedicated origin,
        `scopes` the OAuth scopes reading it needs. Every value is checked here (docs/apps.md)."""
        from bosun.apps.view import declare

        declared, resource = declare(uri, html, name=name, title=title, description=description, csp=csp,
                                     permissions=permissions, prefers_border=prefers_border, domain=domain, scopes=scopes)
        if uri in self.registry.resources:
            raise ValueError(f"a resource at {uri!r} is already registered")
        self.registry.resources[uri] = resource
        self._apps()
        return declared

    def _view_links(self, options: dict[str, Any]) -> dict[str, Any]:
        """A tool's options with `ui=` (a view or its URI) and `visibility=` (["app"]: for the view only) turned
        into its `_meta.ui` (bosun/apps/links.py)."""
        if "ui" not in options and "visibility" not in options:
            meta = options.get("meta")
            if type(meta) is dict and "ui" in meta:
                self._apps()  # written by hand: still a link, checked and declared the same way
            return options
        from bosun.apps.links import tool_meta

        options = dict(options)
        options["meta"] = tool_meta(options.pop("ui", None), options.pop("visibility", None), options.get("meta"))
        self._apps()
        return options

    def bridge(self, command: str | list[str] | tuple[str, ...] = (), **options: Any) -> Bridge:
        """`Mounts.bridge`; the bridged server's views and skills pass through, so both extensions are declared."""
        from bosun.bridge.skills import BridgedSkills

        bridged = super().bridge(command, **options)
        self._apps()
        BridgedSkills.serve(self.extensions, self.registry, self.bridges)
        return bridged

    def _apps(self) -> None:
        from bosun.apps.extension import AppsExtension

        if not any(isinstance(extension, AppsExtension) for extension in self.extensions):
            self.extensions.append(AppsExtension())
