# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_stress on containerd: the target task's cgroup, and our stress helpers as containerd containers
(started with ``ctr run`` inside that cgroup, listed by their labels, removed by their id).

The functions take a _runtime_containerd.ContainerdRuntime (its ``ctr``, ``info``, ``tasks``, ``remove`` and
``error_kind``). A helper is a task of the stress helper image with its own empty network namespace (only lo),
no capability at all, no-new-privileges (ctr's default), and the cgroup ``<target's cgroup>/<helper name>``, so
the target's own limits throttle it. containerd has no auto-remove: a helper whose stress-ng ended by its
--timeout stays as a stopped container until the ledger's revert (or the teardown) removes it by its name.
Imports nothing from Ansible: the detached reverter runs it (see _reverter.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.chaos.engineering.plugins.module_utils import _stress_plan
from ansible_collections.chaos.engineering.plugins.module_utils._docker_helpers import EXPIRES_LABEL, HELPER_LABEL
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import iso_utc

# ctr 1.6 has no "--cap-drop ALL" (it wants CAP_ names and ignores CAP_ALL): every capability Linux knows is
# dropped by name; a name the runtime's default set lacks is simply not there to drop.
ALL_CAPABILITIES = (
    'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
    'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER',
    'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
    'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP',
    'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
    'CHECKPOINT_RESTORE',
)
HELPER_FILTER = 'labels."%s"==true' % HELPER_LABEL
STATES = {'RUNNING': 'running', 'PAUSED': 'paused', 'PAUSING': 'paused', 'STOPPED': 'exited'}


class NotOurHelper(ValueError):
    """A container of that name exists but is not one of our helpers: it is never removed as one."""


def image_ref(image):
    """The full reference containerd stores an image under, as Docker normalises a short name:
    ``chaos-stresshelper:latest`` -> ``docker.io/library/chaos-stresshelper:latest``."""
    name, digest = (image.split('@', 1) + [None])[:2]
    first = name.split('/', 1)[0]
    if '/' not in name:
        name = 'docker.io/library/' + name
    elif '.' not in first and ':' not in first and first != 'localhost':
        name = 'docker.io/' + name
    if digest is None and ':' not in name.rsplit('/', 1)[-1]:
        name += ':latest'
    return name + ('@' + digest if digest else '')


def cgroup_version(sys_root='/sys/fs/cgroup'):
    return 2 if os.path.exists(os.path.join(sys_root, 'cgroup.controllers')) else 1


def driver_of(path):
    """systemd's paths are slices and scopes (runc's systemd form is ``slice:prefix:name``)."""
    return 'systemd' if path and (':' in path or path.rstrip('/').endswith(('.scope', '.slice'))) else 'cgroupfs'


def target_cgroup(runtime, container_id, proc_root='/proc', sys_root='/sys/fs/cgroup'):
    """The task's cgroup (see ContainerRuntime.target_cgroup): the kernel's /proc/<pid>/cgroup of its main
    process when it names the container, else the cgroupsPath of its runtime spec (what runc was told)."""
    found = dict(version=cgroup_version(sys_root))
    pid = runtime.netns_pid(container_id)
    if pid:
        path = _stress_plan.proc_cgroup(pid, proc_root)
        if path and container_id in path:
            return dict(found, driver=driver_of(path), path=path, source='/proc/%d/cgroup' % pid)
    spec_path = ((runtime.info(container_id).get('Spec') or {}).get('linux') or {}).get('cgroupsPath')
    return dict(found, driver=driver_of(spec_path), path=spec_path, source='the runtime spec\'s cgroupsPath')


def run_args(image, name, argv, cgroup_parent, labels, expires_at):
    """ctr's arguments (after the connection flags) that start the stress helper ``name``."""
    args = ['run', '--detach', '--null-io', '--cgroup', '%s/%s' % (cgroup_parent.rstrip('/'), name), '--cwd', '/tmp']
    for capability in ALL_CAPABILITIES:
        args += ['--cap-drop', 'CAP_' + capability]
    all_labels = {HELPER_LABEL: 'true', EXPIRES_LABEL: iso_utc(expires_at)}
    all_labels.update(labels or {})
    for key, value in sorted(all_labels.items()):
        args += ['--label', '%s=%s' % (key, value)]
    return args + [image_ref(image), name, 'stress-ng'] + list(argv)


def start_stressor(runtime, image, name, argv, cgroup_parent, labels, expires_at):
    """Start the helper (see ContainerRuntime.start_stressor); a half-made one is removed. Returns its id."""
    try:
        runtime.ctr(*run_args(image, name, argv, cgroup_parent, labels, expires_at))
    except Exception:
        remove_helper(runtime, name)
        raise
    return name


def helper_of(info, tasks):
    """One of our helpers, in the shape the Docker API lists containers (Id, State, Names, Labels)."""
    status = (tasks.get(info['ID']) or (0, None))[1]
    return dict(Id=info['ID'], Names=[info['ID']], Labels=info.get('Labels') or {},
                State=STATES.get(status, 'created'))


def list_helpers(runtime):
    """Our helpers, running or not."""
    tasks = runtime.tasks()
    helpers = []
    for helper_id in runtime.ctr('containers', 'ls', '-q', HELPER_FILTER).split():
        try:
            helpers.append(helper_of(runtime.info(helper_id), tasks))
        except Exception as exc:  # pylint: disable=broad-exception-caught
            if runtime.error_kind(exc) != 'gone':  # removed since the listing
                raise
    return helpers


def remove_helper(runtime, helper_id):
    """Remove a helper of ours (its task killed first); one that is gone already is fine."""
    try:
        labels = runtime.info(helper_id).get('Labels') or {}
        if labels.get(HELPER_LABEL) != 'true':
            raise NotOurHelper('container %s is not a helper of ours (no %s=true label): not removed.'
                               % (helper_id, HELPER_LABEL))
        runtime.remove(helper_id)
    except NotOurHelper:
        raise
    except Exception as exc:  # pylint: disable=broad-exception-caught
        if runtime.error_kind(exc) != 'gone':  # the reverter and the module may remove it at once
            raise
