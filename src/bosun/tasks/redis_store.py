"""Task records in Redis, so any replica answers for any task and a task outlives the replica that ran it.

One task is three keys sharing the hash tag `{<task id>}` (one slot on a Cluster): a hash with the
record's fields, and two hashes of its outstanding input requests and of its answers, by key. Every
step is one Lua script on those keys, so a step is atomic and a terminal status is a compare-and-set.
No script decodes JSON: values are stored and returned as the client wrote them (cjson would turn an
empty object in a result into an empty array). All three keys expire at the task's TTL, counted from
its creation, so results are purged by Redis itself.

The caps count unfinished tasks in sorted sets under the tag `{tasks}` (one slot: an owner's set and the
server's set are checked and added to in one script), scored by expiry so a task whose end was never
recorded (its replica died between two steps) stops counting at its TTL.
"""

from __future__ import annotations

from typing import Any

import orjson

from bosun.data.redis_client import redis_client
from bosun.tasks.record import TERMINAL, TaskRecord, now_ms
from bosun.tasks.store import TaskLimitReached

_CREATE_INDEX = """
for i = 1, 3 do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[1]) end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 2 end
for i = 1, 3 do  -- each set lives as long as its latest member: an owner who stops creating leaves nothing behind
  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[3])
  redis.call('PEXPIREAT', KEYS[i], redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')[2])
end
return 0
"""
_CREATE = """
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
"""
_TERMINAL_CHECK = """
local st = redis.call('HGET', KEYS[1], 'st')
if not st or st == 'completed' or st == 'failed' or st == 'cancelled' then return 0 end
"""
_BEGIN = """
local st = redis.call('HGET', KEYS[1], 'st')
if st ~= 'working' then return 0 end
return redis.call('HINCRBY', KEYS[1], 'runs', 1)
"""
_RELEASE = """
if redis.call('HGET', KEYS[1], 'st') ~= 'working' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'runs') or '0') <= 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'runs', -1)
return 1
"""
_ASK = """
if redis.call('HGET', KEYS[1], 'st') ~= 'working' then return 0 end
local added = 0
for i = 3, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[3], ARGV[i]) == 0 then redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]); added = added + 1 end
end
if added == 0 then return 0 end
redis.call('HSET', KEYS[1], 'st', 'input_required', 'up', ARGV[1])
redis.call('PEXPIREAT', KEYS[2], ARGV[2])
return 1
"""
_ANSWER = """
if redis.call('HGET', KEYS[1], 'st') ~= 'input_required' then return 0 end
for i = 3, #ARGV, 2 do
  if redis.call('HDEL', KEYS[2], ARGV[i]) == 1 then redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
end
redis.call('HSET', KEYS[1], 'up', ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('PEXPIREAT', KEYS[3], ARGV[2]) end
if redis.call('HLEN', KEYS[2]) > 0 then return 0 end
redis.call('HSET', KEYS[1], 'st', 'working')
return redis.call('HINCRBY', KEYS[1], 'rounds', 1)
"""
_NOTE = _TERMINAL_CHECK + """
redis.call('HSET', KEYS[1], 'msg', ARGV[1], 'up', ARGV[2])
return 1
"""
_FINISH = _TERMINAL_CHECK + """
redis.call('HSET', KEYS[1], 'st', ARGV[1], 'up', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'out', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'msg', ARGV[4]) end
redis.call('DEL', KEYS[2])
return 1
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisTaskStore:
    def __init__(self, url: str, namespace: str, timeout: float = 2.0) -> None:
        self.redis = redis_client(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.prefix = f"{namespace}:task"
        self._index = f"{namespace}:{{tasks}}"
        register = self.redis.register_script
        self._create_index, self._create = register(_CREATE_INDEX), register(_CREATE)
        self._begin, self._ask, self._answer = register(_BEGIN), register(_ASK), register(_ANSWER)
        self._release = register(_RELEASE)
        self._note, self._finish = register(_NOTE), register(_FINISH)

    def _keys(self, task_id: str) -> list[str]:
        base = f"{self.prefix}:{{{task_id}}}"
        return [base, f"{base}:ask", f"{base}:got"]

    def _index_keys(self, owner: str) -> list[str]:
        return [f"{self._index}:active:{owner}", f"{self._index}:active", f"{self._index}:owned:{owner}"]

    async def create(self, record: TaskRecord, per_owner: int, total: int) -> None:
        refused = await self._create_index(keys=self._index_keys(record.owner),
                                           args=[record.created, record.expires, record.id, per_owner, total])
        if refused == 1:
            raise TaskLimitReached(f"Too many unfinished tasks for this caller (at most {per_owner}); retry when one ends")
        if refused == 2:
            raise TaskLimitReached(f"Too many unfinished tasks on this server (at most {total}); retry later")
        fields: dict[str, Any] = {
            "st": record.status, "cr": record.created, "up": record.updated, "ttl": record.ttl_ms, "poll": record.poll_ms,
            "own": record.owner, "tool": record.tool, "args": orjson.dumps(record.arguments), "ver": record.version,
            "caps": orjson.dumps(record.capabilities), "who": orjson.dumps(record.principal), "runs": 0, "rounds": record.rounds,
        }
        if record.message:
            fields["msg"] = record.message
        flat: list[Any] = [record.expires]
        for name, value in fields.items():
            flat += [name, value]
        keys = self._keys(record.id)
        await self._create(keys=keys[:1], args=flat)
        if record.responses:  # answers given on the request before the task was created (multi round-trip)
            await self.redis.hset(keys[2], mapping={key: orjson.dumps(value) for key, value in record.responses.items()})
            await self.redis.pexpireat(keys[2], record.expires)

    async def get(self, task_id: str) -> TaskRecord | None:
        keys = self._keys(task_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys[0])
            pipe.hgetall(keys[1])
            pipe.hgetall(keys[2])
            fields, asked, answered = await pipe.execute()
        if not fields:
            return None
        got = {_text(key): value for key, value in fields.items()}
        record = TaskRecord(task_id, _text(got["own"]), _text(got["tool"]), orjson.loads(got["args"]), _text(got["ver"]),
                            orjson.loads(got["caps"]), int(got["ttl"]), int(got["poll"]), created=int(got["cr"]),
                            updated=int(got["up"]), status=_text(got["st"]),
                            message=_text(got["msg"]) if "msg" in got else None, principal=orjson.loads(got["who"]),
                            runs=int(got.get("runs", 0)), rounds=int(got.get("rounds", 1)))
        record.requests = {_text(key): orjson.loads(value) for key, value in asked.items()}
        record.responses = {_text(key): orjson.loads(value) for key, value in answered.items()}
        if "out" in got:
            record.outcome = orjson.loads(got["out"])
        return record

    async def begin(self, task_id: str) -> TaskRecord | None:
        if not await self._begin(keys=self._keys(task_id)[:1]):
            return None
        return await self.get(task_id)

    async def release(self, task_id: str) -> bool:
        """A run handed back by a replica shutting down cleanly: uncount it (`begin` counted it), so the engine's
        redelivery is not taken for a crash's. False when the task is no longer working (ended, cancelled)."""
        return bool(await self._release(keys=self._keys(task_id)[:1]))

    async def ask(self, task_id: str, requests: dict[str, Any]) -> bool:
        keys = self._keys(task_id)
        created, ttl = await self.redis.hmget(keys[0], ["cr", "ttl"])
        if created is None or ttl is None:
            return False
        flat: list[Any] = [now_ms(), int(created) + int(ttl)]
        for key, request in requests.items():
            flat += [key, orjson.dumps(request)]
        return bool(await self._ask(keys=keys, args=flat))

    async def answer(self, task_id: str, responses: dict[str, Any]) -> int:
        record = await self.get(task_id)
        if record is None:
            return 0
        flat: list[Any] = [now_ms(), record.expires]
        for key, response in responses.items():
            flat += [key, orjson.dumps(response)]
        return int(await self._answer(keys=self._keys(task_id), args=flat))

    async def note(self, task_id: str, message: str) -> None:
        await self._note(keys=self._keys(task_id)[:1], args=[message, now_ms()])

    async def finish(self, task_id: str, status: str, outcome: dict[str, Any] | None, message: str | None = None) -> bool:
        assert status in TERMINAL
        keys = self._keys(task_id)
        moved = bool(await self._finish(keys=keys[:2], args=[status, now_ms(), orjson.dumps(outcome) if outcome else "",
                                                              message or ""]))
        if moved:
            owner = await self.redis.hget(keys[0], "own")
            if owner is not None:
                active = self._index_keys(_text(owner))[:2]
                await self.redis.zrem(active[0], task_id)
                await self.redis.zrem(active[1], task_id)
        return moved

    async def owned(self, owner: str, limit: int) -> list[TaskRecord]:
        ids = await self.redis.zrevrange(self._index_keys(owner)[2], 0, limit - 1)
        found = [await self.get(_text(task_id)) for task_id in ids]
        return [record for record in found if record is not None]

    async def ping(self) -> None:
        await self.redis.ping()

    async def close(self) -> None:
        await self.redis.aclose()
