"""A gateway: many MCP servers, stdio or remote, behind one endpoint, from one `mcpServers` file."""
