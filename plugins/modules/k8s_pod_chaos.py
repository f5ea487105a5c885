#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: k8s_pod_chaos
short_description: Delete or evict Kubernetes pods, guard the last ready replicas, and measure recovery
version_added: 0.1.0
description:
  - Deletes (O(action=delete)) or evicts (O(action=evict)) the selected pods. An eviction goes through the
    C(policy/v1) Eviction API, so the API server enforces PodDisruptionBudgets.
  - An eviction refused by a PodDisruptionBudget is not an error. The pod is reported with C(result=blocked) and
    the budget's message, and the task still succeeds unless O(fail_on_blocked=true).
  - O(min_healthy) keeps at least that many ready pods in every owning workload (Deployment, StatefulSet,
    ReplicaSet, DaemonSet, ReplicationController). A selected pod that would break it is skipped and reported with
    C(result=skipped) and the reason.
  - With O(wait_for_recovery=true), waits until every workload that lost pods has its desired number of ready pods
    again, and returns the seconds it took per workload in C(chaos.recovery).
  - Only pods in phase C(Running) that are not already being deleted are candidates. Pods labelled or annotated
    C(chaos.engineering/protected=true) (or C(chaos.engineering/helper=true), the collection's own agents) are
    never touched.
  - Refuses to run without a selector unless O(allow_all=true).
author:
  - chaos.engineering maintainers (@chaos-engineering)
extends_documentation_fragment:
  - chaos.engineering.k8s
  - chaos.engineering.k8s_selection
  - chaos.engineering.k8s_events
attributes:
  check_mode:
    support: full
    description:
      - Resolves the exact pods, applies O(min_healthy), and sends every delete or eviction as a server-side dry run
        (C(dryRun=All)), so permissions and PodDisruptionBudgets are checked by the API server. Nothing changes.
      - Dry-run evictions are judged one at a time against an unchanged budget. For O(action=evict), check mode
        therefore also counts the pods it would evict against each matching budget's C(disruptionsAllowed) and
        reports the ones a real run would see blocked.
  diff_mode:
    support: none
    description: Pods have no before and after state worth a diff.
  action_group:
    description: Use C(group/chaos.engineering.k8s) in C(module_defaults) to set the connection once for a play.
    support: full
    membership:
      - chaos.engineering.k8s
options:
  action:
    description:
      - V(delete) deletes the pods. V(evict) creates a C(policy/v1) Eviction for each, which the API server refuses
        when it would violate a PodDisruptionBudget.
      - Evictions are sent one at a time, in selection order, so each budget is counted exactly.
    type: str
    choices: [delete, evict]
    default: delete
  grace_period:
    description:
      - Seconds the pod gets to terminate. V(0) deletes it at once. If not given, the pod's own
        C(terminationGracePeriodSeconds) applies.
      - From 0 to 86400 seconds (1 day).
    type: int
  force:
    description:
      - Delete the pods immediately, without waiting for the kubelet to confirm, as C(kubectl delete --force
        --grace-period=0) does. Only for O(action=delete); O(grace_period) must then be unset or V(0).
      - An eviction is never forced past a PodDisruptionBudget.
    type: bool
    default: false
  min_healthy:
    description:
      - Never take an owning workload below this many ready pods. The default never harms the last ready replica.
      - The owner is followed through the controller chain (a Deployment's pods through their ReplicaSet).
        Pods that are not ready cost nothing. Pods without a controller are not guarded.
      - V(0) turns the guard off.
      - V(0) or more.
    type: int
    default: 1
  fail_on_blocked:
    description:
      - Fail the task when a PodDisruptionBudget blocked at least one eviction. By default a blocked eviction is
        reported per pod and the task succeeds, because the budget did its job.
    type: bool
    default: false
  wait_for_recovery:
    description:
      - After acting, wait until each workload that lost pods is back to its desired number of ready pods
        (C(spec.replicas), or C(status.desiredNumberScheduled) for a DaemonSet), and report the seconds per workload
        in C(chaos.recovery).
      - Ready pods are counted directly (pods in phase Running, Ready, not being deleted, and not among the pods
        harmed). They are counted every 0.05 s at first, backing off to every 0.25 s, so the seconds are accurate
        to that interval.
      - When the workload itself cannot be read (RBAC), the number of ready pods before the fault is the target.
      - Pods without a controller are not waited for. Ignored in check mode.
    type: bool
    default: false
  recovery_timeout:
    description:
      - Seconds to wait for recovery with O(wait_for_recovery=true). When it passes, the task fails with a message
        naming the workloads still short of ready pods, and keeps what was measured in C(chaos.recovery).
      - From 1 to 86400 seconds (1 day).
    type: int
    default: 120
  parallelism:
    description:
      - How many pods to delete at the same time with O(action=delete). Evictions are always sent one at a time.
      - From 1 to 256.
    type: int
    default: 8
'''

EXAMPLES = r'''
- name: Delete one random pod of the web Deployment and measure how long it takes to be ready again
  chaos.engineering.k8s_pod_chaos:
    namespace: shop
    label_selector: app=web
    count: 1
    wait_for_recovery: true
  register: chaos

- name: Report the recovery
  ansible.builtin.debug:
    msg: "{{ item.owner.kind }} {{ item.owner.name }} was back in {{ item.seconds }} s"
  loop: "{{ chaos.chaos.recovery }}"

- name: Evict a third of the api pods, respecting their PodDisruptionBudget
  chaos.engineering.k8s_pod_chaos:
    namespace: shop
    label_selector: tier=api
    action: evict
    percent: 33

- name: Preview which Deployment-owned pods would be deleted across two namespaces (server-side dry run)
  chaos.engineering.k8s_pod_chaos:
    namespaces: [shop, billing]
    name_pattern: '^worker-'
    owner_kinds: [Deployment]
    count: 2
    seed: 42
  check_mode: true

- name: Connect once for every k8s task of the play, with a service account token
  module_defaults:
    group/chaos.engineering.k8s:
      host: https://k8s.example.com:6443
      api_key: "{{ chaos_token }}"
      ca_cert: /etc/chaos/ca.crt
  block:
    - name: Delete the pods of the cache StatefulSet immediately, but keep two ready
      chaos.engineering.k8s_pod_chaos:
        namespace: shop
        label_selector: app=cache
        owner_kinds: [StatefulSet]
        force: true
        min_healthy: 2
'''

RETURN = r'''
chaos:
  description:
    - The common result of every chaos.engineering fault module. See the result schema in the collection docs.
  returned: always
  type: dict
  contains:
    fault:
      description: "The fault family: the module's name, V(k8s_pod_chaos)."
      type: str
      returned: always
      sample: 'k8s_pod_chaos'
    targets:
      description: One entry per selected pod, in the order they were acted on.
      type: list
      elements: dict
      returned: always
      contains:
        id:
          description: The pod's UID.
          type: str
        name:
          description: C(namespace/name).
          type: str
        namespace:
          description: The pod's namespace.
          type: str
        pod:
          description: The pod's name.
          type: str
        node:
          description: The node the pod ran on, null when it was not scheduled.
          type: str
        owner:
          description: The owning workload, null for a pod without one.
          type: dict
          contains:
            kind:
              description: The workload's kind, for example V(Deployment).
              type: str
            namespace:
              description: Its namespace.
              type: str
            name:
              description: Its name.
              type: str
        action:
          description: O(action), V(delete) or V(evict).
          type: str
        result:
          description:
            - V(deleted) or V(evicted) (in check mode, the server-side dry run accepted it), V(blocked) (a
              PodDisruptionBudget refused the eviction), V(skipped) (O(min_healthy) kept it), V(gone) (the pod was
              deleted or replaced meanwhile) or V(failed).
          type: str
        reason:
          description: Why it was V(blocked), V(skipped) or V(gone).
          type: str
          returned: with V(result) V(blocked), V(skipped) or V(gone)
        error:
          description: Why it V(failed).
          type: str
          returned: with V(result=failed)
      sample:
        - id: 7d0c6a1e-3b9f-4a52-9d8e-0f4e1c2b3a45
          name: shop/web-7f9c5d8b4-x2k8p
          namespace: shop
          pod: web-7f9c5d8b4-x2k8p
          node: node-1
          owner: {kind: Deployment, namespace: shop, name: web}
          action: evict
          result: blocked
          reason: Cannot evict pod as it would violate the pod's disruption budget.
    selection:
      description: How the targets were chosen.
      type: dict
      returned: always
      contains:
        candidates:
          description: How many targets were listed in an eligible state.
          type: int
          returned: always
        matched:
          description: How many candidates matched the selectors, minus the protected ones.
          type: int
          returned: always
        selected:
          description: How many were selected, after O(count) or O(percent).
          type: int
          returned: always
        protected:
          description: The names of candidates that matched but are protected, never touched.
          type: list
          elements: str
          returned: always
        missing:
          description: The names asked for in O(names) that were not found.
          type: list
          elements: str
          returned: always
        seed:
          description:
            - The seed of the random choice for O(count) or O(percent). Reuse it to repeat the choice.
            - Null when every match was selected and O(seed) was not given.
          type: int
          returned: always
      sample: {candidates: 12, matched: 4, selected: 1, protected: [db-guard], missing: [], seed: 42}
    recovery:
      description:
        - With O(wait_for_recovery=true), one entry per workload that lost pods. Empty in check mode.
      type: list
      elements: dict
      returned: when O(wait_for_recovery=true)
      contains:
        what:
          description: The workload, for example V(Deployment shop/web).
          type: str
        owner:
          description: The workload.
          type: dict
          contains:
            kind:
              description: The workload's kind, for example V(Deployment).
              type: str
            namespace:
              description: Its namespace.
              type: str
            name:
              description: Its name.
              type: str
        recovered:
          description: Whether it had its desired number of ready pods again before O(recovery_timeout).
          type: bool
        seconds:
          description:
            - From the first pod harmed until the desired number of ready pods was seen again; null if not recovered.
          type: float
        desired:
          description: The workload's desired number of ready pods.
          type: int
        ready:
          description: The number of ready pods last seen.
          type: int
      sample:
        - what: Deployment shop/web
          owner: {kind: Deployment, namespace: shop, name: web}
          recovered: true
          seconds: 1.27
          desired: 3
          ready: 3
    events:
      description:
        - The Kubernetes Events this run recorded on the objects it acted on (see O(record_events)).
      type: dict
      returned: always
      contains:
        fault_id:
          description: The id of this run's fault, named in each Event's message.
          type: str
          sample: 3f2a9c1b7d4e
        run_id:
          description: O(run_id), or null.
          type: str
          sample: exp-20261127-1000
        recorded:
          description: How many Events were recorded (none in check mode or with O(record_events=false)).
          type: int
          sample: 1
        not_recorded_in:
          description: The namespaces where no Event could be recorded (no C(create) on C(events)); each was warned about.
          type: list
          elements: str
          sample: []
    started_at:
      description: When the module started, ISO-8601 UTC.
      type: str
      returned: always
      sample: '2026-11-27T10:00:00.000Z'
    applied_at:
      description:
        - When the first target's fault went in, ISO-8601 UTC. The fault's window starts there.
        - Absent in check mode and when nothing went in.
      type: str
      returned: when a fault went in
      sample: '2026-11-27T10:00:00.231Z'
    finished_at:
      description: When the module finished, ISO-8601 UTC.
      type: str
      returned: always
      sample: '2026-11-27T10:00:00.412Z'
    dry_run:
      description: Whether this was a check-mode run that changed nothing.
      type: bool
      returned: always
      sample: false
'''

import time

from ansible_collections.chaos.engineering.plugins.module_utils import _validate
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_client import K8sApiError, K8sError, api_error_text
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_events import EVENTS_ARGUMENT_SPEC, EventRecorder
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_fault import K8sFaultModule, api_failure
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_pods import (
    PdbPredictor,
    desired_replicas,
    is_pdb_block,
    plan_min_healthy,
    public_owner,
    ready_counts,
    wait_for_recovery,
    workload_id,
)
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_selection import (
    K8S_POD_SELECTION_ARGUMENT_SPEC,
    K8S_POD_SELECTION_MUTUALLY_EXCLUSIVE,
    select_pods,
    validate_pod_selection,
)
from ansible_collections.chaos.engineering.plugins.module_utils._result import FaultResult
from ansible_collections.chaos.engineering.plugins.module_utils._selection import SelectionError

FAULT = 'k8s_pod_chaos'
DONE = {'delete': 'deleted', 'evict': 'evicted'}
EVENT_REASONS = {'delete': 'ChaosPodDeleted', 'evict': 'ChaosPodEvicted'}

ARGUMENT_SPEC = dict(K8S_POD_SELECTION_ARGUMENT_SPEC)
ARGUMENT_SPEC.update(EVENTS_ARGUMENT_SPEC)
ARGUMENT_SPEC.update(
    action=dict(type='str', choices=['delete', 'evict'], default='delete'),
    grace_period=dict(type='int'),
    force=dict(type='bool', default=False),
    min_healthy=dict(type='int', default=1),
    fail_on_blocked=dict(type='bool', default=False),
    wait_for_recovery=dict(type='bool', default=False),
    recovery_timeout=dict(type='int', default=120),
    parallelism=dict(type='int', default=8),
)
# The documented ranges (see _validate.py), checked before anything connects.
BOUNDS = dict(grace_period=_validate.seconds(_validate.GRACE), min_healthy=_validate.count((0, None)),
              recovery_timeout=_validate.seconds(_validate.TIMEOUT), parallelism=_validate.count(_validate.PARALLELISM))


def validate(params):
    """Messages for option values that cannot work (before any API call)."""
    errors = []
    try:
        validate_pod_selection(params)
    except SelectionError as exc:
        errors.append(str(exc))
    if params['grace_period'] is not None and params['grace_period'] < 0:
        errors.append('grace_period must be 0 or more seconds, got %d.' % params['grace_period'])
    if params['force'] and params['action'] != 'delete':
        errors.append('force applies to action=delete only: an eviction always respects PodDisruptionBudgets '
                      '(use grace_period=0 for an immediate eviction).')
    if params['force'] and params['grace_period'] not in (None, 0):
        errors.append('force deletes at once: grace_period must be unset or 0, got %d.' % params['grace_period'])
    if params['min_healthy'] < 0:
        errors.append('min_healthy must be 0 or more, got %d.' % params['min_healthy'])
    if params['recovery_timeout'] < 1:
        errors.append('recovery_timeout must be at least 1 second, got %d.' % params['recovery_timeout'])
    if params['parallelism'] < 1:
        errors.append('parallelism must be at least 1, got %d.' % params['parallelism'])
    return errors


def classify(action, exc):
    """(result, reason-or-error) for an API error on one pod."""
    if action == 'evict' and is_pdb_block(exc):
        return 'blocked', exc.message
    if exc.status == 404:
        return 'gone', 'The pod no longer exists.'
    if exc.status == 409:
        return 'gone', 'The pod was replaced meanwhile (its UID changed): %s' % exc.message
    return 'failed', api_error_text(exc, '%s pod' % ('deleting' if action == 'delete' else 'evicting'))


class PodChaos:
    """Deletes or evicts the selected pods, within min_healthy and the budgets, then measures recovery."""

    def __init__(self, fault):
        self.fault = fault
        self.params = fault.params
        self.check_mode = fault.check_mode
        self.action = self.params['action']
        self.grace_period = 0 if self.params['force'] else self.params['grace_period']
        self.client = None
        self.result = None
        fault.changed = self.changed

    def changed(self):
        return any(t.get('result') in DONE.values() for t in self.result.targets)

    def act(self, target):
        """Delete or evict one pod (server-side dry run in check mode); returns (result, note, acted_at)."""
        call = self.client.delete_pod if self.action == 'delete' else self.client.evict_pod
        try:
            call(target['namespace'], target['pod'], uid=target['id'], grace_period=self.grace_period,
                 dry_run=self.check_mode)
        except K8sApiError as exc:
            result, note = classify(self.action, exc)
            return result, note, None
        except K8sError as exc:
            return 'failed', str(exc), None
        acted_at = time.time()
        self.result.mark_applied(acted_at)  # a dry run marks nothing
        self.events.record(dict(apiVersion='v1', kind='Pod', namespace=target['namespace'], name=target['pod'],
                                uid=target['id']), EVENT_REASONS[self.action],
                           '%s this pod' % DONE[self.action])
        return DONE[self.action], None, acted_at

    def run(self):
        errors = validate(self.params)
        if errors:
            raise K8sError(' '.join(errors))
        self.client = self.fault.connect(pool_size=self.params['parallelism'])
        selection, pods, resolver = select_pods(self.client, self.params)
        self.result = self.fault.result = FaultResult(FAULT, self.check_mode, selection)
        self.events = EventRecorder(self.client, self.params['record_events'], self.check_mode, self.fault.warn,
                                    run_id=self.params.get('run_id'))
        self.result.extra['events'] = self.events.summary
        if self.params['wait_for_recovery']:
            self.result.recovery = []
        targets = selection['selected']
        counts = self.ready_before(targets, pods, resolver)
        plan = plan_min_healthy(targets, counts, self.params['min_healthy'])
        outcomes = self.execute(plan)
        for namespace in resolver.unresolved_namespaces:
            self.fault.warn('Could not list ReplicaSets in namespace %s: the Deployment of its pods is inferred '
                            'from their ReplicaSet name and pod-template-hash label for owner_kinds, min_healthy and '
                            'recovery (grant list on replicasets to read it).' % namespace)

        acted = []
        for (target, skip_reason), outcome in zip(plan, outcomes):
            result, note, acted_at = outcome
            entry = dict(namespace=target['namespace'], pod=target['pod'], node=target.get('node'),
                         owner=public_owner(target.get('workload')), result=result)
            if result == 'failed':
                entry['error'] = note
            elif note or skip_reason:
                entry['reason'] = note or skip_reason
            self.result.add_target(target['id'], target['name'], self.action, **entry)
            if acted_at is not None:
                acted.append((target, acted_at))

        late = None
        if self.params['wait_for_recovery'] and not self.check_mode and acted:
            late = self.recover(acted, counts, resolver)
        self.finish(late)

    def ready_before(self, targets, pods, resolver):
        """Ready pods per workload of the targets, counted over every pod of their namespaces."""
        namespaces = sorted(set(t['namespace'] for t in targets if t.get('workload')))
        if not namespaces:
            return {}
        if self.params.get('label_selector') or self.params.get('field_selector'):
            # The candidate listing was filtered: count over all running pods of those namespaces.
            pods = []
            for namespace in namespaces:
                try:
                    pods.extend(self.client.list_pods(namespace, field_selector='status.phase=Running'))
                except K8sApiError as exc:
                    raise api_failure(exc, 'listing pods in namespace %s' % namespace)
        return ready_counts(pods, resolver.resolve)

    def execute(self, plan):
        """One (result, note, acted_at) per planned target."""
        outcomes = [None] * len(plan)
        todo = []
        for index, (target, skip_reason) in enumerate(plan):
            if skip_reason:
                outcomes[index] = ('skipped', None, None)
            else:
                todo.append(index)
        if self.action == 'delete':
            for index, outcome in zip(todo, self.fault.run_each([plan[i][0] for i in todo], self.act)):
                outcomes[index] = outcome
            return outcomes
        # Evictions one at a time, in order: each may use up what a budget allows the next.
        predictor = PdbPredictor(self.client) if self.check_mode else None
        for index in todo:
            outcome = self.act(plan[index][0])
            if predictor is not None and outcome[0] == 'evicted':
                blocked = predictor.consume(plan[index][0])
                if blocked:
                    outcome = ('blocked', blocked, None)
            outcomes[index] = outcome
        if predictor is not None:
            for namespace in predictor.unavailable:
                self.fault.warn('Could not list PodDisruptionBudgets in namespace %s: check mode cannot tell which '
                                'of several evictions under one budget a real run would see blocked.' % namespace)
        return outcomes

    def recover(self, acted, counts, resolver):
        """Measure recovery per workload into chaos.recovery; returns the timeout message, or None."""
        workloads = {}
        for target, acted_at in acted:
            workload = target.get('workload')
            if workload is None:
                continue
            key = workload_id(workload)
            if key not in workloads:
                workloads[key] = dict(workload=workload, since=acted_at)
            workloads[key]['since'] = min(workloads[key]['since'], acted_at)
        entries = []
        for key, entry in sorted(workloads.items()):
            workload = entry['workload']
            desired = None
            try:
                desired = desired_replicas(workload['kind'], self.client.get_workload(
                    workload['kind'], workload['namespace'], workload['name']))
            except K8sApiError as exc:
                if exc.status not in (401, 403, 404):
                    raise api_failure(exc, 'reading %s %s/%s' % (
                        workload['kind'], workload['namespace'], workload['name']))
            if desired is None:
                desired = counts.get(key, 0)
            entries.append(dict(workload=workload, since=entry['since'], desired=desired))
        harmed = [t['id'] for t, dummy in acted]
        try:
            wait_for_recovery(self.client, entries, self.params['recovery_timeout'], resolver.resolve,
                              ignore_uids=harmed)
        except K8sApiError as exc:
            raise api_failure(exc, 'waiting for recovery')
        finally:
            self.record_recovery(entries)
        late = [e for e in entries if not e['recovered']]
        if not late:
            return None
        return 'Recovery timed out after %d s: %s.' % (self.params['recovery_timeout'], '; '.join(
            '%s %s/%s has %s of %d desired ready pods' % (
                e['workload']['kind'], e['workload']['namespace'], e['workload']['name'], e['ready'], e['desired'])
            for e in late))

    def record_recovery(self, entries):
        recovery = []
        for entry in entries:
            owner = public_owner(entry['workload'])
            recovery.append(dict(what='%(kind)s %(namespace)s/%(name)s' % owner, owner=owner,
                                 recovered=bool(entry.get('recovered')), seconds=entry.get('seconds'),
                                 desired=entry['desired'], ready=entry.get('ready')))
        self.result.recovery = recovery

    def finish(self, late=None):
        """Raises with every problem at once: failed pods, blocked evictions under fail_on_blocked, a late recovery."""
        problems = []
        failed = self.result.failed_targets
        if failed:
            problems.append('%d of %d pods failed: %s.' % (len(failed), len(self.result.targets), '; '.join(
                '%s: %s' % (t['name'], t['error']) for t in failed)))
        blocked = [t for t in self.result.targets if t['result'] == 'blocked']
        if blocked and self.params['fail_on_blocked']:
            problems.append('%d eviction%s blocked by a PodDisruptionBudget (fail_on_blocked=true): %s.' % (
                len(blocked), '' if len(blocked) == 1 else 's', ', '.join(t['name'] for t in blocked)))
        if late:
            problems.append(late)
        if problems:
            raise K8sError(' '.join(problems))


def main():
    fault = K8sFaultModule(FAULT, ARGUMENT_SPEC, mutually_exclusive=K8S_POD_SELECTION_MUTUALLY_EXCLUSIVE,
                           bounds=BOUNDS)
    fault.run(PodChaos(fault).run)


if __name__ == '__main__':
    main()
