# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running programs on the Docker host: an argv (never a shell) directly, or in a process's network namespace
through nsenter, and the steps of a revert one after another.

The detached reverter runs these too, so nothing here imports Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import threading

TOOL_DIRS = ('/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin')


class ExecResult:
    """What a program run gave back: its argv, exit code and output (text); for a run with a timeout, whether it
    ran past it (``rc`` None then), whether it was stopped, and how long it ran."""

    def __init__(self, argv, rc, stdout, stderr, timed_out=False, stopped=None, duration=None):
        self.argv = argv
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.timed_out = timed_out
        self.stopped = stopped
        self.duration = duration

    @property
    def ok(self):
        return self.rc == 0


def decode_output(data):
    """Bytes a program wrote, as text (undecodable bytes replaced)."""
    return (data or b'').decode('utf-8', 'replace')


def find_tool(name):
    """The path of a host tool, looking in the usual sbin/bin directories too (a daemon's PATH may be short)."""
    dirs = [d for d in os.environ.get('PATH', '').split(os.pathsep) if d] + list(TOOL_DIRS)
    for directory in dirs:
        path = os.path.join(directory, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def run_steps(run, steps, ok_if=()):
    """Run argv steps in order with ``run(argv) -> ExecResult``; a step failing with a message in
    ``ok_if`` counts as done. Returns (results, first failed result or None)."""
    results = []
    for argv in steps:
        result = run(argv)
        results.append(result)
        if not result.ok and not any(marker in result.stderr for marker in ok_if):
            return results, result
    return results, None


def run_argv(argv):
    """Run a program (an argv list, never a shell) and capture its output; returns an ExecResult.

    The reverter runs without Ansible, so this cannot be AnsibleModule.run_command; modules use it too,
    so both run the host's tools the same way. fork + exec, like the reverter's own start.
    """
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            os.execvp(argv[0], list(argv))
        except OSError as exc:
            os.write(2, ('%s: %s' % (argv[0], exc)).encode('utf-8', 'replace'))
        finally:
            os._exit(127)  # pylint: disable=protected-access
    os.close(out_w)
    os.close(err_w)
    chunks = {out_r: [], err_r: []}

    def drain(fd):
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            chunks[fd].append(data)
        os.close(fd)

    # stderr on a thread, so neither pipe can fill up and block the program.
    reader = threading.Thread(target=drain, args=(err_r,))
    reader.start()
    drain(out_r)
    reader.join()
    dummy, status = os.waitpid(pid, 0)
    rc = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    return ExecResult(argv, rc, decode_output(b''.join(chunks[out_r])), decode_output(b''.join(chunks[err_r])))


def nsenter_run(pid, argv):
    """Run argv in the network namespace of process ``pid`` (needs root on the Docker host)."""
    tool = find_tool(argv[0]) or argv[0]
    result = run_argv([find_tool('nsenter') or 'nsenter', '-t', str(pid), '-n', '--', tool] + list(argv[1:]))
    result.argv = argv
    return result
