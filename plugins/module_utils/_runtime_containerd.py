# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The containerd implementation of the runtime seam (_runtime.ContainerRuntime), over containerd's own CLI, ctr.

Why ctr and not the gRPC API: containerd's API is gRPC with protobuf types that only its Go client ships; from
Python it needs grpcio plus stubs generated from containerd's .proto files, pinned to a containerd version, on
every managed host and in the detached reverter. ctr comes with containerd itself (Debian's containerd package
installs /usr/bin/ctr), always speaks the daemon's own API version, and is run as an argv (never a shell):
``ctr --address SOCK --namespace NS ...``, with JSON where ctr gives it (``ctr containers info``). The cost is a
process per call, which is small beside a fault's duration.

Names: a Kubernetes container (io.kubernetes.pod.namespace/pod.name/container.name labels) is named
``namespace/pod/container``, as Pumba names it; any other by its id. CRI sandboxes (io.cri-containerd.kind=sandbox)
are never candidates; the kubelet's containers are protected as on Docker (_kubelet.protection_reason). Network
faults go in through nsenter into the task's network namespace (the host's tc and iptables), with no helper;
container_stress's helpers are containerd containers of ours (_containerd_stress). Imports nothing from Ansible:
the detached reverter runs it (see _reverter.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time
import uuid

from ansible_collections.chaos.engineering.plugins.module_utils import _containerd_stress, _host_exec, _kubelet
from ansible_collections.chaos.engineering.plugins.module_utils._runtime import ContainerRuntime

DEFAULT_SOCKET = '/run/containerd/containerd.sock'
DEFAULT_NAMESPACE = 'k8s.io'
CONNECT_TIMEOUT = '5s'

CRI_KIND = 'io.cri-containerd.kind'
CRI_SANDBOX = 'sandbox'

# ctr's task status -> the state names the selection uses (Docker's).
TASK_STATES = {'RUNNING': 'running', 'PAUSED': 'paused', 'PAUSING': 'paused', 'STOPPED': 'exited',
               'CREATED': 'created', 'UNKNOWN': 'unknown'}

# What ctr's error messages mean (see error_kind).
GONE_MARKERS = ('not found', 'no such process', 'process already finished')
WRONG_STATE_MARKERS = ('cannot resume', 'cannot pause', 'not paused', 'not running', 'already paused',
                       'failed precondition', 'already exists', 'is not stopped')

STOP_POLL_SECONDS = 0.1


class CtrError(Exception):
    """A ctr call that failed: its argv (without the connection flags), exit code and message."""

    def __init__(self, args, rc, stderr):
        self.args_run = list(args)
        self.rc = rc
        self.stderr = (stderr or '').strip()
        what = ' '.join(self.args_run[:3])
        super(CtrError, self).__init__('ctr %s failed (rc %s): %s' % (what, rc, self.stderr or 'no message'))


def parse_task_list(text):
    """``ctr tasks ls`` (TASK PID STATUS) -> {container id: (pid, STATUS)}."""
    tasks = {}
    for line in (text or '').splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3:
            tasks[fields[0]] = (int(fields[1]) if fields[1].isdigit() else 0, fields[2].upper())
    return tasks


def kubernetes_name(labels):
    """``namespace/pod/container`` for a Kubernetes container (as Pumba names it), or None."""
    labels = labels or {}
    parts = [labels.get(key) for key in (_kubelet.POD_NAMESPACE, _kubelet.POD_NAME, _kubelet.CONTAINER_NAME)]
    return '/'.join(parts) if all(parts) else None


def is_cri_sandbox(labels):
    return (labels or {}).get(CRI_KIND) == CRI_SANDBOX


def candidate_of(info, tasks):
    """A selection candidate from ``ctr containers info`` JSON and the parsed task list."""
    labels = info.get('Labels') or {}
    pid_status = tasks.get(info['ID'])
    state = TASK_STATES.get(pid_status[1], pid_status[1].lower()) if pid_status else 'created'
    return dict(id=info['ID'], name=kubernetes_name(labels) or info['ID'], labels=labels, state=state,
                image=info.get('Image'))


def parse_addresses(text):
    """``ip -o addr show scope global`` -> the addresses (without prefix lengths)."""
    found = []
    for line in (text or '').splitlines():
        fields = line.split()
        for family in ('inet', 'inet6'):
            if family in fields and fields.index(family) + 1 < len(fields):
                found.append(fields[fields.index(family) + 1].split('/')[0])
    return found


def error_kind_of(exc):
    text = str(getattr(exc, 'stderr', '') or exc).lower()
    if any(marker in text for marker in GONE_MARKERS):
        return 'gone'
    if any(marker in text for marker in WRONG_STATE_MARKERS):
        return 'wrong-state'
    return None


class ContainerdRuntime(ContainerRuntime):
    """One containerd socket and namespace, through ctr."""

    uses_helpers = False  # network faults go in with nsenter (see module docstring)

    def __init__(self, socket=DEFAULT_SOCKET, namespace=DEFAULT_NAMESPACE, run=None):
        self.socket = socket or DEFAULT_SOCKET
        self.namespace = namespace or DEFAULT_NAMESPACE
        self._run = run or _host_exec.run_argv
        self.ctr_path = _host_exec.find_tool('ctr') or 'ctr'

    def ctr(self, *args):
        """Run ``ctr --address SOCK --namespace NS args...``; the stdout, or CtrError."""
        result = self._run([self.ctr_path, '--address', self.socket, '--namespace', self.namespace,
                            '--connect-timeout', CONNECT_TIMEOUT] + list(args))
        if not result.ok:
            raise CtrError(args, result.rc, result.stderr)
        return result.stdout

    def check(self):
        """Does containerd answer on our socket? Raises CtrError (or OSError) when it does not."""
        if not os.path.exists(self.socket):
            raise CtrError(['version'], None, 'no such socket: %s' % self.socket)
        self.ctr('version')

    def describe(self):
        return 'containerd_socket=%s (namespace %s)' % (self.socket, self.namespace)

    # --- candidates and lifecycle ---

    def tasks(self):
        return parse_task_list(self.ctr('tasks', 'ls'))

    def info(self, container_id):
        return json.loads(self.ctr('containers', 'info', container_id))

    def _infos(self):
        infos = []
        for container_id in self.ctr('containers', 'ls', '-q').split():
            try:
                infos.append(self.info(container_id))
            except CtrError as exc:
                if error_kind_of(exc) != 'gone':  # removed since the listing: not a candidate
                    raise
        return infos

    def candidates(self, states):
        wanted = set(states)
        tasks = self.tasks()
        infos = self._infos()
        sandboxes = dict(((i.get('Labels') or {}).get(_kubelet.POD_UID), i.get('Labels') or {})
                         for i in infos if is_cri_sandbox(i.get('Labels')))
        found = []
        for info in infos:
            if is_cri_sandbox(info.get('Labels')):
                continue  # holds the pod's namespaces: never a target
            candidate = candidate_of(info, tasks)
            if candidate['state'] not in wanted:
                continue
            reason = _kubelet.protection_reason(candidate, sandboxes)
            if reason:
                candidate['protected_reason'] = reason
            found.append(candidate)
        return found

    def kill(self, container_id, signal):
        self.ctr('tasks', 'kill', '--signal', signal, container_id)

    def _task_status(self, container_id):
        return (self.tasks().get(container_id) or (0, None))[1]

    def _wait_stopped(self, container_id, timeout):
        deadline = time.time() + timeout
        while True:
            if self._task_status(container_id) in (None, 'STOPPED'):
                return True
            if time.time() >= deadline:
                return False
            time.sleep(STOP_POLL_SECONDS)

    def _kill_and_wait(self, container_id):
        """SIGKILL, and wait for the task to stop; a task that ended meanwhile is fine."""
        try:
            self.kill(container_id, 'SIGKILL')
        except CtrError as exc:
            if error_kind_of(exc) != 'gone':
                raise
        self._wait_stopped(container_id, 10)

    def stop(self, container_id, timeout):
        self.kill(container_id, 'SIGTERM')
        if not self._wait_stopped(container_id, timeout):
            self._kill_and_wait(container_id)

    def remove(self, container_id, volumes=False):
        """The task killed and deleted, then the container and its snapshot (containerd has no volumes)."""
        status = self._task_status(container_id)
        if status is not None:
            if status != 'STOPPED':
                self._kill_and_wait(container_id)
            self.ctr('tasks', 'delete', container_id)
        self.ctr('containers', 'delete', container_id)

    def start(self, container_id):
        """A new task for the container (a stopped task is deleted first, as containerd needs)."""
        if self._task_status(container_id) == 'STOPPED':
            self.ctr('tasks', 'delete', container_id)
        self.ctr('tasks', 'start', '--detach', container_id)

    def pause(self, container_id):
        self.ctr('tasks', 'pause', container_id)

    def unpause(self, container_id):
        self.ctr('tasks', 'resume', container_id)

    def error_kind(self, exc):
        return error_kind_of(exc)

    # --- containers the kubelet owns ---

    def owner_pod(self, container_id):
        return _kubelet.pod_of(self.info(container_id).get('Labels'))

    def _replacement(self, pod, old_id):
        tasks = self.tasks()
        for info in self._infos():
            labels = info.get('Labels') or {}
            if (info['ID'] != old_id and labels.get(_kubelet.POD_UID) == pod['uid']
                    and labels.get(_kubelet.CONTAINER_NAME) == pod['container'] and not is_cri_sandbox(labels)):
                return candidate_of(info, tasks)
        return None

    def kubelet_restart_verdict(self, pod, container_id):
        found = self._replacement(pod, container_id)
        if found is None:
            return 'kubelet-owned', dict(replacement=None)
        return 'kubelet-owned', dict(replacement=dict(id=found['id'], name=found['name'],
                                                      running=found['state'] == 'running'))

    # --- recovery of a killed container ---

    def recovery_baseline(self, container_id):
        # A task has no start time in ctr's output; its pid changes with every new task.
        return dict(started_at=(self.tasks().get(container_id) or (None, None))[0])

    def container_back(self, entry):
        if entry.get('pod'):
            found = self._replacement(entry['pod'], entry['id'])
            entry.update(state=found['state'] if found else 'no replacement yet', health=None)
            return bool(found and found['state'] == 'running')
        try:
            self.info(entry['id'])
        except CtrError as exc:
            if error_kind_of(exc) != 'gone':
                raise
            entry.update(state='removed', health=None)
            return False
        pid, status = self.tasks().get(entry['id']) or (None, None)
        state = TASK_STATES.get(status, 'created') if status else 'created'
        entry.update(state=state, health=None)
        return state == 'running' and pid != entry['started_at']

    # --- network namespaces ---

    def running_containers(self):
        tasks = self.tasks()
        return [dict(id=c['id'], name=c['name'], network_mode='default')
                for c in (candidate_of(i, tasks) for i in self._infos() if not is_cri_sandbox(i.get('Labels')))
                if c['state'] in ('running', 'paused')]

    def _find(self, name):
        tasks = self.tasks()
        for info in self._infos():
            candidate = candidate_of(info, tasks)
            if name in (candidate['id'], candidate['name']):
                return candidate
        return None

    def addresses(self, name):
        found = self._find(name)
        if found is None:
            return None
        pid = self.netns_pid(found['id'])
        if not pid:
            return []
        result = _host_exec.nsenter_run(pid, ['ip', '-o', 'addr', 'show', 'scope', 'global'])
        return parse_addresses(result.stdout) if result.ok else []

    def netns_pid(self, container_id):
        """The task's pid (looked up now: a new task has a new pid), or None when no task runs."""
        pid, status = self.tasks().get(container_id) or (None, None)
        return pid if status in ('RUNNING', 'PAUSED', 'PAUSING') and pid else None

    def has_image(self, image):
        return _containerd_stress.image_ref(image) in self.ctr('images', 'ls', '-q').split()

    def start_helper(self, image, target_id, labels, expires_at=None, network_mode=None):
        raise CtrError(['run'], None, 'runtime=containerd runs network faults with nsenter, not helper containers')

    def list_helpers(self):
        return _containerd_stress.list_helpers(self)  # container_stress's: nsenter leaves nothing behind

    def exec(self, container_id, argv, timeout=None, user=None, workdir=None, env=None):
        """Run argv in the container's task, as a new process with an exec id of its own."""
        args = ['tasks', 'exec', '--exec-id', 'chaos-%s' % uuid.uuid4().hex[:12]]
        if user is not None:
            args += ['--user', str(user)]
        if workdir is not None:
            args += ['--cwd', workdir]
        command = list(argv)
        if env:  # ctr exec has no --env: the container's own env(1) sets them, still no shell
            command = ['env'] + ['%s=%s' % (k, v) for k, v in sorted(env.items())] + command
        full = [self.ctr_path, '--address', self.socket, '--namespace', self.namespace,
                '--connect-timeout', CONNECT_TIMEOUT] + args + [container_id] + command
        if timeout is not None:
            full = [_host_exec.find_tool('timeout') or 'timeout', '--kill-after=5', str(int(timeout))] + full
        result = self._run(full)
        result.argv = list(argv)
        return result

    def remove_helper(self, helper_id):
        _containerd_stress.remove_helper(self, helper_id)

    def helper_lost(self, helper_id, exc):
        return False

    # --- cgroups: what container_stress needs ---

    def target_cgroup(self, container_id):
        return _containerd_stress.target_cgroup(self, container_id)

    def start_stressor(self, image, name, argv, cgroup_parent, labels, expires_at):
        return _containerd_stress.start_stressor(self, image, name, argv, cgroup_parent, labels, expires_at)
