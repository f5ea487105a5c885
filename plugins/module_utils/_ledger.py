# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The revert ledger and the armed reverter.

Every timed fault writes one JSON entry to ``<ledger_dir>/pending/`` on the host
where the module runs (the Docker host, when Ansible reaches it over SSH): what
to undo, on which engine, by which deadline. One detached reverter process per
ledger directory (started on demand, in its own session, so it survives the
controller being SIGKILLed or the SSH connection dropping) sleeps until the
next deadline and performs the revert. A single process serves every pending
fault, so 200 armed reverts cost one interpreter, not 200.

An entry moves ``pending/`` -> ``claimed/`` (by whoever performs it: the
reverter, or a module reverting early) -> ``done/``. The rename is the lock:
exactly one party performs each revert.

This file runs both inside modules and as the reverter (``python -m ...``), so it
and the one module_utils file it needs (_docker.py) import nothing from Ansible
unguarded. Revert actions are looked up by name in
REVERT_ACTIONS; a new fault family adds its own action there.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import hashlib
import json
import os
import sys
import threading
import time
import traceback
import uuid

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.chaos.engineering.plugins.module_utils import _docker
from ansible_collections.chaos.engineering.plugins.module_utils._docker import build_api_client

ENV_LEDGER_DIR = 'CHAOS_ENGINEERING_LEDGER_DIR'
REVERTER_MODULE = 'ansible_collections.chaos.engineering.plugins.module_utils._ledger'
# The reverter exits after this long with nothing pending; the next armed fault starts a new one.
IDLE_EXIT_SECONDS = 5.0
POLL_SECONDS = 0.05
# Directory mtimes come from a coarse clock: a listing this soon after a change may have missed it.
MTIME_MARGIN_NS = 50 * 1000 * 1000
RETRY_BACKOFF_SECONDS = (1, 2, 5, 10, 30)
GIVE_UP_AFTER_SECONDS = 3600
REVERT_WORKERS = 32
# A helper_exec entry with batches gets its revert processes started this long before its deadline,
# so that at the deadline only their input is written (see _docker.StdinExec).
PREARM_SECONDS = 3.0
METHOD = 'ledger-reverter'


def default_ledger_dir():
    if os.environ.get(ENV_LEDGER_DIR):
        return os.environ[ENV_LEDGER_DIR]
    if os.geteuid() == 0:
        return '/var/lib/chaos-engineering/ledger'
    base = os.environ.get('XDG_STATE_HOME') or os.path.join(os.path.expanduser('~'), '.local', 'state')
    return os.path.join(base, 'chaos-engineering', 'ledger')


def _subdir(root, name):
    path = os.path.join(root, name)
    try:
        os.makedirs(path, 0o700)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise
    return path


def _write_json_atomic(path, data):
    tmp = '%s.tmp-%s' % (path, uuid.uuid4().hex[:8])
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as handle:
        json.dump(data, handle, sort_keys=True)
    os.rename(tmp, path)


def _read_json(path):
    with open(path) as handle:
        return json.load(handle)


def new_entry(fault, action, target, docker, deadline, **details):
    """A ledger entry. ``target`` has at least id and name; ``docker`` is the connection dict."""
    entry_id = '%s-%s' % (fault, uuid.uuid4().hex[:12])
    return dict(
        id=entry_id,
        fault=fault,
        action=action,
        target=target,
        docker=docker,
        deadline=float(deadline),
        created_at=time.time(),
        attempts=0,
        details=details,
    )


def record(root, entries):
    """Write pending entries; they are armed once a reverter runs (see ensure_reverter)."""
    pending = _subdir(root, 'pending')
    for entry in entries:
        _write_json_atomic(os.path.join(pending, entry['id'] + '.json'), entry)


def list_entries(root, state='pending'):
    directory = os.path.join(root, state)
    entries = []
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return entries
    for name in names:
        if not name.endswith('.json'):
            continue
        try:
            entries.append(_read_json(os.path.join(directory, name)))
        except (OSError, ValueError):
            continue  # being renamed right now, or a half-written tmp
    return entries


def claim(root, entry_id):
    """Take a pending entry for ourselves; False if someone else already has it."""
    claimed = _subdir(root, 'claimed')
    try:
        os.rename(os.path.join(root, 'pending', entry_id + '.json'), os.path.join(claimed, entry_id + '.json'))
        return True
    except OSError:
        return False


