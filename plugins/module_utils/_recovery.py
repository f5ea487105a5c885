# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recovery measured by the fault modules: how long until what a fault harmed is back.

One polling loop serves k8s_pod_chaos (ready pods per workload) and container_kill (the container running, and
healthy, again); each says only what "back" means for it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time


def wait_until_recovered(entries, observe, timeout, poll=0.25, first_poll=0.05, clock=time.time, sleep=time.sleep):
    """Poll until every entry is back, or ``timeout`` seconds pass; returns ``entries``.

    Each entry is a dict with ``since`` (epoch seconds when it was harmed). ``observe(pending)`` looks once at
    the entries not yet back and returns one bool per entry: back or not (it may note what it saw in the entry,
    and ``back_at``, when it was first seen back, if it confirms that only later).
    An entry seen back gets ``recovered`` True and ``seconds`` from ``since`` to that moment; the others keep
    ``recovered`` False and ``seconds`` None.

    Polls every ``first_poll`` seconds at first, 1.5 times longer each round up to ``poll``: fast recoveries are
    measured closely, slow ones without hammering the API.
    """
    pending = list(entries)
    for entry in pending:
        entry.setdefault('recovered', False)
        entry.setdefault('seconds', None)
    deadline = clock() + timeout
    interval = min(first_poll, poll)
    while pending:
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
        pending = still
        if pending:
            if seen >= deadline:
                break
            sleep(min(interval, max(0.0, deadline - seen)))
            interval = min(poll, interval * 1.5)
    return entries
