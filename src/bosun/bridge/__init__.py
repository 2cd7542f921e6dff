"""The bridge: stdio MCP servers in any language behind Bosun's surface (docs/bridge.md).

`options` (what the operator configures) -> `pool` (children per isolation key) -> `child`
(one process after its handshake) -> `rpc` (JSON-RPC with ids Bosun mints) -> `process` (the
process group). `bridge.Bridge` is the catalog source the handlers ask, and `items` are the
registry entries that forward to it; `calls` follows one call, parked or not.
"""
