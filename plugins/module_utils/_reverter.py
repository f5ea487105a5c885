# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The detached reverter: the process that performs the ledger's entries at their deadlines or lease ends.

One reverter per ledger directory (started on demand, in its own session, so it survives the controller being
SIGKILLed or the SSH connection dropping) sleeps until the next deadline and performs the revert. A single
process serves every pending fault, so 200 armed reverts cost one interpreter, not 200. While the module that
wrote an entry ahead of its fault lives, the reverter waits for it to settle the entry; when it died (SIGKILL at
any instant) the entry is performed at its provisional deadline, which is never later than the real one.

It runs from a private copy of its code (runtime/<hash>/ in the ledger: RUNTIME_MODULES, verified before it is
executed), as ``python -m`` REVERTER_MODULE, so it and every file it imports import nothing from Ansible
unguarded. The revert actions come from the fault families' files (families()), each with its REVERT_ACTIONS.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import hashlib
import importlib
import os
import sys
import threading
import time
import traceback
import uuid

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.chaos.engineering.plugins.module_utils import _host_exec
from ansible_collections.chaos.engineering.plugins.module_utils._ledger_store import (
    arming_alive,
    check_root,
    claim,
    default_ledger_dir,
    finish,
    lease_expired,
    load_entry,
    quarantine,
    record,
    recover_claimed,
    release,
)
from ansible_collections.chaos.engineering.plugins.module_utils._private_files import (
    LedgerError,
    file_text,
    open_private,
    private_dir,
    read_json_or_none,
    write_json_atomic,
)
from ansible_collections.chaos.engineering.plugins.module_utils._process_identity import (
    pid_alive,
    still_running,
    this_process,
)

PACKAGE = 'ansible_collections.chaos.engineering.plugins.module_utils'
REVERTER_MODULE = PACKAGE + '._reverter'
# The module_utils files the reverter runs from: this one and every file of ours it imports, directly or not.
# The unit test test_reverter_runtime.py fails when one is missing.
RUNTIME_MODULES = (
    '_reverter',
    '_ledger_store',
    '_private_files',
    '_process_identity',
    '_revert_client',
    '_revert_container_state',
    '_revert_network',
    '_revert_stress',
    '_stress_plan',
    '_cgroup_v2_move',
    '_docker',
    '_docker_ssh',
    '_docker_exec',
    '_docker_helpers',
    '_errors',
    '_host_exec',
    '_kubelet',
    '_runtime',
    '_runtime_docker',
    '_runtime_podman',
    '_runtime_containerd',
    '_containerd_stress',
    '_runtime_select',
    '_timefmt',
)

# The reverter exits after this long with nothing pending; the next armed fault starts a new one.
IDLE_EXIT_SECONDS = 5.0
POLL_SECONDS = 0.05
# Directory mtimes come from a coarse clock: a listing this soon after a change may have missed it.
MTIME_MARGIN_NS = 50 * 1000 * 1000
# While listed entries wait to be settled, an unchanged listing is said again this often (see Reverter.pending).
RECONFIRM_NS = 100 * 1000 * 1000
RETRY_BACKOFF_SECONDS = (1, 2, 5, 10, 30)
GIVE_UP_AFTER_SECONDS = 3600
# A helper_exec entry with batches gets its revert processes started this long before its deadline,
# so that at the deadline only their input is written (see _docker_helpers.StdinExec).
PREARM_SECONDS = 3.0
METHOD = 'ledger-reverter'
# How long a module waits for a reverter to confirm a written-ahead entry; longer while a reverter process lives.
START_WAIT_SECONDS = 10.0
START_WAIT_MAX_SECONDS = 120.0
# How long revert_now waits for entries the reverter is performing at that moment (a revert takes a second or two).
REVERT_NOW_WAIT_SECONDS = 30.0
# Reverters we start that die before confirming: after this many, waiting longer will not help.
SPAWN_ATTEMPTS = 5
# A starting reverter retries the lock this long: a module probing it holds it shared for an instant.
ACQUIRE_SECONDS = 5.0
# A written-ahead entry past its deadline waits this long at most for its (live) module to settle it.
ARMING_PATIENCE_SECONDS = 120.0


# action name -> callable(entry) returning a status string; raising means "retry later". Filled by families().
REVERT_ACTIONS = {}
_FAMILIES = []  # the loaded families(), once


