"""ae's MCP server: its read-only tools, runs and queue over the Model Context Protocol."""
