# Who may reach which MCP server (runbook "Upload Policy": PUT /v1/policies/server_access).
package mcp.server_access

default allowed := false

# Servers everyone may use; anything else needs the admin role.
public_servers := {"server-456", "docs"}

allowed if input.resource in public_servers

allowed if "admin" in input.user.roles

reason := "public server" if input.resource in public_servers
