"""Durable tasks (the 2026-07-28 `io.modelcontextprotocol/tasks` extension) on Redis as deployed: Sentinel, a Cluster
with replicas, one node speaking TLS itself with an ACL user whose password is a secret file, and a TLS Cluster with
that user.

Why these run at all: a task touches Redis through two clients built from the same REDIS_URL, Bosun's own (the
records, bosun.tasks.redis_store) and docket's (the runs, bosun.tasks.docket_engine), and each topology is a different
client in both: a pool that asks the sentinels for the primary, a cluster client that routes by slot (docket's takes
one seed, and does its pub/sub through a pool of its own to one node), a TLS pool with the CA file and credentials
folded into the URL. Only running tasks there shows that both agree on it, and keep agreeing through a failover.

Each topology gets two replicas of tests/servers/tasks.py (the server the other task tests drive), and the same steps
(`exercise`): a task created on one replica completes and is read on the other; a long one cancelled through the
other stops, and its tool's cleanup is written down; a task that asks for input parks in `input_required`, is
answered through the other replica (`tasks/update`) and completes with the answer. On the Cluster the keys a task
uses together are checked to share a slot, then a primary is killed; on Sentinel a SENTINEL FAILOVER happens while a
task runs and another waits for its answer. Run with -s for the numbers.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
from polling import eventually
from redis_topologies import Cluster, RedisNode, SentinelSet, Tls
from tasks_http import Tasks
from test_redis_topologies import _problems, _ready

from conftest import Running, free_port, start_server, stop_server

SERVER = "tests/servers/tasks.py"
NAMESPACE = "bosun:tasks-under-test"  # Bosun's keys for the server named "tasks-under-test"
# An ACL user's password with the characters a URL must percent-encode: Bosun folds it into REDIS_URL encoded, and
# every client (Bosun's, docket's data and pub/sub connections) must decode it.
USER, PASSWORD = "tasks", "t4sks/0n:TLS@with%an-ACL#user?pa55&word"
ACL = ["--user", USER, "on", f">{PASSWORD}", "~*", "&*", "+@all"]
# Shutdown does not wait for runs left behind; cancels are also seen by the record read every 0.2 s.
ENV = {"BOSUN_TASKS_GRACE_SECONDS": "0", "BOSUN_TASKS_CANCEL_CHECK_SECONDS": "0.2"}


class Pair:
    """Two replicas of the task server on one Redis, and their logs."""

    def __init__(self, env: dict[str, str], directory: Path) -> None:
        self.logs = [directory / "a.log", directory / "b.log"]
        self.directory = directory
        self.replicas: list[Running] = []
        try:
            for log in self.logs:
                self.replicas.append(start_server(SERVER, env={**ENV, **env}, log=log))
            _ready(self.replicas)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for replica in self.replicas:
            stop_server(replica)

    def problems(self) -> list[str]:
        """Errors, and docket's worker failing to subscribe to cancels: it then takes no run, and logs only warnings."""
        stuck = [line for log in self.logs for line in log.read_text().splitlines() if "cancellation listener" in line]
        return _problems(self.logs) + stuck


