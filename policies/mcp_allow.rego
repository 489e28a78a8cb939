# SARK's tool and server authorization policy (OPA, Rego v1).
#
# SARK asks POST /v1/data/mcp/allow {input} and reads `result` as an object
# {allow, audit_reason}; anything else (a bare boolean, undefined) counts as deny.
package mcp

default allow := {"allow": false, "audit_reason": "Denied: no rule allows this request"}

allow := {"allow": true, "audit_reason": "Allowed: admin role"} if {
	"admin" in input.user.roles
}

allow := {"allow": true, "audit_reason": "Allowed: read access"} if {
	not "admin" in input.user.roles
	endswith(input.action, ":read")
}
