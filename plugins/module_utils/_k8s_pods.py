# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pod logic every Kubernetes fault shares: pod state, owners, min_healthy, disruption budgets, recovery.

Pure (no I/O) or given a client object, so it is tested with fakes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.chaos.engineering.plugins.module_utils._k8s_client import K8sApiError
from ansible_collections.chaos.engineering.plugins.module_utils._poll import wait_until_recovered


def pod_key(pod):
    meta = pod.get('metadata') or {}
    return '%s/%s' % (meta.get('namespace'), meta.get('name'))


def pod_is_terminating(pod):
    return bool((pod.get('metadata') or {}).get('deletionTimestamp'))


def pod_is_ready(pod):
    """Ready condition true, and not being deleted."""
    if pod_is_terminating(pod):
        return False
    for condition in (pod.get('status') or {}).get('conditions') or []:
        if condition.get('type') == 'Ready':
            return condition.get('status') == 'True'
    return False


def pod_is_candidate(pod):
    """Only Running pods that are not being deleted may be harmed."""
    return (pod.get('status') or {}).get('phase') == 'Running' and not pod_is_terminating(pod)


def controller_ref(obj):
    """The ownerReference with controller=true, or None."""
    for ref in (obj.get('metadata') or {}).get('ownerReferences') or []:
        if ref.get('controller'):
            return ref
    return None


def workload_id(workload):
    """A hashable key for a workload dict ({kind, namespace, name})."""
    if workload is None:
        return None
    return '%s/%s/%s' % (workload['kind'], workload['namespace'], workload['name'])


def public_owner(workload):
    """The owner as returned to the user."""
    if workload is None:
        return None
    return dict(kind=workload['kind'], namespace=workload['namespace'], name=workload['name'])


class OwnerResolver:
    """Resolves a pod to its owning workload through the controller chain.

    Pod -> ReplicaSet -> Deployment (the ReplicaSets of a namespace are listed once);
    StatefulSet, DaemonSet, ReplicationController, Job and other controllers are the workload
    themselves. A pod without a controller has no workload (None).

    When ReplicaSets cannot be listed (RBAC), the namespace is recorded in ``unresolved_namespaces`` and the
    Deployment is inferred from what the pod itself says: the Deployment controller names a ReplicaSet
    ``<deployment>-<pod-template-hash>`` and puts that hash on its pods. Such a workload has no uid and
    ``inferred=True``; a ReplicaSet whose name does not fit is taken as the workload.
    """

    def __init__(self, client):
        self.client = client
        self._replicasets = {}
        self.unresolved_namespaces = []

    def _replicaset_owner(self, namespace, uid):
        if namespace not in self._replicasets:
            try:
                listing = self.client.list_replicasets(namespace)
            except K8sApiError as exc:
                if exc.status not in (401, 403, 404):
                    raise
                listing = None
                self.unresolved_namespaces.append(namespace)
            self._replicasets[namespace] = None if listing is None else dict(
                ((rs.get('metadata') or {}).get('uid'), controller_ref(rs)) for rs in listing)
        known = self._replicasets[namespace]
        if known is None:
            return None
        return known.get(uid)

    def resolve(self, pod):
        """A dict(kind, namespace, name, uid, chain) or None for a pod without a controller."""
        namespace = (pod.get('metadata') or {}).get('namespace')
        ref = controller_ref(pod)
        if ref is None:
            return None
        chain = [ref.get('kind')]
        top = ref
        if ref.get('kind') == 'ReplicaSet':
            parent = self._replicaset_owner(namespace, ref.get('uid'))
            if parent is None and namespace in self.unresolved_namespaces:
                deployment = inferred_deployment(pod, ref)
                if deployment is not None:
                    return dict(kind='Deployment', namespace=namespace, name=deployment, uid=None,
                                chain=chain + ['Deployment'], inferred=True)
            if parent is not None:
                chain.append(parent.get('kind'))
                top = parent
        return dict(kind=top.get('kind'), namespace=namespace, name=top.get('name'), uid=top.get('uid'), chain=chain)


def inferred_deployment(pod, replicaset_ref):
    """The Deployment's name from a pod's ReplicaSet name and pod-template-hash label, or None when they do not fit
    the Deployment controller's naming (``<deployment>-<hash>``)."""
    template_hash = ((pod.get('metadata') or {}).get('labels') or {}).get('pod-template-hash')
    name = replicaset_ref.get('name') or ''
    suffix = '-%s' % template_hash
    if template_hash and name.endswith(suffix) and len(name) > len(suffix):
        return name[:-len(suffix)]
    return None


def ready_counts(pods, resolve, ignore_uids=()):
    """Ready (and not terminating) pods per workload id; ``resolve`` maps a pod to its workload."""
    ignore = set(ignore_uids)
    counts = {}
    for pod in pods:
        if (pod.get('metadata') or {}).get('uid') in ignore or not pod_is_ready(pod):
            continue
        key = workload_id(resolve(pod))
        if key is not None:
            counts[key] = counts.get(key, 0) + 1
    return counts


