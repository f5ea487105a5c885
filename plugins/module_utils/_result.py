# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one result schema every fault module returns as ``chaos``.

Documented once, in docs/chaos_return.yml: the modules' RETURN copies are written from it (hack/sync_return_docs.py)
and a unit test (test_chaos_return.py) fails when a copy drifts or names keys this class does not return.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import threading

from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import iso_utc


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


class FaultResult:
    """Collects what a fault module did, and renders the ``chaos`` return value."""

    def __init__(self, fault, dry_run, selection=None):
        self.fault = fault
        self.dry_run = bool(dry_run)
        self.started_at = utc_now()
        self.targets = []
        self.selection = selection
        self.expires_at = None
        self.revert = None
        self.recovery = None  # a list when the module measured recovery (wait_for_recovery)
        self.extra = {}  # fault-specific top-level fields
        self.applied_at = None  # epoch seconds: when the first target's fault went in
        self._applied_lock = threading.Lock()

    def add_target(self, target_id, name, action, **extra):
        entry = dict(id=target_id, name=name, action=action)
        entry.update(extra)
        self.targets.append(entry)
        return entry

    def set_revert(self, deadline, method, armed):
        """A timed fault: when it expires and what will undo it."""
        self.expires_at = iso_utc(deadline)
        self.revert = dict(armed=bool(armed), method=method, deadline=iso_utc(deadline))

    def mark_applied(self, moment):
        """A target's fault went in at ``moment`` (epoch seconds): the fault's window starts at the first one.
        Safe from the worker threads; ignored in check mode, where nothing goes in."""
        if self.dry_run:
            return
        with self._applied_lock:
            if self.applied_at is None or moment < self.applied_at:
                self.applied_at = moment

    @property
    def failed_targets(self):
        return [t for t in self.targets if t.get('error')]

    def as_dict(self):
        result = dict(
            fault=self.fault,
            targets=self.targets,
            started_at=iso_utc(self.started_at),
            finished_at=iso_utc(utc_now()),
            dry_run=self.dry_run,
        )
        if self.selection is not None:
            result['selection'] = dict(
                candidates=self.selection['candidates'],
                matched=self.selection['matched'],
                selected=len(self.selection['selected']),
                protected=self.selection['protected'],
                missing=self.selection['missing'],
                seed=self.selection['seed'],
            )
        if self.applied_at is not None:
            result['applied_at'] = iso_utc(self.applied_at)
        result.update(self.extra)
        if self.recovery is not None:
            result['recovery'] = self.recovery
        if self.revert is not None:
            result['expires_at'] = self.expires_at
            result['revert'] = self.revert
        return result
