"""The application layer: the user's typed functions as MCP tools, resources and prompts."""