def families():
    """The fault families' files, whose REVERT_ACTIONS the reverter performs; a new family adds its file here (and
    to RUNTIME_MODULES). Imported on first use, not with this file: they load the engines' clients (the docker SDK),
    most of a reverter's start-up, and a starting reverter confirms its first listing before that (see run)."""
    if _FAMILIES:
        return _FAMILIES[0]  # each step asks, per entry: once loaded, a lookup
    # pylint: disable-next=import-outside-toplevel
    from ansible_collections.chaos.engineering.plugins.module_utils import (
        _revert_container_state,
        _revert_network,
        _revert_stress,
    )
    found = (_revert_container_state, _revert_network, _revert_stress)
    for family in found:
        for name, action in family.REVERT_ACTIONS.items():
            REVERT_ACTIONS.setdefault(name, action)
    _FAMILIES[:] = [found]
    return found


def _network_family():
    return families()[1]


def _revert_workers():
    """As many revert workers as each engine's client keeps connections (see _revert_client)."""
    # pylint: disable-next=import-outside-toplevel
    from ansible_collections.chaos.engineering.plugins.module_utils import _revert_client
    return _revert_client.REVERT_WORKERS


def perform(entry):
    """Run one entry's revert action; returns (status, error). Records when it began in the entry."""
    entry['began_at'] = time.time()
    families()
    action = REVERT_ACTIONS.get(entry.get('action'))
    if action is None:
        return 'failed', 'unknown revert action %r' % entry.get('action')
    try:
        return action(entry), None
    except Exception as exc:  # pylint: disable=broad-exception-caught
        return None, '%s: %s' % (type(exc).__name__, exc)


def revert_now(root, entries, wait_seconds=REVERT_NOW_WAIT_SECONDS):
    """Revert these pending entries at once, in this process; returns the finished entries.

    An entry the reverter took meanwhile (its deadline came) is being performed there: wait for it to be done
    (up to ``wait_seconds``), so that when this returns every one of them is reverted, whoever did it."""
    finished = []
    taken = []
    for entry in entries:
        if not claim(root, entry['id']):
            taken.append(entry['id'])
            continue
        status, error = perform(entry)
        finished.append(finish(root, entry, status or 'failed', error))
    give_up = time.time() + wait_seconds
    while taken and time.time() < give_up:
        taken = [i for i in taken if os.path.lexists(os.path.join(root, 'claimed', i + '.json'))]
        if taken:
            time.sleep(POLL_SECONDS)
    return finished


# --- The runtime copy of the reverter's code -------------------------------------------------------------

def _module_source(module):
    loader = getattr(module, '__loader__', None)
    if loader is not None and hasattr(loader, 'get_source'):
        source = loader.get_source(module.__name__)
        if source:
            return source
    with open(module.__file__) as handle:
        return handle.read()


def _runtime_files():
    """(relative path, text) of every file the reverter runs from: the RUNTIME_MODULES and their packages."""
    parts = REVERTER_MODULE.split('.')[:-1]
    files = [(os.path.join(*(parts[:depth] + ['__init__.py'])), '') for depth in range(1, len(parts) + 1)]
    for name in RUNTIME_MODULES:
        module = importlib.import_module('%s.%s' % (PACKAGE, name))
        files.append((os.path.join(*module.__name__.split('.')) + '.py', _module_source(module)))
    return files


def _install_runtime(root):
    """Copy the reverter's code under root/runtime/<hash>/ and verify it; returns the directory.

    Modules run from a temporary AnsiballZ payload that Ansible deletes when they exit, so the reverter needs
    its own copy, laid out as the same package. Every directory is private and ours, and every file is read
    back and compared with the code of this very module before the reverter runs from it: a copy that
    someone changed is rewritten, never executed.
    """
    files = _runtime_files()
    digest = hashlib.sha256(''.join(text for dummy, text in files).encode('utf-8')).hexdigest()[:16]
    runtime = private_dir(os.path.join(private_dir(os.path.join(root, 'runtime')), digest))
    for relative, text in files:
        directory = runtime
        for part in os.path.dirname(relative).split(os.sep):
            directory = private_dir(os.path.join(directory, part))
        path = os.path.join(runtime, relative)
        if file_text(path) != text:
            tmp = '%s.tmp-%s' % (path, uuid.uuid4().hex[:8])
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, 'w') as handle:
                handle.write(text)
            os.rename(tmp, path)
            if file_text(path) != text:
                raise LedgerError('The reverter\'s runtime copy at %s changed while it was written.' % path)
    return runtime