def finish(root, entry, status, error=None):
    """Move a claimed entry to done/, keeping what happened for teardown and reports."""
    entry = dict(entry)
    entry.update(status=status, finished_at=time.time(), error=error)
    _write_json_atomic(os.path.join(_subdir(root, 'done'), entry['id'] + '.json'), entry)
    try:
        os.unlink(os.path.join(root, 'claimed', entry['id'] + '.json'))
    except OSError:
        pass
    return entry


def release(root, entry):
    """Give a claimed entry back to pending (after a failed attempt), with its retry time."""
    _write_json_atomic(os.path.join(_subdir(root, 'pending'), entry['id'] + '.json'), entry)
    try:
        os.unlink(os.path.join(root, 'claimed', entry['id'] + '.json'))
    except OSError:
        pass


def recover_claimed(root):
    """Entries claimed by a reverter that died mid-revert go back to pending."""
    for entry in list_entries(root, 'claimed'):
        release(root, entry)


# --- Docker access, without Ansible ------------------------------------------------------------

_CLIENTS = {}
_CLIENTS_LOCK = threading.Lock()


def docker_client(conn):
    """A cached client per connection: one reverter serves faults on many engines."""
    key = json.dumps(conn, sort_keys=True)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = _CLIENTS[key] = build_api_client(conn, pool_size=REVERT_WORKERS)
        return client


def _api_status(exc):
    response = getattr(exc, 'response', None)
    return getattr(response, 'status_code', None)


def _revert_unpause(entry):
    client = docker_client(entry['docker'])
    try:
        client.unpause(entry['target']['id'])
    except Exception as exc:  # pylint: disable=broad-exception-caught
        status = _api_status(exc)
        if status == 404:
            return 'target-gone'
        if status == 409:
            return 'already-reverted'  # not paused any more: someone unpaused it
        raise
    return 'reverted'


def _revert_start(entry):
    client = docker_client(entry['docker'])
    try:
        client.start(entry['target']['id'])
    except Exception as exc:  # pylint: disable=broad-exception-caught
        if _api_status(exc) == 404:
            return 'target-gone'
        raise
    return 'reverted'


# entry id -> [(StdinExec, input text)]: revert processes started ahead of their deadline.
_ARMED = {}
_ARMED_LOCK = threading.Lock()


def prearmable(entry):
    details = entry.get('details') or {}
    return entry.get('action') == 'helper_exec' and bool(details.get('batches')) and bool(details.get('helper_id'))


def prearm(entry):
    """Start the entry's batched revert processes in its helper, waiting for their input.

    Only an optimisation: when anything here fails, the revert at the deadline runs its steps one by one.
    If this process dies, the engine closes their stdin and they exit without input, having changed nothing.
    """
    if not prearmable(entry):
        return False
    details = entry['details']
    client = docker_client(entry['docker'])
    started = []
    try:
        for argv, text in details['batches']:
            proc = _docker.StdinExec.start(client, details['helper_id'], argv)
            if proc is None:
                break
            started.append((proc, text))
        else:
            with _ARMED_LOCK:
                _ARMED[entry['id']] = started
            return True
    except Exception:  # pylint: disable=broad-exception-caught
        pass
    _close_armed(started)
    return False


def _close_armed(armed):
    for proc, dummy in armed or ():
        proc.close()


def _take_armed(entry_id):
    with _ARMED_LOCK:
        return _ARMED.pop(entry_id, None)


def _revert_armed(entry, client):
    """Feed the processes ``prearm`` started; True when every batch succeeded."""
    armed = _take_armed(entry['id'])
    if not armed:
        return False
    try:
        for proc, text in armed:
            proc.send(text)
        return all(proc.result().ok for proc, dummy in armed)
    except Exception:  # pylint: disable=broad-exception-caught
        return False
    finally:
        _close_armed(armed)


