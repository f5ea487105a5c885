# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One poller for everything we wait on: recovery after a fault, an agent's readiness, an agent's removal.

Modelled on kubernetes.core's k8s/waiter.py: the caller says what "done" means (a predicate over one look), the
poller says how often to look and when to give up. ``wait_until_recovered`` is the form the fault modules use to
measure how long until each harmed thing is back.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time


class Waiter:
    """Looks until ``check()`` says done, or ``timeout`` seconds pass.

    Looks every ``first_interval`` seconds at first, 1.5 times longer each round up to ``interval`` (give no
    ``first_interval`` for a steady pace): fast changes are seen closely, slow ones without hammering the API.
    """

    def __init__(self, timeout, interval, first_interval=None, clock=time.monotonic, sleep=time.sleep):
        self.timeout = timeout
        self.interval = interval
        self.first_interval = interval if first_interval is None else min(first_interval, interval)
        self.clock = clock
        self.sleep = sleep

    def wait(self, check):
        """``check()`` returns (done, value); returns (done, value) of the last look, which is always taken, and
        taken once more when the deadline comes during a sleep."""
        deadline = self.clock() + self.timeout
        interval = self.first_interval
        while True:
            done, value = check()
            now = self.clock()
            if done or now >= deadline:
                return done, value
            self.sleep(min(interval, max(0.0, deadline - now)))
            interval = min(self.interval, interval * 1.5)


def wait_until_recovered(entries, observe, timeout, poll=0.25, first_poll=0.05, clock=time.time, sleep=time.sleep):
    """Poll until every entry is back, or ``timeout`` seconds pass; returns ``entries``.

    Each entry is a dict with ``since`` (epoch seconds when it was harmed). ``observe(pending)`` looks once at
    the entries not yet back and returns one bool per entry: back or not (it may note what it saw in the entry,
    and ``back_at``, when it was first seen back, if it confirms that only later).
    An entry seen back gets ``recovered`` True and ``seconds`` from ``since`` to that moment; the others keep
    ``recovered`` False and ``seconds`` None.
    """
    pending = list(entries)
    for entry in pending:
        entry.setdefault('recovered', False)
        entry.setdefault('seconds', None)

    def check():
        back = observe(pending)
        seen = clock()
        still = []
        for entry, is_back in zip(pending, back):
            if is_back:
                entry['recovered'] = True
                # ``back_at``: observe saw it back earlier and confirmed it now (a replacement that stayed up).
                entry['seconds'] = round(max(0.0, entry.get('back_at', seen) - entry['since']), 2)
            else:
                still.append(entry)
        pending[:] = still
        return not pending, None

    if pending:
        Waiter(timeout, poll, first_poll, clock=clock, sleep=sleep).wait(check)
    return entries