def exercise(pair: Pair, topology: str) -> dict[str, Any]:
    """Create on one replica, read on the other; cancel through the other; ask, answer through the other. Returns the
    task ids it made and the times it measured (seconds)."""
    first, second = pair.replicas
    numbers: dict[str, Any] = {}
    with httpx.Client(timeout=10) as http:
        one, other = Tasks(http, first), Tasks(http, second)
        began = time.monotonic()
        done_id = one.create("slow", {"seconds": 0.2, "label": topology})
        numbers["create"] = time.monotonic() - began
        done = other.wait(done_id, "completed", 10)
        numbers["complete"] = time.monotonic() - began
        assert done["result"]["content"][0]["text"] == f"{topology} done", done
        assert one.get(done_id)["result"] == done["result"]

        marker = pair.directory / f"careful-{topology}.marks"
        cancelled_id = one.create("careful", {"marker": str(marker)})
        eventually(lambda: marker.exists() and marker.read_text(), 10)
        asked = time.monotonic()
        ack = other.cancel(cancelled_id)
        assert ack["resultType"] == "complete", ack
        eventually(lambda: marker.read_text().splitlines()[-1] == "cancelled, cleaned up", 5, "the cleanup", step=0.01)
        numbers["cancel"] = time.monotonic() - asked
        for reader in (one, other):
            task = reader.get(cancelled_id)
            assert task["status"] == "cancelled" and "result" not in task, task
        assert marker.read_text().splitlines() == ["started", "cancelled, cleaned up"]

        asking_id = one.create("confirm_with", {"label": topology, "count": 3})
        waiting = other.wait(asking_id, "input_required", 10)
        [(key, question)] = waiting["inputRequests"].items()
        assert question["method"] == "elicitation/create", question
        answered = time.monotonic()
        assert other.update(asking_id, {key: {"action": "accept", "content": {"confirm": True}}})["resultType"] == "complete"
        finished = one.wait(asking_id, "completed", 10)
        numbers["input"] = time.monotonic() - answered
        assert json.loads(finished["result"]["content"][0]["text"]) == {"label": topology, "count": 3, "confirmed": True}
    numbers["ids"] = [done_id, cancelled_id, asking_id]
    print(f"\n{topology}: create {numbers['create'] * 1000:.0f} ms; a 0.2 s task completed (seen on the other replica) "
          f"{numbers['complete']:.2f} s after its creation began; cancel to cleanup {numbers['cancel'] * 1000:.0f} ms; "
          f"answer to completed {numbers['input'] * 1000:.0f} ms")
    return numbers


# Sentinel -----------------------------------------------------------------------------------------------------------
def test_tasks_on_sentinel_and_through_a_sentinel_failover(tmp_path: Path) -> None:
    """A primary, a replica, three sentinels. Then SENTINEL FAILOVER while a 6 s task runs and another waits for input:
    the first completes (begun once, not redelivered), the second is answered on the new primary and completes, and
    they, the tasks made before, and a task made after are read on both replicas from the new primary."""
    sentinels = SentinelSet(tmp_path / "redis")
    sentinels.start()
    pair: Pair | None = None
    try:
        pair = Pair({"REDIS_URL": sentinels.url}, tmp_path)
        earlier = exercise(pair, "sentinel")["ids"]
        first, second = pair.replicas
        with httpx.Client(timeout=10) as http:
            one, other = Tasks(http, first), Tasks(http, second)
            primary = sentinels.node(sentinels.primary()[1])
            began = time.monotonic()
            running = one.create("slow", {"seconds": 6, "label": "through the failover"})
            with primary.client() as client:
                eventually(lambda: client.hget(f"{NAMESPACE}:task:{{{running}}}", "runs") == b"1", 5)
            started = time.monotonic() - began
            parked = other.create("confirm_with", {"label": "parked", "count": 1})  # its question, on the old primary
            [key] = other.wait(parked, "input_required")["inputRequests"]
            switching = time.monotonic()
            new = sentinels.failover()
            switched = time.monotonic() - switching
            other.update(parked, {key: {"action": "accept", "content": {"confirm": True}}})  # answered on the new one
            polls = errors = 0
            while time.monotonic() - began < 30:
                polls += 1
                answer = one.post("tasks/get", {"taskId": running})
                result = answer.json().get("result") if answer.status_code == 200 else None
                if result is None:
                    errors += 1
                elif result["status"] == "completed":
                    break
                time.sleep(0.1)
            ended = time.monotonic() - began
            assert result is not None and result["status"] == "completed", (answer.status_code, answer.text[:300])
            assert result["result"]["content"][0]["text"] == "through the failover done"
            with new.client() as client:  # on the new primary: begun once, never redelivered
                runs = client.hget(f"{NAMESPACE}:task:{{{running}}}", "runs")
                assert runs == b"1", runs
            after = one.create("slow", {"seconds": 0.1, "label": "after"})
            assert other.wait(after, "completed", 15)["result"]["content"][0]["text"] == "after done"
            after_took = time.monotonic() - began - ended
            for reader in (one, other):
                statuses = [reader.get(task_id)["status"] for task_id in (*earlier, running, parked)]
                assert statuses == ["completed", "cancelled", "completed", "completed", "completed"], statuses
            assert json.loads(one.get(parked)["result"]["content"][0]["text"])["confirmed"] is True
        print(f"sentinel failover: the 6 s task's run began {started:.2f} s after its creation; SENTINEL FAILOVER took "
              f"{switched:.2f} s (until every sentinel named the new primary); the task was completed {ended:.2f} s after "
              f"its creation, read by {polls} polls of which {errors} failed; a task made afterwards completed in "
              f"{after_took:.2f} s")
    finally:
        if pair is not None:  # before Redis: else they log its going
            pair.stop()
        sentinels.stop()
    assert pair is not None and not pair.problems(), pair.problems()[:3]


