"""The registry of Celery-trained jobs in Redis, shared by every app replica and worker.

It holds what the embedded backend keeps in one process (``dlcore.jobs``): who wants which
job, the queue, each job's progress and its stop flag. Every decision that must be atomic
across processes (join or create, withdraw an owner, a worker starting a job) is one Lua
script, so Redis runs it without interleaving; progress is written by the worker that
trains and read by any replica. Keys, under PREFIX:

- ``job:<key>``: a hash (state, config, epochs, epoch, batch, times, message, worker, ...)
- ``job:<key>:owners``: the owners (sessions, command lines) that want the job
- ``job:<key>:batches`` / ``job:<key>:epochs``: JSON logs per batch (the last
  BATCH_LOG_LIMIT) and per epoch; ``job:<key>:extras``: the latest epoch's extras
- ``owner:<owner>``: the key of the owner's one live job
- ``queue``: the keys waiting for a worker, first come first served
- ``lease:<key>``: the training lock a worker holds (and renews) while it trains the key

Finished jobs are kept FINISHED_TTL seconds, so page reruns find them; after that the
cache has the result. One Redis instance (not a cluster): the scripts touch keys they
compute. Redis errors become TrainingServiceUnavailable.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import redis

from dlcore.errors import QueueFull, TrainingServiceUnavailable
from dlcore.i18n import Message
from dlcore.job_common import (
    BATCH_LOG_LIMIT,
    SERVICE_UNAVAILABLE,
    JobSnapshot,
    decode_text,
    encode_text,
    eta,
    progress_fraction,
    queue_full,
    state_message,
    throughput,
)
from dlcore.settings import broker_url
from dlcore.states import JobState

PREFIX = "dlcore:"
FINISHED_TTL = 3600  # seconds a finished job stays in the registry
OWNER_TTL = 24 * 3600  # an owner that never comes back is forgotten after a day
CONNECT_TIMEOUT = 2.0  # seconds; a page must not hang when Redis is down
SOCKET_TIMEOUT = 10.0

# Shared by the scripts below: an owner stops wanting a job; a queued job nobody wants
# leaves the queue at once, a running one gets its stop flag (the worker stops after the
# current batch). ARGV[1] is always PREFIX and ARGV[2] the current time.
_WITHDRAW_LUA = """
local P, now = ARGV[1], ARGV[2]
local function withdraw(key, owner, cancelled_message, stopping_message, ttl)
  local job = P .. 'job:' .. key
  redis.call('SREM', job .. ':owners', owner)
  if redis.call('GET', P .. 'owner:' .. owner) == key then
    redis.call('DEL', P .. 'owner:' .. owner)
  end
  if redis.call('SCARD', job .. ':owners') > 0 then return end
  local state = redis.call('HGET', job, 'state')
  if state == 'queued' then
    redis.call('LREM', P .. 'queue', 0, key)
    redis.call('HSET', job, 'state', 'cancelled', 'message', cancelled_message,
               'finished_at', now)
    for _, name in ipairs({'', ':owners', ':batches', ':epochs', ':extras'}) do
      redis.call('EXPIRE', job .. name, ttl)
    end
  elseif state == 'running' then
    redis.call('HSET', job, 'stopping', '1', 'message', stopping_message)
  end
end
"""

# ARGV: P, now, key, owner, mode (join | leave | create), cancelled msg, stopping msg, ttl,
# owner ttl, max queued, run id, config json, epochs, batch size.
_SUBMIT_LUA = (
    _WITHDRAW_LUA
    + """
local key, owner, mode = ARGV[3], ARGV[4], ARGV[5]
local cancelled, stopping, ttl, owner_ttl = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local job = P .. 'job:' .. key
local state = redis.call('HGET', job, 'state')
local live = (state == 'queued' or state == 'running')
  and redis.call('HGET', job, 'stopping') ~= '1'
local previous = redis.call('GET', P .. 'owner:' .. owner)
if live or mode == 'create' then
  if previous and previous ~= key then
    withdraw(previous, owner, cancelled, stopping, ttl)
  end
end
if live then
  redis.call('SADD', job .. ':owners', owner)
  redis.call('SET', P .. 'owner:' .. owner, key, 'EX', owner_ttl)
  return 'joined'
end
if mode == 'join' then return 'absent' end
if mode == 'leave' then
  if previous then withdraw(previous, owner, cancelled, stopping, ttl) end
  return 'left'
