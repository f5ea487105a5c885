# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who a process is: its pid and its start time, so that a later process that got the same pid is told apart.

The ledger records the module arming an entry, the reverter and the sampler this way. Imports nothing from
Ansible: the detached reverter runs it too (see _reverter.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


def process_start(pid):
    """The start time of process ``pid`` (clock ticks since boot), to tell it from a later one with its pid."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            fields = handle.read().rsplit(')', 1)[1].split()
        return int(fields[19]) if fields[0] != 'Z' else None
    except (OSError, IndexError, ValueError):
        return None


def this_process():
    """This process, as dict(pid, start)."""
    pid = os.getpid()
    return dict(pid=pid, start=process_start(pid))


def still_running(identity):
    """Is the process ``identity`` (a dict(pid, start) as this_process() gives) still the one running?"""
    if not isinstance(identity, dict) or not isinstance(identity.get('pid'), int):
        return False
    start = identity.get('start')
    return start is not None and process_start(identity['pid']) == start


def pid_alive(pid):
    """Does any process (not a zombie) have this pid?"""
    return pid is not None and process_start(pid) is not None
