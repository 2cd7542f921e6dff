"""A remote Streamable HTTP MCP server behind a bridge, in the place of a child process.

`link.HttpUpstream` is an `rpc.Link`, as `rpc.Upstream` is over a child's stdio, and
`endpoint.RemoteEndpoint` the surface the pool and `Child` use of `process.ChildProcess`: so isolation,
routing of the remote's own traffic, lists, calls, backoff, the crash-loop breaker and the metrics are
the same code for both. `connection.RemoteConnection` holds what a bridge's links share (one pool of
HTTP connections, the gateway's own credentials: `credentials.Credentials`).
"""
