"""HAProxy, round robin with no affinity, in front of replicas on loopback (Debian's package; setup installs it)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx

from conftest import Running, free_port


class Balancer:
    def __init__(self, replicas: list[Running], directory: Path) -> None:
        haproxy = shutil.which("haproxy")
        assert haproxy is not None, "haproxy is missing: scripts/setup.sh dev installs it"
        self.port = free_port()
        servers = "\n".join(f"  server r{index} {replica.base.removeprefix('http://')}"
                            for index, replica in enumerate(replicas))
        config = directory / "haproxy.cfg"
        config.write_text(f"""global
  maxconn 512
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
frontend mcp
  bind 127.0.0.1:{self.port}
  default_backend replicas
backend replicas
  balance roundrobin
{servers}
""")
        self.process = subprocess.Popen([haproxy, "-db", "-f", str(config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
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
        time.sleep(0.3)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
