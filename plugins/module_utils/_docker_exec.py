# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running an argv in a Docker container with a timeout (``docker exec`` as container_exec uses it).

The Docker API has no timeout for an exec: the output is read on a thread, and a process still running at the
timeout is killed from this host, but only when its host pid (from the engine) is a process of that very
container here (its cgroup names the container), so a remote engine's pid never hits a local process.
Takes a docker.APIClient; nothing here imports Ansible (the detached reverter imports _runtime_docker).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import threading
import time

from ansible_collections.chaos.engineering.plugins.module_utils._host_exec import ExecResult, decode_output

# After the kill, how long the reader may take to see the stream end (and keep what the process wrote).
DRAIN_SECONDS = 5.0


def _own_process(pid, container_id):
    """Is host process ``pid`` a process of ``container_id`` on this host (its cgroup path names the container)?"""
    try:
        with open('/proc/%d/cgroup' % pid) as handle:
            return container_id in handle.read()
    except (IOError, OSError, ValueError):
        return False


def kill_exec(client, exec_id, container_id):
    """Kill an exec's process (SIGKILL) when it is a process of this host; True when it was killed or is gone."""
    info = client.exec_inspect(exec_id)
    if not info.get('Running'):
        return True
    pid = info.get('Pid')
    if not pid or not _own_process(pid, container_id):
        return False
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        return not client.exec_inspect(exec_id).get('Running')
    return True


def exit_code(client, exec_id, wait=2.0):
    """The exec's exit code: its stream ends as it exits, and the engine may record the code an instant later."""
    deadline = time.time() + wait
    while True:
        info = client.exec_inspect(exec_id)
        if not info.get('Running') or time.time() > deadline:
            return info.get('ExitCode')
        time.sleep(0.01)


def timed_exec(client, container_id, argv, timeout=None, user=None, workdir=None, env=None, clock=time.monotonic):
    """Run argv (a list, never a shell string) in a running container; returns an ExecResult with ``timed_out``,
    ``stopped`` (None unless it timed out) and ``duration`` (seconds)."""
    options = dict(stdout=True, stderr=True)
    if user:
        options['user'] = user
    if workdir:
        options['workdir'] = workdir
    if env:
        options['environment'] = dict((str(k), str(v)) for k, v in env.items())
    created = client.exec_create(container_id, list(argv), **options)
    exec_id = created['Id']
    output = {}

    def read():
        try:
            output['streams'] = client.exec_start(exec_id, demux=True)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            output['error'] = exc

    started = clock()
    reader = threading.Thread(target=read)
    reader.daemon = True  # one we could not stop must not keep the module alive
    reader.start()
    reader.join(timeout)
    timed_out = reader.is_alive()
    stopped = None
    if timed_out:
        stopped = kill_exec(client, exec_id, container_id)
        reader.join(DRAIN_SECONDS if stopped else 0)
    duration = round(clock() - started, 3)
    if 'error' in output:
        raise output['error']
    stdout, stderr = output.get('streams') or (None, None)
    rc = None if timed_out else exit_code(client, exec_id)
    return ExecResult(list(argv), rc, decode_output(stdout), decode_output(stderr), timed_out=timed_out,
                      stopped=stopped, duration=duration)