# --- The lock: one reverter per ledger -------------------------------------------------------------------

def _lock_path(root):
    return os.path.join(root, 'reverter.lock')


def _open_lock(root):
    try:
        return open_private(_lock_path(root), os.O_RDWR | os.O_CREAT)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LedgerError('Refusing %s: it is a symlink.' % _lock_path(root))
        raise


def reverter_running(root):
    """True when a reverter holds the ledger's lock.

    The probe takes the lock shared, never exclusive, and only for an instant; a starting reverter retries its
    exclusive lock for a while (ACQUIRE_SECONDS), so a probe cannot make it give up."""
    try:
        fd = _open_lock(root)
    except (OSError, LedgerError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we may have taken
    return False


def reverter_state(root):
    """What the running reverter last said: pid, start (of its process) and listed_at (ns, when its last listing
    of pending/ began), or None."""
    state = read_json_or_none(os.path.join(root, 'reverter.state'))
    if not isinstance(state, dict) or not isinstance(state.get('pid'), int) or \
            not isinstance(state.get('listed_at'), int):
        return None
    return state


# --- Arming: starting the reverter and waiting for its word ----------------------------------------------

def _spawn_detached(argv, env, log_path):
    """Start argv as a daemon: double fork, own session, no inherited descriptors; returns the daemon's pid.

    Its own session keeps it alive when the controller's process group is killed or
    the SSH session hangs up; the double fork leaves no zombie behind in the module.
    """
    env.pop('PYTHONSTARTUP', None)
    log_fd = open_private(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    pid_r, pid_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.setsid()
            grandchild = os.fork()
            if grandchild != 0:
                os.write(pid_w, str(grandchild).encode('ascii'))
                os._exit(0)  # pylint: disable=protected-access
            os.chdir('/')
            os.dup2(null_fd, 0)
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
            os.closerange(3, 65536)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)  # pylint: disable=protected-access
    os.close(pid_w)
    os.close(log_fd)
    os.close(null_fd)
    data = b''
    while True:
        chunk = os.read(pid_r, 32)
        if not chunk:
            break
        data += chunk
    os.close(pid_r)
    os.waitpid(pid, 0)
    return int(data) if data.isdigit() else None


def _log_tail(root, limit=600):
    try:
        text = file_text(os.path.join(root, 'reverter.log')) or ''
    except (OSError, LedgerError):
        return ''
    return text[-limit:].strip()


def ensure_reverter(root, confirm_after=None, wait_seconds=START_WAIT_SECONDS):
    """Make sure a reverter runs for ``root`` and, with ``confirm_after`` (time_ns), that it has listed pending/
    since then; returns its pid, or None if that never happened.

    The wait adapts to a slow host: past ``wait_seconds`` it goes on, up to START_WAIT_MAX_SECONDS, for as long as
    a reverter process lives (one we started, or the lock holder)."""
    started = time.time()
    spawned = None
    runtime = None
    died = 0
    while True:
        state = reverter_state(root)
        confirmed = state is not None and (confirm_after is None or state['listed_at'] > confirm_after)
        if confirmed and still_running(state):
            return state['pid']
        running = reverter_running(root)
        if not running and not pid_alive(spawned):
            # A lock we cannot trust (a symlink) will not become trustworthy by waiting: say so now.
            os.close(_open_lock(root))
            if spawned is not None:
                died += 1
            if died >= SPAWN_ATTEMPTS:
                return None  # reverters that die at once will not live if we wait: see the log (arm_failure)
            runtime = runtime or _install_runtime(root)
            path = os.pathsep.join([os.environ.get('PATH', '')] + list(_host_exec.TOOL_DIRS))
            spawned = _spawn_detached([sys.executable, '-m', REVERTER_MODULE, '--ledger-dir', root],
                                      dict(os.environ, PYTHONPATH=runtime, PYTHONDONTWRITEBYTECODE='1', PATH=path),
                                      os.path.join(root, 'reverter.log'))
        elapsed = time.time() - started
        if elapsed >= START_WAIT_MAX_SECONDS or (elapsed >= wait_seconds and not (running or pid_alive(spawned))):
            return None
        time.sleep(0.02)


def arm(root, entries):
    """Write-ahead: record entries durably and wait until a live reverter has seen them; returns (armed, pid).

    Call BEFORE the fault goes in. Each entry gets ``armed_by`` (this process), so the reverter waits for us to
    settle it (see settle) while we live, and performs it at its provisional deadline if we die first."""
    owner = this_process()
    for entry in entries:
        entry['armed_by'] = owner
        entry.pop('applied', None)
    record(root, entries, durable=True)
    confirm_after = time.time_ns()
    # A running reverter does not list an unchanged pending/ again (see Reverter.pending), and the fsyncs above may
    # have outlasted its trust margin since the last rename: without a change after confirm_after, it would never
    # confirm. Touching the directory makes its next listing begin after confirm_after.
    os.utime(os.path.join(root, 'pending'))
    pid = ensure_reverter(root, confirm_after=confirm_after)
    return pid is not None, pid


def arm_failure(root):
    """The message for a reverter that did not confirm, with what its log says."""
    tail = _log_tail(root)
    return 'no reverter confirmed the revert within %d s%s' % (
        START_WAIT_MAX_SECONDS if reverter_running(root) else START_WAIT_SECONDS,
        (': %s' % tail.splitlines()[-1]) if tail else ' (see %s)' % os.path.join(root, 'reverter.log'))


class Reverter:
    """The loop of the detached reverter process."""

    def __init__(self, root, idle_exit=IDLE_EXIT_SECONDS):
        self.root = root
        self.idle_exit = idle_exit
        self.lock_fd = None
        self.inflight = set()
        self.inflight_lock = threading.Lock()
        self._pool = None  # made on first use: see _submit
        self.cache = {}  # file name -> (mtime_ns, entry): parse each entry once
        self.arming = {}  # entry id -> Future of its prearm
        self.listing = None  # (directory mtime_ns, listed at ns, entries) of the last listing
        self.said_at = 0  # ns, the listed_at we last said (see pending)
        self.owner = this_process()

    def acquire(self, patience=ACQUIRE_SECONDS):
        """Take the ledger's lock, retrying for ``patience`` seconds (a module's probe holds it shared for an
        instant); then say who we are. False when another reverter holds it."""
        fd = _open_lock(self.root)
        give_up = time.time() + patience
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.time() >= give_up:
                    os.close(fd)
                    return False
                time.sleep(0.01)
        self.lock_fd = fd
        write_json_atomic(os.path.join(self.root, 'reverter.pid'), os.getpid())
        return True

    def release_lock(self):
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    def _say_listed(self, listed_at):
        """Confirm to arming modules that every entry written before ``listed_at`` is in our hands."""
        if self.lock_fd is None:
            return
        state = dict(self.owner, listed_at=listed_at)
        write_json_atomic(os.path.join(self.root, 'reverter.state'), state)
        self.said_at = listed_at

    def pending(self):
        """The pending entries. Entries only enter or leave pending/ by rename, which bumps the directory's
        mtime, so an unchanged directory is not listed again (a listing taken within the timestamp
        granularity of a change is not trusted)."""
        directory = os.path.join(self.root, 'pending')
        now = time.time_ns()
        try:
            mtime = os.stat(directory).st_mtime_ns
        except OSError:
            mtime = None
        if mtime is not None and self.listing is not None:
            listed_mtime, listed_at, listed = self.listing
            if listed_mtime == mtime and listed_at - mtime > MTIME_MARGIN_NS:
                # Unchanged since: as good as a listing taken now. A module waits for a listing later than its
                # confirm time, taken once its entries are durable; under load we may list them before that
                # (and never again), so say it again while entries wait to be settled.
                if now - self.said_at >= RECONFIRM_NS and any(not e.get('applied') for e in listed):
                    self._say_listed(now)
                return listed
        listed_at = time.time_ns()
        entries = self._list_pending(directory)
        self.listing = (mtime, listed_at, entries)
        self._say_listed(listed_at)
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
                mtime = os.lstat(path).st_mtime_ns
            except OSError:
                continue
            cached = self.cache.get(name)
            if cached is None or cached[0] != mtime:
                entry, reason = load_entry(path)
                if reason is not None:
                    # Not what we write: set aside, so that it can neither run nor block the others.
                    quarantine(self.root, name, reason)
                    continue
                if entry is None:
                    continue  # renamed meanwhile
                cached = self.cache[name] = (mtime, entry)
            seen.add(name)
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
        except Exception:  # pylint: disable=broad-exception-caught
            traceback.print_exc()  # the entry stays claimed; a restarted reverter takes it back
        finally:
            with self.inflight_lock:
                self.inflight.discard(entry['id'])

    def _fresh(self, entry):
        """The entry as pending/ holds it now, or None when it left pending or is no longer an entry of ours."""
        fresh, reason = load_entry(os.path.join(self.root, 'pending', entry['id'] + '.json'))
        return None if reason is not None else fresh

    def _lease_expired(self, name, now, leases):
        """lease_expired, read once per step: ``leases`` is that step's cache."""
        if name not in leases:
            leases[name] = lease_expired(self.root, name, now)
        return leases[name]

    def _due(self, entry, now, leases=None):
        """When to perform ``entry``: at its deadline, or at once when its lease expired (a failed attempt still
        waits for its retry time). A written-ahead entry whose module still lives and has not settled it waits
        for the module (its fault may be going in right now), for ARMING_PATIENCE_SECONDS at most."""
        deadline = entry['deadline']
        patience_until = deadline + ARMING_PATIENCE_SECONDS
        if entry.get('lease') and self._lease_expired(entry['lease'], now, {} if leases is None else leases):
            deadline = min(deadline, now)
            # The arming began when the entry was written: the patience counts from there, not from a far deadline.
            patience_until = min(patience_until, entry['created_at'] + ARMING_PATIENCE_SECONDS)
        due = max(deadline, entry.get('retry_at') or 0)
        if due <= now and arming_alive(entry) and now < patience_until:
            return now + POLL_SECONDS
        return due

    def step(self):
        """Dispatch every due entry; returns (pending entries, seconds until the next deadline)."""
        now = time.time()
        entries = self.pending()
        next_due = None
        leases = {}  # each lease is read at most once per step
        for entry in entries:
            due = self._due(entry, now, leases)
            if due <= now and entry.get('armed_by') and not entry.get('applied'):
                # Due at its provisional deadline because its module is gone: the listing may predate the settle
                # that module wrote just before it exited. Read the entry again, now that the module is known gone.
                entry = self._fresh(entry)
                if entry is None:
                    continue
                due = self._due(entry, now, leases)
            if due <= now:
                with self.inflight_lock:
                    if entry['id'] in self.inflight:
                        continue
                if not claim(self.root, entry['id']):
                    continue
                if entry['deadline'] > now and leases.get(entry.get('lease')):
                    entry = dict(entry, ended_by='lease')  # done/ says why it came before its deadline
                with self.inflight_lock:
                    self.inflight.add(entry['id'])
                self._submit(self._run_one, entry)
            else:
                if _network_family().prearmable(entry) and not entry.get('attempts') and entry['id'] not in self.arming:
                    if due - PREARM_SECONDS <= now:
                        self.arming[entry['id']] = self._submit(_network_family().prearm, entry)
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
                _network_family().drop_prearmed(entry_id)

    def _submit(self, call, *args):
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=_revert_workers())
        return self._pool.submit(call, *args)

    def busy(self):
        with self.inflight_lock:
            return bool(self.inflight)

    def run(self):
        if not self.acquire():
            return 0
        recover_claimed(self.root)
        # The revert code loads while the first listing confirms the waiting module's entries: a module's arming
        # waits for that listing, not for the docker SDK's import (their first deadline is a second away at least).
        threading.Thread(target=families, name='load-families', daemon=True).start()
        idle_since = None
        while True:
            if not os.path.isdir(self.root):
                break  # the ledger was removed under us: nothing is left to revert, and nobody could arm here
            try:
                entries, wait = self.step()
            except Exception:  # pylint: disable=broad-exception-caught
                # Never die with faults pending: log, and look again.
                traceback.print_exc()
                sys.stderr.flush()
                self.listing = None
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
                    self.listing = None
                    if not self.pending() or not self.acquire(patience=0):
                        break
                    self.listing = None  # list again under the lock, and confirm what we saw
                    idle_since = None
            time.sleep(POLL_SECONDS if wait is None else max(0.0, min(POLL_SECONDS, wait)))
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    root = default_ledger_dir()
    if '--ledger-dir' in argv:
        root = argv[argv.index('--ledger-dir') + 1]
    os.umask(0o077)
    try:
        root = check_root(root)
    except LedgerError as exc:
        sys.stderr.write('reverter: %s\n' % exc)
        return 1
    return Reverter(root).run()


if __name__ == '__main__':
    raise SystemExit(main())