# Cluster ------------------------------------------------------------------------------------------------------------
def test_tasks_on_a_three_primary_cluster_keep_each_tasks_keys_on_one_slot(tmp_path: Path) -> None:
    """Three primaries with a replica each, REDIS_URL naming the three primaries as seeds (docs/deployment.md's form).
    Every task's record, questions and answers share one slot (a Lua step names them together), and so do the caps'
    `{tasks}` sets; docket's keys share its own tag. Then a primary is killed (`_killed_primary`)."""
    cluster = Cluster(tmp_path / "redis", replicas=True, node_timeout=1000)
    cluster.start()
    pair: Pair | None = None
    try:
        assert cluster.url.count(",") == 2, cluster.url
        pair = Pair({"REDIS_URL": cluster.url}, tmp_path)
        ids = exercise(pair, "cluster")["ids"]
        keys = cluster.keys(f"{NAMESPACE}:*")
        families = sorted({re.sub(r"\{(?!tasks\})[^}]*\}", "{id}", key).replace(NAMESPACE, "<ns>") for key in keys})
        for task_id in ids:
            base = f"{NAMESPACE}:task:{{{task_id}}}"
            named = {cluster.keyslot(base + suffix) for suffix in ("", ":ask", ":got")}
            held = {cluster.keyslot(key) for key in keys if key.startswith(base)}
            assert len(named) == 1 and held <= named, (task_id, named, held)
            assert base in keys, f"the record of {task_id} is not on the cluster"
        index = [key for key in keys if key.startswith(f"{NAMESPACE}:{{tasks}}:")]
        owner = ""  # the server runs open: every caller is the same one
        index_slots = {cluster.keyslot(f"{NAMESPACE}:{{tasks}}:{name}") for name in ("active", f"active:{owner}",
                                                                                   f"owned:{owner}")}
        assert index and len(index_slots) == 1 and {cluster.keyslot(key) for key in index} == index_slots, index
        docket = cluster.keys(f"{{{NAMESPACE}:tasks}}*")
        assert docket and len({cluster.keyslot(key) for key in docket}) == 1, docket
        task_nodes = {cluster.keyslot(f"{NAMESPACE}:task:{{{task_id}}}") * 3 // 16384 for task_id in ids}
        print(f"cluster keys: {families}; each of {len(ids)} tasks on one slot (on {len(task_nodes)} of 3 primaries); "
              f"{len(index)} {{tasks}} index keys on slot {index_slots.pop()}; {len(docket)} docket keys on one slot")
        assert not pair.problems(), pair.problems()[:3]
        _killed_primary(cluster, pair, cluster.keyslot(docket[0]) * 3 // 16384)
    finally:
        if pair is not None:  # before Redis: else they log its going
            pair.stop()
        cluster.stop()
    assert pair is not None and not [line for line in pair.problems() if '"logger":"docket.' not in line]


def _killed_primary(cluster: Cluster, pair: Pair, docket_node: int) -> None:
    """SIGKILL the primary docket's pub/sub connections went to (its cluster client's first, which that client also
    asks for the keys of every XREADGROUP) while a 3 s task runs; once its replica is promoted the task completes, and
    new tasks run, are cancelled and answered as before (bosun.tasks.docket_cluster: without them no
    task ran again, on any replica). Docket's own warnings while the node is gone are counted, not failed on."""
    subscribed = []
    for node in cluster.nodes[:3]:
        with node.client() as client:
            subscribed.append(sum(entry.get("psub", "0") != "0" for entry in client.client_list()))
    assert sum(subscribed) == 2 and max(subscribed) == 2, f"docket's cancel listeners per primary: {subscribed}"
    victim = subscribed.index(2)
    with httpx.Client(timeout=10) as http:
        one, other = Tasks(http, pair.replicas[0]), Tasks(http, pair.replicas[1])
        running = one.create("slow", {"seconds": 3, "label": "through the kill"})
        time.sleep(0.3)
        killed = time.monotonic()
        cluster.failover(victim, kill=True)
        promoted = time.monotonic() - killed
        done = other.wait(running, "completed", 20)
        completed = time.monotonic() - killed
        assert done["result"]["content"][0]["text"] == "through the kill done"
    exercise(pair, "cluster after the kill")
    warned = [line for line in pair.problems() if '"logger":"docket.' in line]
    print(f"cluster: primary {victim} (docket's pub/sub; its keys on primary {docket_node}) killed: replica promoted in "
          f"{promoted:.2f} s, the running 3 s task completed {completed:.2f} s after the kill; docket logged "
          f"{len(warned)} warnings/errors meanwhile")


# TLS and an ACL user ------------------------------------------------------------------------------------------------
def _secured(url: str, tls: Tls, directory: Path) -> dict[str, str]:
    """Bosun's settings for a TLS Redis with an ACL user: REDIS_URL without credentials, the CA file, the user, and
    the password in a secrets directory (one file per secret, as Kubernetes mounts them)."""
    secrets = directory / "secrets"
    secrets.mkdir()
    (secrets / "BOSUN_REDIS_PASSWORD").write_text(PASSWORD + "\n")
    return {"REDIS_URL": url, "BOSUN_REDIS_CA_FILE": str(tls.ca), "BOSUN_REDIS_USERNAME": USER,
            "BOSUN_SECRETS_DIR": str(secrets)}


def _password_unseen(pair: Pair) -> None:
    from urllib.parse import quote

    for log in pair.logs:
        text = log.read_text()
        assert PASSWORD not in text and quote(PASSWORD, safe="") not in text, log


def test_tasks_on_a_tls_redis_with_a_ca_file_and_an_acl_user_from_a_secret_file(tmp_path: Path) -> None:
    """One node listening only on TLS, its default user off. The records are written as that user, docket's stream is
    beside them, and the password shows in no log."""
    tls = Tls.make(tmp_path / "tls")
    node = RedisNode(free_port(), tmp_path / "redis", ["--user", "default", "off", *ACL], tls=tls)
    node.start()
    pair: Pair | None = None
    try:
        pair = Pair(_secured(f"rediss://localhost:{node.port}/0", tls, tmp_path), tmp_path)
        ids = exercise(pair, "tls-acl")["ids"]
        import redis

        with redis.Redis(port=node.port, username=USER, password=PASSWORD, socket_timeout=2,
                         **tls.client_options()) as client:
            assert all(client.hget(f"{NAMESPACE}:task:{{{task_id}}}", "st") for task_id in ids)
            assert client.exists(f"{NAMESPACE}:tasks:stream"), "docket's stream is not on this Redis"
    finally:
        if pair is not None:  # before Redis: else they log its going
            pair.stop()
        node.stop()
    assert pair is not None and not pair.problems(), pair.problems()[:3]
    _password_unseen(pair)


def test_tasks_on_a_tls_cluster_with_a_ca_file_and_an_acl_user(tmp_path: Path) -> None:
    """`rediss+cluster://`, three primaries speaking only TLS, the same ACL user on each (the default user stays on:
    the fixture forms the cluster with it). docket's pub/sub pool to one primary got neither the CA file nor the
    decoded password (bosun.tasks.docket_cluster `mend_pubsub`), and no task ever ran."""
    tls = Tls.make(tmp_path / "tls")
    cluster = Cluster(tmp_path / "redis", tls=tls)
    for node in cluster.nodes:
        node.args += ACL
    cluster.start()
    pair: Pair | None = None
    try:
        pair = Pair(_secured(cluster.url, tls, tmp_path), tmp_path)
        exercise(pair, "tls-acl-cluster")
    finally:
        if pair is not None:
            pair.stop()
        cluster.stop()
    assert pair is not None and not pair.problems(), pair.problems()[:3]
    _password_unseen(pair)
