# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The background sampler of an experiment: samples every probe at a fixed period from the first steady-state check
to the end of the after-window, while faults go in and out, and holds the experiment's lease.

One daemon per run, forked by the sampler module on the host where the fault modules run, so it shares their
ledger directory (``<ledger>/samplers/<run_id>/``: ``state.json``, ``samples.jsonl``, ``halted.json``).

The lease (``_ledger_store.renew_lease``) is renewed only while the process that drives the experiment lives: the
topmost ``ansible-playbook`` (or ``ansible``) process when the controller runs on this host, else the SSH
session that started us. When it is gone, or a halt marker newer than our start appears, the lease is dropped at
once, so the reverter undoes every fault that holds it without waiting for its deadline.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time

from ansible_collections.chaos.engineering.plugins.module_utils import _ledger_store, _private_files, _process_identity
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import iso_utc

RUN_ID_PATTERN = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$')
SAMPLES_FILE = 'samples.jsonl'
STATE_FILE = 'state.json'
HALT_FILE = 'halted.json'
OWNER_FILE = 'owner.json'
# The daemon's temporary files (a kubeconfig's certificates and keys): private, and removed with the run.
SCRATCH_DIR = 'tmp'
ANSIBLE_COMMANDS = ('ansible-playbook', 'ansible', 'ansible-console')
SSH_COMMANDS = ('sshd', 'sshd-session')
# How often the lease keeper looks at its owner and the halt marker (seconds).
KEEPER_TICK = 0.1
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class SamplerError(Exception):
    """Something the sampler module reports with fail_json."""


# --- Who drives the experiment ---------------------------------------------------------------------------