def _revert_in_helper(entry):
    """Run the entry's revert argv in its helper (or in a fresh one, if the helper is gone), then remove it.

    details: steps (argv lists), ok_if (stderr markers meaning "already reverted"), helper_id, helper_image,
    and optionally batches (see ``prearm``). Records ``fault_gone_at``, when the last step returned: the fault
    ends there, not when the helper is removed; and ``revert_path``, batched or steps.
    """
    client = docker_client(entry['docker'])
    details = entry['details']
    helper_id = details.get('helper_id')
    if helper_id and _revert_armed(entry, client):
        details['fault_gone_at'] = time.time()
        details['revert_path'] = 'batched'
        _docker.remove_helper(client, helper_id)
        return 'reverted'
    details['revert_path'] = 'steps'
    try:
        # The common case first, with no extra round trips: the helper still runs in the target's namespace.
        failed = _run_revert_steps(client, helper_id, details)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        if _api_status(exc) not in (404, 409) or not helper_id:
            raise
        helper_id = None
    if helper_id is None:
        try:
            running = client.inspect_container(entry['target']['id'])['State'].get('Running')
        except Exception as exc:  # pylint: disable=broad-exception-caught
            if _api_status(exc) != 404:
                raise
            running = False
        if details.get('helper_id'):
            _docker.remove_helper(client, details['helper_id'])
        if not running:
            return 'target-gone'  # the namespace died with the target: nothing is left to revert
        helper_id = _docker.start_helper(client, details['helper_image'], entry['target']['id'],
                                         {_docker.FAULT_LABEL: entry['fault'] + '-revert'})
        try:
            failed = _run_revert_steps(client, helper_id, details)
        except Exception:
            _docker.remove_helper(client, helper_id)
            raise
    if failed is None:
        details['fault_gone_at'] = time.time()
    _docker.remove_helper(client, helper_id)
    if failed is not None:
        raise RuntimeError('%s failed (rc %s): %s' % (' '.join(failed.argv), failed.rc, failed.stderr.strip()))
    return 'reverted'


def _run_revert_steps(client, helper_id, details):
    if not helper_id:
        return None
    dummy, failed = _docker.run_steps(lambda argv: _docker.exec_in(client, helper_id, argv),
                                      details['steps'], details.get('ok_if', ()))
    return failed


def _revert_with_nsenter(entry):
    """Run the entry's revert argv in the target's network namespace from the host (method nsenter)."""
    client = docker_client(entry['docker'])
    details = entry['details']
    try:
        state = client.inspect_container(entry['target']['id'])['State']
    except Exception as exc:  # pylint: disable=broad-exception-caught
        if _api_status(exc) == 404:
            return 'target-gone'
        raise
    if not state.get('Running') or not state.get('Pid'):
        return 'target-gone'
    dummy, failed = _docker.run_steps(lambda argv: _docker.nsenter_run(state['Pid'], argv),
                                      details['steps'], details.get('ok_if', ()))
    if failed is None:
        details['fault_gone_at'] = time.time()
    if failed is not None:
        raise RuntimeError('%s failed (rc %s): %s' % (' '.join(failed.argv), failed.rc, failed.stderr.strip()))
    return 'reverted'


# action name -> callable(entry) returning a status string; raising means "retry later".
REVERT_ACTIONS = {
    'unpause': _revert_unpause,
    'start': _revert_start,
    'helper_exec': _revert_in_helper,
    'nsenter_exec': _revert_with_nsenter,
}


def perform(entry):
    """Run one entry's revert action; returns (status, error). Records when it began in the entry."""
    entry['began_at'] = time.time()
    action = REVERT_ACTIONS.get(entry.get('action'))
    if action is None:
        return 'failed', 'unknown revert action %r' % entry.get('action')
    try:
        return action(entry), None
    except Exception as exc:  # pylint: disable=broad-exception-caught
        return None, '%s: %s' % (type(exc).__name__, exc)


def revert_now(root, entries):
    """Revert these pending entries at once, in this process; returns the finished entries."""
    finished = []
    for entry in entries:
        if not claim(root, entry['id']):
            continue
        status, error = perform(entry)
        finished.append(finish(root, entry, status or 'failed', error))
    return finished


def discard(root, entries, status='reverted-by-module'):
    """Close pending entries whose revert the caller did itself (e.g. state=unpaused)."""
    closed = []
    for entry in entries:
        if claim(root, entry['id']):
            closed.append(finish(root, entry, status))
    return closed


# --- Arming: the reverter process ----------------------------------------------------------------

def _module_source(module):
    loader = getattr(module, '__loader__', None)
    if loader is not None and hasattr(loader, 'get_source'):
        source = loader.get_source(module.__name__)
        if source:
            return source
    with open(module.__file__) as handle:
        return handle.read()


