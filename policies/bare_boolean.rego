# A policy in the shape SARK cannot read: `allow` is a bare boolean, so SARK denies
# every request (fail closed) even when the boolean is true. Kept as a test fixture.
package mcp

default allow := false

allow if input.user.id != ""