end
local waiting = redis.call('LLEN', P .. 'queue')
if waiting >= tonumber(ARGV[10]) then return 'full:' .. waiting end
redis.call('DEL', job, job .. ':owners', job .. ':batches', job .. ':epochs', job .. ':extras')
redis.call('HSET', job, 'state', 'queued', 'run', ARGV[11], 'config', ARGV[12],
           'epochs', ARGV[13], 'batch_size', ARGV[14], 'created', now, 'message', '')
redis.call('RPUSH', P .. 'queue', key)
redis.call('SADD', job .. ':owners', owner)
redis.call('SET', P .. 'owner:' .. owner, key, 'EX', owner_ttl)
return 'created'
"""
)

# ARGV: P, now, key, owner, cancelled msg, stopping msg, ttl.
_CANCEL_LUA = _WITHDRAW_LUA + "withdraw(ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])"

# ARGV: P, now, key, run, worker, pid, message. A worker takes a queued job, or a running
# one whose previous worker died (redelivered); anything else is not to be trained. A run
# id that is not the job's is an older job of the same key (stopped, then asked again).
_START_LUA = """
local P, now, key = ARGV[1], ARGV[2], ARGV[3]
local job = P .. 'job:' .. key
if redis.call('HGET', job, 'run') ~= ARGV[4] then return 'superseded' end
local state = redis.call('HGET', job, 'state')
if state ~= 'queued' and state ~= 'running' then return state or 'missing' end
redis.call('LREM', P .. 'queue', 0, key)
redis.call('DEL', job .. ':batches', job .. ':epochs', job .. ':extras', job .. ':stopped')
redis.call('HDEL', job, 'train_started', 'first_batch_at')
redis.call('HSET', job, 'state', 'running', 'started', now, 'worker', ARGV[5], 'pid', ARGV[6],
           'epoch', 0, 'batch', 0, 'batches_per_epoch', 0, 'batches_seen', 0,
           'message', ARGV[7])
if state == 'running' then return 'restarted' end
return 'started'
"""

# ARGV: P, now, key, run, ttl, then field/value pairs for the hash; then '--', then the
# epoch rows (JSON) that replace the per-epoch log (none: keep it).
_FINISH_LUA = """
local P, now, key, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[5]
local job = P .. 'job:' .. key
if redis.call('HGET', job, 'run') ~= ARGV[4] then return 'superseded' end
local i = 6
while ARGV[i] ~= '--' do
  redis.call('HSET', job, ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('HSET', job, 'finished_at', now)
if ARGV[i + 1] then
  redis.call('DEL', job .. ':epochs')
  for j = i + 1, #ARGV do redis.call('RPUSH', job .. ':epochs', ARGV[j]) end
end
for _, owner in ipairs(redis.call('SMEMBERS', job .. ':owners')) do
  if redis.call('GET', P .. 'owner:' .. owner) == key then
    redis.call('DEL', P .. 'owner:' .. owner)
  end
end
for _, name in ipairs({'', ':owners', ':batches', ':epochs', ':extras'}) do
  redis.call('EXPIRE', job .. name, ttl)
end
return 'finished'
"""

# A job's messages are stored as encode_text writes them, read by decode_text in the
# language of whoever takes the snapshot.
CANCELLED_IN_QUEUE = encode_text(Message("Cancelled while waiting in the queue"))
STOPPING = encode_text(Message("Stopping after the current batch"))

_clients: dict[tuple[int, str], redis.Redis] = {}


def client() -> redis.Redis:
    """This process's Redis client for DLCORE_BROKER_URL (a forked child makes its own)."""
    url = broker_url()
    found = _clients.get((os.getpid(), url))
    if found is None:
        found = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=SOCKET_TIMEOUT,
            health_check_interval=30,
        )
        _clients[(os.getpid(), url)] = found
    return found


@contextlib.contextmanager
def reachable() -> Iterator[None]:
    """Turn a Redis outage into TrainingServiceUnavailable, with the message pages show."""
    try:
        yield
    except redis.RedisError as exc:
        raise TrainingServiceUnavailable(SERVICE_UNAVAILABLE) from exc


def _job(key: str) -> str:
    return f"{PREFIX}job:{key}"


def _run(script: str, *args: Any) -> Any:
    with reachable():
        return client().eval(script, 0, PREFIX, repr(time.time()), *args)


# ---------------------------------------------------------------------------------------
# What the app does: submit, withdraw, read
# ---------------------------------------------------------------------------------------