def plan_min_healthy(targets, counts, min_healthy):
    """Which targets may be harmed without taking their workload below ``min_healthy`` ready pods.

    ``targets`` are pod candidates (with ``workload`` and ``ready``), in the order they would be
    acted on; ``counts`` maps workload ids to their ready pods now. Returns a list of
    (target, reason) with reason None for a target that may be harmed, or the text saying why it
    is skipped. A pod that is not ready costs no ready replica; a pod without a workload is not
    guarded (nothing would bring it back anyway, and it has no replicas to protect).
    """
    left = dict(counts)
    plan = []
    for target in targets:
        key = workload_id(target.get('workload'))
        if key is None or not min_healthy or not target.get('ready'):
            plan.append((target, None))
            continue
        ready = left.get(key, 0)
        if ready - 1 < min_healthy:
            workload = target['workload']
            plan.append((target, 'min_healthy: %s %s/%s has %d ready pod%s left; harming this one would leave %d, '
                                 'below min_healthy=%d' % (workload['kind'], workload['namespace'], workload['name'],
                                                           ready, '' if ready == 1 else 's', ready - 1, min_healthy)))
            continue
        left[key] = ready - 1
        plan.append((target, None))
    return plan


def desired_replicas(kind, obj):
    """How many ready pods a workload wants; None when the kind has no such notion."""
    if obj is None:
        return None
    if kind == 'DaemonSet':
        return (obj.get('status') or {}).get('desiredNumberScheduled')
    if kind in ('Deployment', 'ReplicaSet', 'StatefulSet', 'ReplicationController'):
        replicas = (obj.get('spec') or {}).get('replicas')
        return 1 if replicas is None else replicas
    return None


def label_selector_matches(selector, labels):
    """Evaluate a LabelSelector (matchLabels, matchExpressions) against labels, as the API server does.

    An empty selector matches everything (policy/v1 PodDisruptionBudget semantics); None matches nothing.
    """
    if selector is None:
        return False
    labels = labels or {}
    for key, value in (selector.get('matchLabels') or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get('matchExpressions') or []:
        key, operator, values = expr.get('key'), expr.get('operator'), expr.get('values') or []
        if operator == 'In' and labels.get(key) not in values:
            return False
        if operator == 'NotIn' and key in labels and labels[key] in values:
            return False
        if operator == 'Exists' and key not in labels:
            return False
        if operator == 'DoesNotExist' and key in labels:
            return False
    return True


def is_pdb_block(exc):
    """Whether a K8sApiError from an eviction means a PodDisruptionBudget refused it."""
    if exc.status != 429:
        return False
    if any('DisruptionBudget' in (c.get('reason') or '') for c in exc.causes):
        return True
    return 'disruption budget' in (exc.message or '').lower()


class PdbPredictor:
    """Check mode for evictions: dry-run evictions are judged one by one against the same PDB status,
    so several pods under one budget would all pass. This counts what a real run would consume.
    """

    def __init__(self, client):
        self.client = client
        self._pdbs = {}
        self._used = {}
        self.unavailable = []

    def _pdbs_in(self, namespace):
        if namespace not in self._pdbs:
            try:
                self._pdbs[namespace] = self.client.list_pdbs(namespace)
            except K8sApiError as exc:
                if exc.status not in (401, 403, 404):
                    raise
                self._pdbs[namespace] = []
                self.unavailable.append(namespace)
        return self._pdbs[namespace]

    def consume(self, target):
        """None if the eviction fits the budgets, else the reason it would be blocked."""
        matching = [p for p in self._pdbs_in(target['namespace'])
                    if label_selector_matches((p.get('spec') or {}).get('selector'), target.get('labels'))]
        for pdb in matching:
            name = (pdb.get('metadata') or {}).get('name')
            allowed = (pdb.get('status') or {}).get('disruptionsAllowed') or 0
            key = '%s/%s' % (target['namespace'], name)
            if self._used.get(key, 0) + (1 if target.get('ready') else 0) > allowed:
                return ('Cannot evict pod as it would violate the pod\'s disruption budget %s '
                        '(disruptionsAllowed=%d, %d already evicted in this run)' % (key, allowed, self._used.get(key, 0)))
        for pdb in matching:
            key = '%s/%s' % (target['namespace'], (pdb.get('metadata') or {}).get('name'))
            if target.get('ready'):
                self._used[key] = self._used.get(key, 0) + 1
        return None


def wait_for_recovery(client, workloads, timeout, resolve, ignore_uids=(), **polling):
    """Poll until every workload is back to its ``desired`` ready pods, or ``timeout`` seconds pass.

    ``workloads`` is a list of dicts with ``workload`` (from OwnerResolver), ``desired`` and
    ``since`` (epoch seconds when the first of its pods was harmed); each gets ``recovered``,
    ``seconds`` (None until recovered) and ``ready`` (the last count seen). Pods in
    ``ignore_uids`` (the ones harmed) never count. Returns the list. ``polling``: see
    _poll.wait_until_recovered.
    """
    def observe(pending):
        counts = {}
        for namespace in sorted(set(e['workload']['namespace'] for e in pending)):
            pods = client.list_pods(namespace, field_selector='status.phase=Running')
            counts.update(ready_counts(pods, resolve, ignore_uids))
        for entry in pending:
            entry['ready'] = counts.get(workload_id(entry['workload']), 0)
        return [entry['ready'] >= entry['desired'] for entry in pending]

    for entry in workloads:
        entry.setdefault('ready', None)
    return wait_until_recovered(workloads, observe, timeout, **polling)