def _install_runtime(root):
    """Copy the reverter's code (this file and _docker.py) under root/runtime/<hash>/.

    Modules run from a temporary AnsiballZ payload that Ansible deletes when they
    exit, so the reverter needs its own copy, laid out as the same package.
    """
    modules = [sys.modules[__name__], _docker]
    sources = [(module.__name__, _module_source(module)) for module in modules]
    digest = hashlib.sha256(''.join(src for dummy, src in sources).encode('utf-8')).hexdigest()[:16]
    runtime = os.path.join(root, 'runtime', digest)
    if os.path.exists(os.path.join(runtime, 'complete')):
        return runtime
    parts = REVERTER_MODULE.split('.')[:-1]
    _subdir(runtime, os.path.join(*parts))
    for depth in range(1, len(parts) + 1):
        init = os.path.join(runtime, *(parts[:depth] + ['__init__.py']))
        if not os.path.exists(init):
            open(init, 'a').close()
    for name, source in sources:
        target = os.path.join(runtime, *name.split('.')) + '.py'
        tmp = target + '.tmp-' + uuid.uuid4().hex[:8]
        with open(tmp, 'w') as handle:
            handle.write(source)
        os.rename(tmp, target)
    open(os.path.join(runtime, 'complete'), 'a').close()
    return runtime


def _lock_path(root):
    return os.path.join(root, 'reverter.lock')


def reverter_running(root):
    """True when a reverter holds the ledger's lock."""
    try:
        fd = os.open(_lock_path(root), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we may have taken
    return False


def reverter_pid(root):
    try:
        with open(os.path.join(root, 'reverter.pid')) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def _spawn_detached(argv, env, log_path):
    """Start argv as a daemon: double fork, own session, no inherited descriptors.

    Its own session keeps it alive when the controller's process group is killed or
    the SSH session hangs up; the double fork leaves no zombie behind in the module.
    """
    env.pop('PYTHONSTARTUP', None)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)  # pylint: disable=protected-access
            os.chdir('/')
            os.dup2(null_fd, 0)
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
            os.closerange(3, 65536)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)  # pylint: disable=protected-access
    os.close(log_fd)
    os.close(null_fd)
    os.waitpid(pid, 0)


def live_reverter_pid(root):
    """The pid of the reverter holding the ledger, once it has said who it is; else None."""
    if not reverter_running(root):
        return None
    pid = reverter_pid(root)
    if pid is None:
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None  # a stale pid file: the new reverter has the lock but has not written its pid yet
    return pid


def ensure_reverter(root, wait_seconds=5.0):
    """Start the detached reverter for ``root`` unless one runs; returns its pid (None if it never came up)."""
    if not reverter_running(root):
        _spawn_detached([sys.executable, '-m', REVERTER_MODULE, '--ledger-dir', root],
                        dict(os.environ, PYTHONPATH=_install_runtime(root)),
                        os.path.join(root, 'reverter.log'))
    # The reverter takes its lock first and writes its pid just after: wait for both.
    give_up = time.time() + wait_seconds
    while True:
        pid = live_reverter_pid(root)
        if pid is not None or time.time() >= give_up:
            return pid
        time.sleep(0.02)


def arm(root, entries):
    """Record entries and make sure a reverter will perform them; returns (armed, pid)."""
    record(root, entries)
    pid = ensure_reverter(root)
    return pid is not None, pid


