"""HAProxy, round robin with no affinity, in front of replicas on loopback (Debian's package; setup installs it)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx

from conftest import Running, free_port


class Balancer:
    """`checked`: what a deployment puts in front of replicas that get killed and restarted, besides: a `/ready` health
    check (every 200 ms, out after one failure, back after two passes), up to three retries of a request that reached
    no replica (a refused connection, or an empty answer from one just killed), each on another one, and a stats page
    (`stats`) that counts them."""

    def __init__(self, replicas: list[Running], directory: Path, checked: bool = False) -> None:
        haproxy = shutil.which("haproxy")
        assert haproxy is not None, "haproxy is missing: scripts/setup.sh dev installs it"
        self.port = free_port()
        self.stats = f"http://127.0.0.1:{free_port()}/stats;csv"
        check = " check inter 200 fall 1 rise 2" if checked else ""
        servers = "\n".join(f"  server r{index} {replica.base.removeprefix('http://')}{check}"
                            for index, replica in enumerate(replicas))
        retries = "  retries 3\n  option redispatch 1\n  retry-on conn-failure empty-response\n" if checked else ""
        stats = (f"frontend stats\n  bind {self.stats.removeprefix('http://').split('/')[0]}\n  stats enable\n"
                 "  stats uri /stats\n") if checked else ""
        health = "  option httpchk GET /ready\n" if checked else ""
        config = directory / "haproxy.cfg"
        config.write_text(f"""global
  maxconn 512
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
{retries}frontend mcp
  bind 127.0.0.1:{self.port}
  default_backend replicas
{stats}backend replicas
  balance roundrobin
{health}{servers}
""")
        with (directory / "haproxy.log").open("ab") as log:  # its DOWN/UP lines, for a failure's diagnosis
            self.process = subprocess.Popen([haproxy, "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=log)
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        with httpx.Client(timeout=5) as http:
            deadline = time.monotonic() + 15
            while True:
                try:
                    if all(http.get(replica.base + "/ready").status_code == 200 for replica in replicas):
                        http.get(f"http://127.0.0.1:{self.port}/health")
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "replicas or HAProxy did not come up"
                time.sleep(0.1)
        time.sleep(0.6 if checked else 0.3)  # checked: two passing checks put every replica in rotation

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
