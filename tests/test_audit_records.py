"""Audit lines are valid JSON whatever the caller put in names, ids and URIs, and both sink paths agree."""

from __future__ import annotations

import json
from pathlib import Path

from bosun.protocol.principal import Principal
from bosun.security.audit import Audit


def test_template_and_dict_paths_write_the_same_record_for_hostile_values(tmp_path: Path) -> None:
    fast, full = tmp_path / "fast.jsonl", tmp_path / "full.jsonl"
    caller = Principal('sub"\\%s', "https://issuer", 'client"%d', frozenset({"mcp"}), "jwt")
    odd = ['100% "quoted" \\ %(name)s', "\u2028line", "x" * 600, "https://user:pw@host/?token=abc", None]
    for audit, path in ((Audit(True, False, str(fast)), fast), (Audit(True, False, str(full)), full)):
        for target in odd:
            for jsonrpc_id in (7, 'id"%s', None, {"not": "an id"}):
                if path == full:
                    audit.record(caller, "tools/call", target, "ok", 0.0015, jsonrpc_id, peer="127.0.0.1")  # the dict path
                else:
                    audit.record(caller, "tools/call", target, "ok", 0.0015, jsonrpc_id)  # the template path
        audit.flush()
    # Lines end at "\n" only (a record may hold U+2028, which str.splitlines would also split on).
    fast_records = [json.loads(line) for line in fast.read_text().split("\n") if line]
    full_records = [json.loads(line) for line in full.read_text().split("\n") if line]
    assert len(fast_records) == len(full_records) == 20
    for one, other in zip(fast_records, full_records, strict=True):
        other["audit"].pop("peer")
        assert one["audit"] == other["audit"]
        assert one["logger"] == "bosun.audit" and one["ts"].endswith("Z")
    text = fast.read_text() + full.read_text()
    assert "pw@" not in text and "token=abc" not in text
    assert fast_records[0]["audit"]["target"] == odd[0] and fast_records[0]["audit"]["client_id"] == 'client"%d'
    assert len(fast_records[8]["audit"]["target"]) <= 512