class Reverter:
    """The loop of the detached reverter process."""

    def __init__(self, root, idle_exit=IDLE_EXIT_SECONDS):
        self.root = root
        self.idle_exit = idle_exit
        self.lock_fd = None
        self.inflight = set()
        self.inflight_lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=REVERT_WORKERS)
        self.cache = {}  # file name -> (mtime_ns, entry): parse each entry once
        self.arming = {}  # entry id -> Future of its prearm
        self.listing = None  # (directory mtime_ns, listed at ns, entries) of the last listing

    def acquire(self):
        fd = os.open(_lock_path(self.root), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self.lock_fd = fd
        _write_json_atomic(os.path.join(self.root, 'reverter.pid'), os.getpid())
        return True

    def release_lock(self):
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    def pending(self):
        """The pending entries. Entries only enter or leave pending/ by rename, which bumps the directory's
        mtime, so an unchanged directory is not listed again (a listing taken within the timestamp
        granularity of a change is not trusted)."""
        directory = os.path.join(self.root, 'pending')
        try:
            mtime = os.stat(directory).st_mtime_ns
        except OSError:
            mtime = None
        if mtime is not None and self.listing is not None:
            listed_mtime, listed_at, listed = self.listing
            if listed_mtime == mtime and listed_at - mtime > MTIME_MARGIN_NS:
                return listed
        listed_at = time.time_ns()
        entries = self._list_pending(directory)
        self.listing = (mtime, listed_at, entries)
        return entries

    def _list_pending(self, directory):
        entries = []
        seen = set()
        try:
            names = os.listdir(directory)
        except OSError:
            names = []
        for name in names:
            if not name.endswith('.json'):
                continue
            path = os.path.join(directory, name)
            try:
                mtime = os.stat(path).st_mtime_ns
            except OSError:
                continue
            seen.add(name)
            cached = self.cache.get(name)
            if cached is None or cached[0] != mtime:
                try:
                    cached = (mtime, _read_json(path))
                except (OSError, ValueError):
                    continue
                self.cache[name] = cached
            entries.append(cached[1])
        for name in list(self.cache):
            if name not in seen:
                del self.cache[name]
        return entries

    def _run_one(self, entry):
        arming = self.arming.pop(entry['id'], None)
        if arming is not None:
            try:
                arming.result(timeout=PREARM_SECONDS)
            except Exception:  # pylint: disable=broad-exception-caught
                pass  # not armed in time: the steps run one by one
        try:
            status, error = perform(entry)
            if status is not None:
                finish(self.root, entry, status, error)
                return
            entry = dict(entry)
            entry['attempts'] = entry.get('attempts', 0) + 1
            entry['last_error'] = error
            if time.time() - entry['deadline'] > GIVE_UP_AFTER_SECONDS:
                finish(self.root, entry, 'failed', error)
                return
            backoff = RETRY_BACKOFF_SECONDS[min(entry['attempts'], len(RETRY_BACKOFF_SECONDS)) - 1]
            entry['retry_at'] = time.time() + backoff
            release(self.root, entry)
        finally:
            with self.inflight_lock:
                self.inflight.discard(entry['id'])

    def step(self):
        """Dispatch every due entry; returns (pending entries, seconds until the next deadline)."""
        now = time.time()
        entries = self.pending()
        next_due = None
        for entry in entries:
            due = max(entry['deadline'], entry.get('retry_at') or 0)
            if due <= now:
                with self.inflight_lock:
                    if entry['id'] in self.inflight:
                        continue
                if not claim(self.root, entry['id']):
                    continue
                with self.inflight_lock:
                    self.inflight.add(entry['id'])
                self.pool.submit(self._run_one, entry)
            else:
                if prearmable(entry) and not entry.get('attempts') and entry['id'] not in self.arming:
                    if due - PREARM_SECONDS <= now:
                        self.arming[entry['id']] = self.pool.submit(prearm, entry)
                    else:
                        due -= PREARM_SECONDS  # wake up in time to prearm it
                if next_due is None or due < next_due:
                    next_due = due
        self._forget_armed(entries)
        return entries, (None if next_due is None else next_due - now)

    def _forget_armed(self, entries):
        """Close the prearmed processes of entries that left pending without us (a module reverted them)."""
        with self.inflight_lock:
            keep = set(e['id'] for e in entries) | self.inflight
        for entry_id, arming in list(self.arming.items()):
            if entry_id not in keep and arming.done():
                self.arming.pop(entry_id, None)
                _close_armed(_take_armed(entry_id))

    def busy(self):
        with self.inflight_lock:
            return bool(self.inflight)

    def run(self):
        # A few tries: a module probing the lock (reverter_running) holds it for an instant.
        for dummy in range(3):
            if self.acquire():
                break
            time.sleep(0.02)
        else:
            return 0
        recover_claimed(self.root)
        idle_since = None
        while True:
            try:
                entries, wait = self.step()
            except Exception:  # pylint: disable=broad-exception-caught
                # Never die with faults pending: log, and look again.
                traceback.print_exc()
                sys.stderr.flush()
                time.sleep(1)
                continue
            if entries or self.busy():
                idle_since = None
            else:
                idle_since = idle_since or time.time()
                if time.time() - idle_since >= self.idle_exit:
                    # Drop the lock first, then look once more: a module that wrote an entry
                    # after our last look either sees the lock free (and starts a reverter)
                    # or wrote before this look (and we carry on).
                    self.release_lock()
                    if not self.pending() or not self.acquire():
                        break
                    idle_since = None
            time.sleep(POLL_SECONDS if wait is None else max(0.0, min(POLL_SECONDS, wait)))
        self.pool.shutdown(wait=True)
        return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    root = default_ledger_dir()
    if '--ledger-dir' in argv:
        root = argv[argv.index('--ledger-dir') + 1]
    os.umask(0o077)
    return Reverter(root).run()


if __name__ == '__main__':
    raise SystemExit(main())
