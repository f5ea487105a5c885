# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One way to act on many targets at once: a call per item, ``parallelism`` at a time, results in the items' order.

Shared by the Docker and the Kubernetes module bases (the ``parallelism`` option).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor


def map_parallel(call, items, parallelism):
    """``[call(item) for item in items]``, at most ``parallelism`` at a time (in this thread when one is enough)."""
    items = list(items)
    workers = min(parallelism, max(1, len(items)))
    if workers == 1:
        return [call(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(call, items))
