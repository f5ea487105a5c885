# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Steady-state probes sampled in rounds (ProbeRunner), and the samples of the containers and pods probes.

Everything here is free of Ansible: the probe module validates its options (_probe_spec), builds the clients a
probe type needs (_probe_clients), and hands them to a ProbeRunner. The runner takes its clock and sleep as
arguments, so its round logic is tested without waiting. The http samples are in _probe_http.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.chaos.engineering.plugins.module_utils._probe_spec import probe_secrets
from ansible_collections.chaos.engineering.plugins.module_utils._redact import scrub
from ansible_collections.chaos.engineering.plugins.module_utils._selection import is_helper, matches_criteria
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import iso_utc


def container_matches(candidate, criteria):
    """A running container matches the probe's selection. The protected label does not matter
    (observation harms nothing), but the collection's own helper containers never count."""
    return not is_helper(candidate) and matches_criteria(candidate, criteria)


def _names_text(names, limit=5):
    shown = ', '.join(sorted(names)[:limit])
    if len(names) > limit:
        shown += ', +%d more' % (len(names) - limit)
    return shown


def containers_sample(probe, list_running):
    """``list_running()`` -> running container candidates (see _docker.container_candidates)."""
    try:
        running = list_running()
    except Exception as exc:  # pylint: disable=broad-exception-caught
        return False, None, 'error listing containers: %s' % (exc,)
    names = [c.get('name') for c in running if container_matches(c, probe['selection'])]
    count = len(names)
    detail = '%d running (min %d)' % (count, probe['min_running'])
    if names:
        detail += ': ' + _names_text(names)
    return count >= probe['min_running'], count, detail


def pods_sample(probe, list_pods, is_ready):
    """``list_pods(namespace, label_selector)`` -> pod dicts; ``is_ready(pod)`` -> Ready and not terminating."""
    try:
        pods = list_pods(probe['namespace'], probe['label_selector'])
    except Exception as exc:  # pylint: disable=broad-exception-caught
        return False, None, 'error listing pods: %s' % (exc,)
    ready = [p for p in pods if is_ready(p)]
    count = len(ready)
    detail = '%d ready of %d (min %d)' % (count, len(pods), probe['min_ready'])
    if ready:
        detail += ': ' + _names_text([(p.get('metadata') or {}).get('name') or '?' for p in ready])
    return count >= probe['min_ready'], count, detail


# ---------------------------------------------------------------------------------------------
# Rounds


class ProbeRunner:
    """Samples every probe, round after round, and decides when to stop.

    ``samplers`` maps a probe type to ``f(probe) -> (ok, value, detail)``.
    ``clock`` (monotonic seconds), ``wall`` (epoch seconds) and ``sleep`` are injectable.
    """

    def __init__(self, probes, samplers, phase='steady', duration=0.0, interval=1.0, fail_fast=True,
                 retries_until_ok=False, clock=time.monotonic, wall=time.time, sleep=time.sleep):
        self.probes = probes
        self.samplers = samplers
        self.phase = phase
        self.duration = max(0.0, float(duration or 0))
        self.interval = max(0.0, float(interval or 0))
        self.fail_fast = fail_fast
        self.retries_until_ok = retries_until_ok
        self.clock = clock
        self.wall = wall
        self.sleep = sleep

    def sample(self, probe):
        at = self.wall()
        try:
            ok, value, detail = self.samplers[probe['type']](probe)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            ok, value, detail = False, None, 'error: %s' % (exc,)
        detail = scrub(str(detail), probe_secrets([probe])) if detail is not None else detail
        return dict(probe=probe['name'], type=probe['type'], phase=self.phase, at=iso_utc(at), ok=bool(ok),
                    value=value, detail=detail)

    def run(self):
        start = self.clock()
        samples = []
        rounds = 0
        recovered_after = None
        any_failed = set()
        last_round_failed = []
        stop = False
        while not stop:
            round_start = self.clock()
            rounds += 1
            last_round_failed = []
            for probe in self.probes:
                sample = self.sample(probe)
                samples.append(sample)
                if not sample['ok']:
                    last_round_failed.append(probe['name'])
                    any_failed.add(probe['name'])
                    if self.fail_fast and not self.retries_until_ok:
                        stop = True
                        break
            if stop:
                break
            if self.retries_until_ok and not last_round_failed:
                recovered_after = round(max(0.0, round_start - start), 3)
                break
            next_round = start + rounds * self.interval
            if self.duration <= 0 or max(next_round, self.clock()) - start > self.duration:
                break
            delay = next_round - self.clock()
            if delay > 0:
                self.sleep(delay)
        if self.retries_until_ok:
            ok = not last_round_failed
            failed = [p['name'] for p in self.probes if p['name'] in last_round_failed]
        else:
            ok = not any_failed
            failed = [p['name'] for p in self.probes if p['name'] in any_failed]
        return dict(ok=ok, samples=samples, failed_probes=failed, rounds=rounds, recovered_after=recovered_after)