def enter(
    key: str, owner: str, mode: str, config: Any = None, max_queued: int = 0, run: str = ""
) -> str:
    """Make owner want key's job, or find there is none to join.

    Args:
        key: The cache key.
        owner: Who wants it.
        mode: "join" (only a live job), "leave" (join a live job, else just withdraw the
            owner from its previous job: a cache hit), "create" (join, else queue a new one).
        config: The config, for "create".
        max_queued: How many jobs may wait at once, for "create".
        run: The new job's run id, for "create" (its task carries it).

    Returns:
        "joined", "absent" (join), "left" (leave) or "created" (create).

    Raises:
        QueueFull: a new job would wait behind max_queued others.
        TrainingServiceUnavailable: Redis does not answer.
    """
    fields = ("", 0, 0) if config is None else (config.to_json(), config.epochs, config.batch_size)
    common = (CANCELLED_IN_QUEUE, STOPPING, FINISHED_TTL, OWNER_TTL, max_queued)
    outcome = _run(_SUBMIT_LUA, key, owner, mode, *common, run, *fields)
    if outcome.startswith("full:"):
        waiting = outcome.split(":", 1)[1]
        raise QueueFull(queue_full(int(waiting)))
    return outcome


def withdraw(key: str, owner: str) -> None:
    """Owner no longer wants key's job; it stops when nobody does (see the module doc)."""
    _run(_CANCEL_LUA, key, owner, CANCELLED_IN_QUEUE, STOPPING, FINISHED_TTL)


def config_json(key: str) -> str | None:
    """The JSON form of the config key's job trains, or None when it is not registered."""
    with reachable():
        return client().hget(_job(key), "config")


def exists(key: str) -> bool:
    """Whether the registry has a job (live or recently finished) for key."""
    with reachable():
        return bool(client().exists(_job(key)))


def snapshot(key: str) -> JobSnapshot | None:
    """A consistent copy of key's job (one MULTI/EXEC), or None when it is not registered."""
    job = _job(key)
    with reachable():
        pipe = client().pipeline(transaction=True)
        pipe.hgetall(job).lrange(f"{job}:batches", 0, -1).lrange(f"{job}:epochs", 0, -1)
        pipe.get(f"{job}:extras").scard(f"{job}:owners").lpos(f"{PREFIX}queue", key)
        fields, batches, epochs, extras, owners, position = pipe.execute()
    if not fields:
        return None
    return _snapshot_of(fields, batches, epochs, extras, owners, position)


def _snapshot_of(fields, batches, epochs, extras, owners, position) -> JobSnapshot:
    state = JobState(fields["state"])
    number = _reader(fields)
    queue_position = position + 1 if position is not None and state == JobState.QUEUED else 0
    epoch, epochs_planned = int(number("epoch")), int(number("epochs"))
    batch, per_epoch = int(number("batch")), int(number("batches_per_epoch"))
    finished_at = number("finished_at") or time.time()
    train_seconds = finished_at - number("train_started") if number("train_started") else 0.0
    if state == JobState.DONE:
        fraction = 1.0
    else:
        fraction = progress_fraction(epoch, epochs_planned, batch, per_epoch)
    stopping = fields.get("stopping") == "1"
    message = None if stopping else state_message(state, queue_position, epoch, epochs_planned)
    return JobSnapshot(
        state=state,
        epoch=epoch,
        epochs=epochs_planned,
        batch=batch,
        batches_per_epoch=per_epoch,
        fraction=fraction,
        history=[json.loads(row) for row in epochs],
        batch_losses=[json.loads(row) for row in batches],
        extras=_decode_extras(extras),
        queue_position=queue_position,
        elapsed=finished_at - number("started") if number("started") else 0.0,
        eta=_eta(number, fraction, finished_at) if state == JobState.RUNNING else None,
        samples_per_second=throughput(
            int(number("batches_seen")), int(number("batch_size")), train_seconds
        ),
        error=decode_text(fields.get("error")) or None,
        cached=fields.get("cached") == "1",
        message=str(message) if message else decode_text(fields.get("message", "")),
        warning=decode_text(fields.get("warning")) or None,
        owners=owners,
        worker=fields.get("worker") or None,
    )


def _eta(number, fraction: float, now: float) -> float | None:
    if not number("first_batch_at"):
        return None
    total = int(number("epochs")) * int(number("batches_per_epoch"))
    timed = int(number("batches_seen")) - 1
    return eta(now - number("first_batch_at"), timed, fraction, total)


def _reader(fields: dict[str, str]):
    def number(name: str) -> float:
        value = fields.get(name)
        return float(value) if value else 0.0

    return number


def _decode_extras(text: str | None) -> dict:
    """Extras as the trainer reported them: lists of numbers become arrays again."""
    extras = json.loads(text) if text else {}
    return {name: np.asarray(v) if isinstance(v, list) else v for name, v in extras.items()}


