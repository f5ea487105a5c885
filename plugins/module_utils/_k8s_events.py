# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes Events on the objects a fault acted on, as Chaos Mesh and Litmus record them.

``kubectl describe pod`` and ``kubectl get events`` then show who deleted a pod or deployed an agent, with the fault
id and the run id, and a dashboard can annotate a graph from them. An Event is a record, not the fault: failing to
write one (no ``create`` on ``events``) is a warning, once per namespace, never a failure. Check mode records none.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time
import uuid

from ansible_collections.chaos.engineering.plugins.module_utils._k8s_client import K8sApiError, K8sError, api_error_text
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import iso_utc

COMPONENT = 'chaos.engineering'

EVENTS_ARGUMENT_SPEC = dict(
    record_events=dict(type='bool', default=True),
    run_id=dict(type='str'),
)


def new_fault_id():
    """The id of one module run's fault, in its Events and its result."""
    return uuid.uuid4().hex[:12]


def event_body(involved, reason, message, now, event_type='Normal'):
    """A core/v1 Event about ``involved`` (dict of apiVersion, kind, namespace, name and, when known, uid)."""
    name = '%s.chaos-%s' % (involved['name'][:200], uuid.uuid4().hex[:10])
    return {
        'apiVersion': 'v1', 'kind': 'Event',
        'metadata': {'name': name, 'namespace': involved['namespace'],
                     'labels': {'app.kubernetes.io/managed-by': COMPONENT}},
        'involvedObject': dict((k, v) for k, v in involved.items() if v),
        'reason': reason, 'message': message, 'type': event_type,
        'source': {'component': COMPONENT}, 'reportingComponent': COMPONENT, 'reportingInstance': COMPONENT,
        'firstTimestamp': iso_utc(now), 'lastTimestamp': iso_utc(now), 'count': 1,
    }


class EventRecorder:
    """Records Events for one module run; thread-safe, as pods are acted on in parallel.

    ``summary`` is the result's ``events``: the fault id, the run id, how many were recorded and the namespaces
    where they could not be.
    """

    def __init__(self, client, enabled, dry_run, warn, run_id=None, clock=None):
        self.client = client
        self.enabled = bool(enabled) and not dry_run
        self.warn = warn
        self.run_id = run_id
        self.fault_id = new_fault_id()
        self.clock = clock
        self.failed_namespaces = []
        # The result's ``events``, kept up to date in place: a failing module returns it as far as it got.
        self.summary = dict(fault_id=self.fault_id, run_id=run_id, recorded=0, not_recorded_in=self.failed_namespaces)
        self._lock = threading.Lock()

    def ids_text(self):
        return 'fault %s%s' % (self.fault_id, ', run %s' % self.run_id if self.run_id else '')

    def record(self, involved, reason, what):
        """An Event on ``involved`` saying chaos.engineering did ``what`` (for example 'deleted this pod')."""
        if not self.enabled:
            return False
        namespace = involved['namespace']
        with self._lock:
            if namespace in self.failed_namespaces:
                return False
        body = event_body(involved, reason, '%s %s (%s)' % (COMPONENT, what, self.ids_text()), self._now())
        try:
            self.client.create_event(namespace, body)
        except K8sError as exc:
            with self._lock:
                if namespace in self.failed_namespaces:
                    return False
                self.failed_namespaces.append(namespace)
                self.failed_namespaces.sort()
            text = api_error_text(exc, 'creating an Event in namespace %s' % namespace) if isinstance(
                exc, K8sApiError) else str(exc)
            self.warn('%s The fault itself went in; grant create on events to record it there.' % text)
            return False
        with self._lock:
            self.summary['recorded'] += 1
        return True

    def _now(self):
        return (self.clock or time.time)()
