"""Bosun: a production runtime for MCP servers.

The public face only; everything else lives in the layers below.
"""

from bosun.app import inputs
from bosun.app.content import Audio, EmbeddedResource, Image, ResourceLink, Text
from bosun.app.context import Context, Elicited
from bosun.app.errors import PromptError, ResourceError, ResourceNotFound, ToolError
from bosun.app.handlers import CachePolicy
from bosun.app.inputs import InputRequired
from bosun.app.prompts import assistant, user
from bosun.protocol.errors import McpError
from bosun.server import Server
from bosun.transport.http.options import HttpOptions
from bosun.version import __version__

__all__ = [
    "Audio",
    "CachePolicy",
    "Context",
    "Elicited",
    "EmbeddedResource",
    "HttpOptions",
    "Image",
    "InputRequired",
    "McpError",
    "PromptError",
    "ResourceError",
    "ResourceNotFound",
    "ResourceLink",
    "Server",
    "Text",
    "ToolError",
    "assistant",
    "inputs",
    "user",
    "__version__",
]