def _proc_argv(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            return [part.decode('utf-8', 'replace') for part in handle.read().split(b'\0') if part]
    except OSError:
        return []


def _proc_parent(pid):
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return int(handle.read().rsplit(')', 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _proc_comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as handle:
            return handle.read().strip()
    except OSError:
        return ''


def ancestors(pid, parent_of=_proc_parent):
    """The pids above ``pid``, nearest first, up to (not including) init."""
    chain = []
    current = parent_of(pid)
    while current > 1 and current not in chain:
        chain.append(current)
        current = parent_of(current)
    return chain


def find_owner(pid=None, parent_of=_proc_parent, argv_of=_proc_argv, comm_of=_proc_comm, start_of=None):
    """The process whose life is the experiment's: dict(kind, pid, start), or None when none can be told.

    The topmost ansible-playbook/ansible ancestor (the controller itself: its workers die after every task), else
    the nearest SSH session (it ends when the controller's connection closes)."""
    start_of = start_of or _process_identity.process_start
    chain = ancestors(os.getpid() if pid is None else pid, parent_of)
    controller = None
    for ancestor in chain:
        argv = argv_of(ancestor)
        if any(os.path.basename(arg) in ANSIBLE_COMMANDS for arg in argv[:2]):
            controller = ancestor
    if controller is not None:
        return dict(kind='controller', pid=controller, start=start_of(controller))
    for ancestor in chain:
        if comm_of(ancestor) in SSH_COMMANDS:
            return dict(kind='ssh', pid=ancestor, start=start_of(ancestor))
    return None


def adopt(directory, owner):
    """A later task of the experiment over SSH names its own session as the owner: without a persistent SSH
    connection (ControlPersist off, paramiko) every task has a session of its own, and the first one ends at once."""
    if owner and owner.get('kind') == 'ssh':
        _private_files.write_json_atomic(os.path.join(directory, OWNER_FILE), owner)


def owner_alive(owner, start_of=None):
    if not owner:
        return True
    start_of = start_of or _process_identity.process_start
    return owner.get('start') is not None and start_of(owner['pid']) == owner['start']


# --- Files of a run ---------------------------------------------------------------------------------------

def check_run_id(run_id):
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise SamplerError('run_id must be 1 to 128 letters, digits, dots, dashes or underscores, starting with a '
                           'letter or digit, got %r.' % (run_id,))
    return run_id


def run_dir(root, run_id, create=True):
    path = os.path.join(root, 'samplers', check_run_id(run_id))
    if create:
        _private_files.private_dir(os.path.join(root, 'samplers'))
        _private_files.private_dir(path)
    return path


def read_state(directory):
    return _private_files.read_json_or_none(os.path.join(directory, STATE_FILE))


def sampler_alive(state):
    return _process_identity.still_running(state)


def read_halt(directory):
    """What the sampler recorded when it saw a halt: dict(at, reason) or None."""
    return _private_files.read_json_or_none(os.path.join(directory, HALT_FILE))


class SampleReader:
    """Reads samples.jsonl incrementally (a line is only taken once it is complete)."""

    def __init__(self, directory):
        self.path = os.path.join(directory, SAMPLES_FILE)
        self.offset = 0
        self.partial = b''
        self.samples = []

    def read(self):
        try:
            fd = _private_files.open_private(self.path, os.O_RDONLY)
        except (OSError, _ledger_store.LedgerError):
            return self.samples
        with os.fdopen(fd, 'rb') as handle:
            handle.seek(self.offset)
            data = handle.read()
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b'\n')
        self.partial = lines.pop()
        for line in lines:
            try:
                sample = json.loads(line.decode('utf-8'))
            except ValueError:
                continue
            if isinstance(sample, dict):
                self.samples.append(sample)
        return self.samples


# --- What a wait looks for (pure) ---------------------------------------------------------------------

def watch_status(samples, names, since=None, min_samples=1):
    """Over the samples of the probes ``names`` taken at or after ``since`` (ISO text; they sort as times):
    counts, the probes with a failed sample, whether each has ``min_samples`` samples, and whether each held
    (its last ``min_samples`` samples all passed)."""
    per_probe = dict((name, []) for name in names)
    for sample in samples:
        if sample.get('probe') in per_probe and (since is None or (sample.get('at') or '') >= since):
            per_probe[sample['probe']].append(sample)
    failed = [name for name in names if any(not s.get('ok') for s in per_probe[name])]
    sampled = all(len(per_probe[name]) >= min_samples for name in names)
    held = sampled and all(all(s.get('ok') for s in per_probe[name][-min_samples:]) for name in names)
    first_failure = None
    for name in failed:
        bad = next(s for s in per_probe[name] if not s.get('ok'))
        if first_failure is None or bad['at'] < first_failure['at']:
            first_failure = dict(probe=name, at=bad['at'], detail=bad.get('detail'))
    return dict(counts=dict((name, len(per_probe[name])) for name in names), failed_probes=failed,
                sampled=sampled, held=held, first_failure=first_failure)


# --- The daemon -------------------------------------------------------------------------------------------

class Sampler:
    """The loop of the daemon: one thread per probe, each on its own fixed period, and the lease keeper."""

    def __init__(self, root, directory, probes, make_sample, interval, lease, lease_seconds, owner, max_seconds,
                 started):
        self.root = root
        self.directory = directory
        self.probes = probes
        self.make_sample = make_sample  # probe -> f() -> sample dict; called in the probe's own thread
        self.interval = interval
        self.lease = lease
        self.lease_seconds = lease_seconds
        self.owner = owner
        self.max_seconds = max_seconds
        self.started = started
        self.stop = threading.Event()
        self.owner_lost_at = None
        self.write_lock = threading.Lock()
        self.out = None
        self.halted = False

    def _append(self, sample):
        line = (json.dumps(sample, sort_keys=True) + '\n').encode('utf-8')
        with self.write_lock:
            os.write(self.out, line)

    def _probe_loop(self, probe):
        take = self.make_sample(probe)
        first = time.time()
        ticks = 0
        while not self.stop.is_set():
            self._append(take())
            ticks += 1
            # A fixed period: a slow sample does not push the later ones back (late ticks are skipped).
            next_at = first + ticks * self.interval
            now = time.time()
            if next_at < now:
                ticks = int((now - first) // self.interval) + 1
                next_at = first + ticks * self.interval
            self.stop.wait(next_at - now)

    def _halt_seen(self):
        halted_at = _ledger_store.halted_at(self.root)
        return halted_at is not None and halted_at >= self.started

    def _keep_lease(self):
        renewed = 0.0
        while not self.stop.is_set():
            now = time.time()
            if self._owner_gone(now):
                # Nobody drives the experiment any more: its faults go now, and nobody will read the samples.
                self._drop_lease()
                self.stop.set()
                break
            if not self.halted and self._halt_seen():
                self.halted = True
                self._drop_lease()
                marker = _ledger_store.read_halt(self.root) or {}
                _private_files.write_json_atomic(
                    os.path.join(self.directory, HALT_FILE),
                    dict(at=iso_utc(now), by=marker.get('by'), reason=marker.get('reason') or 'halted'))
            if not self.halted and self.lease and now - renewed >= self.lease_seconds / 4.0:
                _ledger_store.renew_lease(self.root, self.lease, self.lease_seconds)
                renewed = now
            if now - self.started >= self.max_seconds:
                self.stop.set()
                break
            self.stop.wait(KEEPER_TICK)

    def _owner_gone(self, now):
        """The controller's death is final. An SSH session's is not: the next task may adopt us with its own
        session, within a lease's time (at least 5 s)."""
        if owner_alive(self.owner):
            self.owner_lost_at = None
            return False
        if self.owner.get('kind') != 'ssh':
            return True
        adopted = _private_files.read_json_or_none(os.path.join(self.directory, OWNER_FILE))
        if isinstance(adopted, dict) and owner_alive(adopted):
            self.owner = adopted
            self.owner_lost_at = None
            return False
        self.owner_lost_at = self.owner_lost_at or now
        return now - self.owner_lost_at >= max(5.0, self.lease_seconds or 0)

    def _drop_lease(self):
        if self.lease:
            _ledger_store.drop_lease(self.root, self.lease)

    def run(self):
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the controller's; we follow its death instead
        self.out = _private_files.open_private(
            os.path.join(self.directory, SAMPLES_FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        threads = [threading.Thread(target=self._probe_loop, args=(probe,)) for probe in self.probes]
        for thread in threads:
            thread.daemon = True
            thread.start()
        try:
            self._keep_lease()
        finally:
            self.stop.set()
            self._drop_lease()
            for thread in threads:
                thread.join(timeout=STOP_TIMEOUT)
            os.close(self.out)
            remove_scratch(self.directory)


def remove_scratch(directory):
    shutil.rmtree(os.path.join(directory, SCRATCH_DIR), ignore_errors=True)


def start(root, run_id, probes, make_sample, interval, lease_seconds, max_seconds, owner, after_fork=None):
    """Fork the daemon for ``run_id`` unless one runs; returns (state, started_now).

    The daemon runs the code this process has already imported (a fork, no exec): the module's own files may be
    removed once the task ends. The lease is taken here, before we return, so faults may hold it at once.
    ``after_fork`` runs first in the daemon: to drop what it must not share with this process, whose exit
    removes its own temporary files."""
    directory = run_dir(root, run_id)
    state = read_state(directory)
    if sampler_alive(state):
        return state, False
    lease = run_id if lease_seconds else None
    started = time.time()
    if lease:
        _ledger_store.renew_lease(root, lease, lease_seconds)
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)  # pylint: disable=protected-access
            os.chdir('/')
            tempfile.tempdir = _private_files.private_dir(os.path.join(directory, SCRATCH_DIR))
            if after_fork is not None:
                after_fork()
            null_fd = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null_fd, fd)
            for name in os.listdir('/proc/self/fd'):
                fd = int(name)
                if fd > 2 and fd != ready_w:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            me = os.getpid()
            state = dict(pid=me, start=_process_identity.process_start(me), run_id=run_id,
                         started=started, started_at=iso_utc(started), interval=interval, lease=lease, lease_seconds=lease_seconds,
                         owner=owner, probes=[p['name'] for p in probes])
            _private_files.write_json_atomic(os.path.join(directory, STATE_FILE), state)
            sampler = Sampler(root, directory, probes, make_sample, interval, lease, lease_seconds, owner,
                              max_seconds, started)
            os.write(ready_w, b'ok')
            os.close(ready_w)
            sampler.run()
            code = 0
        finally:
            os._exit(code)  # pylint: disable=protected-access
    os.close(ready_w)
    os.waitpid(pid, 0)
    give_up = time.time() + START_TIMEOUT
    data = b''
    while time.time() < give_up:
        chunk = os.read(ready_r, 8)
        if not chunk:
            break
        data += chunk
    os.close(ready_r)
    state = read_state(directory)
    if data != b'ok' or not sampler_alive(state):
        if lease:
            _ledger_store.drop_lease(root, lease)
        raise SamplerError('The sampler for run %s did not start.' % run_id)
    return state, True


def stop(root, run_id):
    """Stop the run's sampler and collect its samples; returns (samples, halt, was_running). The run's files
    are removed: the samples now belong to the caller."""
    directory = run_dir(root, run_id, create=False)
    if not os.path.isdir(directory):
        return [], None, False
    state = read_state(directory)
    running = sampler_alive(state)
    if running:
        os.kill(state['pid'], signal.SIGTERM)
        give_up = time.time() + STOP_TIMEOUT
        while sampler_alive(state) and time.time() < give_up:
            time.sleep(0.02)
        if sampler_alive(state):
            os.kill(state['pid'], signal.SIGKILL)
    if state and state.get('lease'):
        _ledger_store.drop_lease(root, state['lease'])
    samples = SampleReader(directory).read()
    halt = read_halt(directory)
    remove_scratch(directory)  # a daemon killed by SIGKILL leaves it
    for name in (SAMPLES_FILE, STATE_FILE, HALT_FILE):
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass
    try:
        os.rmdir(directory)
    except OSError:
        pass
    return samples, halt, running


def watch(root, run_id, names, wait, until='elapsed', since=None, min_samples=1, stop_on_failure=False,
          clock=time.time, sleep=time.sleep):
    """Wait up to ``wait`` seconds for what ``until`` asks (``elapsed``: the whole time; ``sampled``: every probe
    in ``names`` has ``min_samples`` samples; ``held``: and the last of them passed), returning early on a halt,
    on a failed sample when ``stop_on_failure``, or when the sampler is gone. Returns what it saw."""
    directory = run_dir(root, run_id, create=False)
    reader = SampleReader(directory)
    began = clock()
    while True:
        samples = reader.read()
        status = watch_status(samples, names, since, min_samples)
        halted_at = _ledger_store.halted_at(root)
        halt = read_halt(directory) or (halted_at is not None and halted_at >= _started_epoch(directory))
        state = read_state(directory)
        alive = sampler_alive(state)
        done = (until == 'sampled' and status['sampled']) or (until == 'held' and status['held'])
        failed = stop_on_failure and bool(status['failed_probes'])
        waited = clock() - began
        if done or failed or halt or not alive or waited >= wait:
            status.update(halted=bool(halt), sampler_running=alive, waited=round(waited, 3),
                          reached=bool(done) or (until == 'elapsed' and waited >= wait and not failed and not halt),
                          samples_seen=len(samples))
            return status
        sleep(min(0.1, max(0.0, wait - waited)))


def _started_epoch(directory):
    state = read_state(directory) or {}
    started = state.get('started')
    return started if isinstance(started, (int, float)) else float('inf')
