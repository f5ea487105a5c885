# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_stress's plan, pure: the fault spec -> the stress-ng argv, the helper's name and labels, and the
cgroup parent that puts the helper inside the target's own cgroup (so the target's limits throttle it).

Nothing here talks to an engine (proc_cgroup only reads the kernel's /proc); _stress_apply runs the plan through
the runtime seam.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

SPEC_KEYS = ('cpu', 'cpu_load', 'memory', 'io', 'stressors')
# Options of stress-ng that a raw stressor may not give: the duration is ours (--timeout is the fault's
# deadline), and a job file or a stress-ng of its own reading files is not an argv we can check.
FORBIDDEN_OPTIONS = ('-t', '--timeout', '--job', '-j')
# stress-ng never sees a shell; these in an argument mean a shell string was passed where an argv belongs.
SHELL_MARKERS = (';', '|', '&', '$', '`', '\n', '\r', '\0', '>', '<')
MEMORY_RE = re.compile(r'^([1-9][0-9]*)([bkmgBKMG]?)$')
MEMORY_UNITS = {'': 1, 'b': 1, 'k': 1024, 'm': 1024 ** 2, 'g': 1024 ** 3}
MAX_WORKERS = 1024
# The child cgroup of a target's that a helper is moved into (systemd driver): this prefix + the fault id.
CHILD_CGROUP_PREFIX = 'chaos-stress-'


class PlanError(ValueError):
    """The fault spec is not one we can run; the message says why."""


def memory_bytes(text):
    """``256m`` -> 268435456; raises PlanError for anything else than a positive size with b, k, m or g."""
    match = MEMORY_RE.match(str(text).strip())
    if not match:
        raise PlanError('memory must be a size such as 256m, 1g or 65536k; got %r.' % (text,))
    return int(match.group(1)) * MEMORY_UNITS[match.group(2).lower()]


def check_stressors(stressors):
    """Raw stress-ng arguments: strings, no shell, no duration or job file of their own."""
    for arg in stressors:
        if not isinstance(arg, str) or not arg:
            raise PlanError('stressors must be a list of non-empty strings (an argv); got %r.' % (arg,))
        marker = next((m for m in SHELL_MARKERS if m in arg), None)
        if marker is not None:
            raise PlanError('stressors is an argv for stress-ng, never a shell string: %r contains %r.'
                            % (arg, marker))
        option = arg.split('=', 1)[0]
        if option in FORBIDDEN_OPTIONS:
            raise PlanError('stressors may not give %s: duration is the stressor\'s --timeout and the fault\'s '
                            'deadline.' % option)
    if stressors and not stressors[0].startswith('-'):
        raise PlanError('stressors must start with a stress-ng option (such as --cpu); got %r.' % stressors[0])


def stress_argv(spec, duration):
    """The stress-ng argv (after the entrypoint) for ``spec`` (a dict of SPEC_KEYS), ending at ``duration``."""
    if duration is None or duration < 1:
        raise PlanError('duration must be at least 1 second.')
    argv = []
    cpu, cpu_load = spec.get('cpu'), spec.get('cpu_load')
    if cpu_load is not None:
        if not 1 <= cpu_load <= 100:
            raise PlanError('cpu_load must be from 1 to 100 (percent); got %d.' % cpu_load)
        if cpu is None:
            cpu = 1
    if cpu is not None:
        if not 1 <= cpu <= MAX_WORKERS:
            raise PlanError('cpu must be from 1 to %d workers; got %d.' % (MAX_WORKERS, cpu))
        argv += ['--cpu', str(cpu)]
        if cpu_load is not None:
            argv += ['--cpu-load', str(cpu_load)]
    if spec.get('memory') is not None:
        argv += ['--vm', '1', '--vm-bytes', str(memory_bytes(spec['memory'])), '--vm-keep']
    io = spec.get('io')
    if io is not None:
        if not 1 <= io <= MAX_WORKERS:
            raise PlanError('io must be from 1 to %d workers; got %d.' % (MAX_WORKERS, io))
        # --hdd writes and reads real files (in the helper's own /tmp), which is I/O the target's blkio/io
        # limits see; --io only calls sync(), which on most hosts is no load at all.
        argv += ['--hdd', str(io), '--hdd-bytes', '64m']
    stressors = list(spec.get('stressors') or [])
    check_stressors(stressors)
    argv += stressors
    if not argv:
        raise PlanError('give at least one of cpu, cpu_load, memory, io or stressors.')
    return argv + ['--timeout', '%ds' % duration, '--metrics-brief']


def fault_id(argv):
    """Names this exact stress: the same spec (and duration) gives the same id, so a second run is ok."""
    return hashlib.sha256('\0'.join(argv).encode('utf-8')).hexdigest()[:12]


def helper_name(target_id, fid):
    return 'chaos-stress-%s-%s' % (target_id[:12], fid)


def parse_proc_cgroup(text):
    """The cgroup path of a process from /proc/<pid>/cgroup: the unified (v2) line, or on v1 the cpu
    controller's line (the one whose limit throttles a CPU stressor). None when neither is there."""
    unified = None
    for line in text.splitlines():
        parts = line.split(':', 2)
        if len(parts) != 3:
            continue
        controllers = parts[1].split(',')
        if 'cpu' in controllers:
            return parts[2]
        if parts[0] == '0' and parts[1] == '':
            unified = parts[2]
    return unified


def proc_cgroup(pid, proc_root='/proc'):
    """The cgroup path of process ``pid`` as the kernel says (see parse_proc_cgroup), or None when this host
    cannot read it. The one read here: the runtimes ask the kernel before their engine."""
    try:
        with open('%s/%d/cgroup' % (proc_root, pid)) as handle:
            return parse_proc_cgroup(handle.read())
    except (IOError, OSError, ValueError):
        return None


def cgroup_parent(cgroup, target_id):
    """The helper's cgroup parent: the target's own cgroup, so the helper is a child of it.

    ``cgroup`` is what the runtime found: driver (cgroupfs or systemd), version (1 or 2), path and source.
    """
    if cgroup.get('driver') == 'systemd':
        # A systemd-driver engine takes only a slice as cgroup parent, and the target's cgroup is a scope:
        # the helper could not be inside it, and a stressor outside the target's limits is a different fault.
        raise PlanError('stress on an engine with the systemd cgroup driver is not supported yet: the helper '
                        'cannot be put inside the target\'s scope docker-%s.scope.' % target_id[:12])
    return _checked_path(cgroup, target_id)


def _checked_path(cgroup, target_id):
    path = cgroup.get('path')
    if not path or not path.startswith('/') or target_id not in path:
        raise PlanError('the cgroup of container %s could not be found (got %r).' % (target_id[:12], path))
    return path


def placement(cgroup, target_id, fid, local_v2):
    """Where the helper goes: (the cgroup parent the engine gets, the child cgroup of the target's the module
    moves the helper's processes into, or None).

    cgroupfs: the engine makes the helper's cgroup a child of the target's (its cgroup parent). systemd: the
    engine takes only slices, so on cgroup v2 the module moves the helper into a child of the target's scope,
    which it can only do on the engine's host (``local_v2``: this host's tree is v2 and the path came from the
    target's process here, not from the engine's word).
    """
    if cgroup.get('driver') != 'systemd':
        return cgroup_parent(cgroup, target_id), None
    if cgroup.get('version') != 2 or not local_v2 or not str(cgroup.get('source') or '').startswith('/proc/'):
        raise PlanError('stress on an engine with the systemd cgroup driver needs cgroup v2 and the module '
                        'running on the engine\'s host (it moves the helper into the target\'s scope '
                        'docker-%s.scope itself); found cgroup v%s, path from %s.'
                        % (target_id[:12], cgroup.get('version'), cgroup.get('source') or 'nowhere'))
    return None, child_cgroup(_checked_path(cgroup, target_id), fid)


def child_cgroup(target_path, fid):
    """The child cgroup of the target's that the helper of stress ``fid`` is moved into (systemd driver)."""
    return '%s/%s%s' % (target_path.rstrip('/'), CHILD_CGROUP_PREFIX, fid)
