"""`regent mcp`: the read-only toolbox over the Model Context Protocol (stdio and streamable HTTP)."""