def encode_extras(extras: dict) -> str:
    """The JSON form of an epoch's extras (arrays become lists)."""
    return json.dumps({name: np.asarray(v).tolist() for name, v in (extras or {}).items()})


# ---------------------------------------------------------------------------------------
# What a worker does: start, report, check the stop flag, finish
# ---------------------------------------------------------------------------------------


def start(key: str, run: str, worker: str, message: Message | str) -> str:
    """A worker takes run of key's job: "started", "restarted" (redelivered), or why it is
    not to be trained ("cancelled", "done", ..., "missing", "superseded")."""
    return _run(_START_LUA, key, run, worker, os.getpid(), encode_text(message))


def waits_for_training(key: str, run: str) -> bool:
    """Whether run of key's job is still queued or running (not finished, not replaced)."""
    with reachable():
        state, current = client().hmget(_job(key), "state", "run")
    return current == run and state in (JobState.QUEUED, JobState.RUNNING)


def batches_per_epoch(key: str) -> int:
    """The batches in one epoch of key's job, as its trainer reported them (0 before)."""
    with reachable():
        return int(client().hget(_job(key), "batches_per_epoch") or 0)


def is_stopping(key: str) -> bool:
    """Whether nobody wants key's job any more (the worker stops after this batch)."""
    with reachable():
        return client().hget(_job(key), "stopping") == "1"


def note(key: str, **fields: Any) -> None:
    """Set fields of key's job (message, epochs, train_started, ...); a Message is stored
    as encode_text writes it."""
    with reachable():
        client().hset(_job(key), mapping={name: _stored(value) for name, value in fields.items()})


def report_batches(
    key: str, position: dict[str, int], rows: list[dict], batches: int, *, replace: bool = False
) -> bool:
    """Add per-batch log rows (or, with replace, store them as the whole log: the worker's
    BatchLog thinned them), count the batches trained and move the progress counters;
    returns the stop flag."""
    job = _job(key)
    with reachable():
        pipe = client().pipeline(transaction=True)
        if replace:
            pipe.delete(f"{job}:batches")
        if rows:
            pipe.rpush(f"{job}:batches", *(json.dumps(row) for row in rows))
            pipe.ltrim(f"{job}:batches", -BATCH_LOG_LIMIT, -1)
        if batches:
            pipe.hincrby(job, "batches_seen", batches)
        pipe.hset(job, mapping=position)
        pipe.hget(job, "stopping")
        return pipe.execute()[-1] == "1"


def report_epoch(key: str, position: dict[str, int], row: dict, extras: dict) -> None:
    """Append one epoch's logs and its extras."""
    job = _job(key)
    with reachable():
        pipe = client().pipeline(transaction=True)
        pipe.hset(job, mapping=position).rpush(f"{job}:epochs", json.dumps(row))
        pipe.set(f"{job}:extras", encode_extras(extras))
        pipe.execute()


def finish(key: str, run: str, fields: dict[str, Any], epoch_rows: list[dict] | None = None):
    """Record how run of key's job ended; its owners are free for a new job; the job is
    kept FINISHED_TTL seconds. Nothing happens when a newer run replaced it."""
    pairs = [item for name, value in fields.items() for item in (str(name), _stored(value))]
    rows = [json.dumps(row) for row in epoch_rows or []]
    _run(_FINISH_LUA, key, run, FINISHED_TTL, *pairs, "--", *rows)


def _stored(value: Any) -> str:
    """A field's value as the registry holds it (a Message as JSON, see encode_text)."""
    return encode_text(value) if isinstance(value, Message) else str(value)


def keep_stopped_run(key: str, packed: bytes) -> None:
    """Keep a stopped run's packed result (cache.pack_run) as long as its finished job:
    with this backend the model is on its worker, and a replica reads it from here."""
    with reachable():
        encoded = base64.b64encode(packed).decode("ascii")  # the client decodes replies as text
        client().set(f"{_job(key)}:stopped", encoded, ex=FINISHED_TTL)


def stopped_run(key: str) -> bytes | None:
    """The packed result keep_stopped_run kept for key's job, or None."""
    with reachable():
        encoded = client().get(f"{_job(key)}:stopped")
    return None if encoded is None else base64.b64decode(encoded)


def lease(key: str, seconds: float):
    """The key's training lock: a redis-py Lock that expires unless renewed, so the lock
    of a worker that died frees itself (renew it with ``.extend`` from any thread)."""
    return client().lock(f"{PREFIX}lease:{key}", timeout=seconds, sleep=0.2, thread_local=False)
