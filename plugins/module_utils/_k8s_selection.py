# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pod selection, shared by every pod fault: the argument spec, the namespaces in scope, the candidate listing and
the choice of targets (through _selection's rules).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.chaos.engineering.plugins.module_utils._k8s_client import K8sApiError, K8sError, api_error_text
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_pods import (
    OwnerResolver,
    pod_is_candidate,
    pod_is_ready,
    pod_key,
)
from ansible_collections.chaos.engineering.plugins.module_utils._selection import (
    SELECTION_ARGUMENT_SPEC,
    SELECTION_MUTUALLY_EXCLUSIVE,
    SelectionError,
    require_targets,
    select_targets,
    validate_criteria,
)

# The namespace of the chaos agent (the chaos.engineering.agent role): never a target by default.
AGENT_NAMESPACE = 'chaos-engineering'
SYSTEM_NAMESPACES = ('kube-system', 'kube-public', 'kube-node-lease')
DEFAULT_EXCLUDED_NAMESPACES = list(SYSTEM_NAMESPACES) + [AGENT_NAMESPACE]


# Documented once in the chaos.engineering.k8s_selection doc fragment.
K8S_POD_SELECTION_ARGUMENT_SPEC = dict(
    namespace=dict(type='str'),
    namespaces=dict(type='list', elements='str'),
    exclude_namespaces=dict(type='list', elements='str', default=list(DEFAULT_EXCLUDED_NAMESPACES)),
    label_selector=dict(type='str'),
    field_selector=dict(type='str'),
    owner_kinds=dict(type='list', elements='str'),
)
K8S_POD_SELECTION_ARGUMENT_SPEC.update(
    (key, dict(SELECTION_ARGUMENT_SPEC[key]))
    for key in ('names', 'name_pattern', 'count', 'percent', 'seed', 'allow_all', 'allow_no_targets'))

K8S_POD_SELECTION_MUTUALLY_EXCLUSIVE = list(SELECTION_MUTUALLY_EXCLUSIVE) + [('namespace', 'namespaces')]

# What counts as a selector for the allow_all guard: a namespace alone is a scope, not a selector.
POD_SELECTOR_KEYS = ('names', 'name_pattern', 'label_selector', 'field_selector')


def owner_kinds_match(workload, owner_kinds):
    """A pod matches when any kind in its controller chain is listed (case-insensitive)."""
    if not owner_kinds:
        return True
    if workload is None:
        return False
    wanted = set(k.lower() for k in owner_kinds)
    return any((kind or '').lower() in wanted for kind in workload['chain'])


def pod_candidate(pod, workload=None):
    """A selection candidate (see _selection) for a pod: named namespace/name, matched by its own name."""
    meta = pod.get('metadata') or {}
    return dict(
        id=meta.get('uid'),
        name=pod_key(pod),
        match_name=meta.get('name'),
        namespace=meta.get('namespace'),
        pod=meta.get('name'),
        labels=meta.get('labels') or {},
        annotations=meta.get('annotations') or {},
        node=(pod.get('spec') or {}).get('nodeName'),
        ready=pod_is_ready(pod),
        workload=workload,
    )


def combine_field_selectors(*parts):
    """AND field selectors together (the API server reads ',' as AND)."""
    return ','.join(p.strip() for p in parts if p and p.strip())


def namespace_exclusion_selector(namespaces):
    return ','.join('metadata.namespace!=%s' % ns for ns in namespaces)


def pod_criteria(params):
    """The _selection criteria for pod params (label/field selectors only count for the allow_all guard)."""
    criteria = dict((key, params.get(key)) for key in
                    ('names', 'name_pattern', 'count', 'percent', 'seed', 'allow_all', 'label_selector', 'field_selector'))
    return criteria


def requested_namespaces(params):
    """The namespaces asked for, or None for all namespaces."""
    if params.get('namespace'):
        return [params['namespace']]
    if params.get('namespaces'):
        return list(dict.fromkeys(params['namespaces']))
    return None


def validate_pod_selection(params):
    """Raise SelectionError for pod selection params that cannot work, before any API call."""
    validate_criteria(pod_criteria(params), POD_SELECTOR_KEYS)
    wanted = requested_namespaces(params)
    if params.get('namespaces') is not None and not params['namespaces']:
        raise SelectionError('namespaces is empty: give at least one namespace, or leave it out for all namespaces.')
    excluded = params.get('exclude_namespaces') or []
    clash = [ns for ns in (wanted or []) if ns in excluded]
    if clash:
        raise SelectionError(
            'Namespace %s is in exclude_namespaces (%s), so nothing there may be harmed. Set exclude_namespaces '
            'without it if you really mean to target it.' % (', '.join(clash), ', '.join(excluded)))


def _selector_error(exc, params):
    given = ['%s=%r' % (key, params[key]) for key in ('label_selector', 'field_selector') if params.get(key)]
    return 'The Kubernetes API rejected the pod selector%s (HTTP 400): %s' % (
        (' ' + ' and '.join(given)) if given else '', exc.message)


def list_candidate_pods(client, params):
    """Running, not terminating pods in the requested namespaces minus the excluded ones.

    Raises K8sError with a clear message for unknown namespaces, bad selectors and RBAC denials.
    """
    wanted = requested_namespaces(params)
    excluded = list(params.get('exclude_namespaces') or [])
    field = combine_field_selectors(params.get('field_selector'), 'status.phase=Running')
    pods = []
    if wanted is None:
        scope = 'in all namespaces'
        try:
            pods = client.list_pods(None, params.get('label_selector'),
                                    combine_field_selectors(field, namespace_exclusion_selector(excluded)))
        except K8sApiError as exc:
            if exc.status == 400:
                raise K8sError(_selector_error(exc, params))
            text = api_error_text(exc, 'listing pods %s' % scope)
            if exc.status == 403:
                text += ' Give namespace or namespaces to stay within the namespaces you may act in.'
            raise K8sError(text)
    else:
        for namespace in wanted:
            try:
                client.get_namespace(namespace)
            except K8sApiError as exc:
                if exc.status == 404:
                    raise K8sError('Namespace %r does not exist on the cluster at %s.' % (namespace, client.host))
                if exc.status not in (401, 403):
                    raise K8sError(api_error_text(exc, 'reading namespace %s' % namespace))
                # May not read namespaces (a namespaced Role): the pod listing below decides.
            try:
                pods.extend(client.list_pods(namespace, params.get('label_selector'), field))
            except K8sApiError as exc:
                if exc.status == 400:
                    raise K8sError(_selector_error(exc, params))
                raise K8sError(api_error_text(exc, 'listing pods in namespace %s' % namespace))
    return [p for p in pods if pod_is_candidate(p) and (p.get('metadata') or {}).get('namespace') not in excluded]


def select_pods(client, params, resolver=None):
    """List the candidate pods and choose the targets with the shared selection rules.

    Returns (selection, pods, resolver): the _selection result (its candidates carry a
    ``workload`` once resolved), the pods listed, and the OwnerResolver used.
    Raises K8sError or SelectionError.
    """
    resolver = resolver or OwnerResolver(client)
    pods = list_candidate_pods(client, params)
    owner_kinds = params.get('owner_kinds')
    candidates = []
    other_owners = []
    for pod in pods:
        workload = None
        if owner_kinds:
            workload = resolver.resolve(pod)
            if not owner_kinds_match(workload, owner_kinds):
                other_owners.append('%s (%s)' % (_pod_name(pod), _owner_text(workload)))
                continue
        candidates.append(pod_candidate(pod, workload))
    selection = select_targets(candidates, pod_criteria(params), selector_keys=POD_SELECTOR_KEYS)
    if not owner_kinds:
        by_uid = dict(((p.get('metadata') or {}).get('uid'), p) for p in pods)
        for target in selection['selected']:
            target['workload'] = resolver.resolve(by_uid[target['id']])
    left_out = None
    if other_owners:
        left_out = '%d running pod(s) in scope are owned by no kind in owner_kinds (%s): %s' % (
            len(other_owners), ', '.join(owner_kinds), ', '.join(other_owners[:10]) + (
                ', ...' if len(other_owners) > 10 else ''))
    require_targets(selection, params.get('allow_no_targets'), what='running pod', left_out=left_out)
    return selection, pods, resolver


def _pod_name(pod):
    meta = pod.get('metadata') or {}
    return '%s/%s' % (meta.get('namespace'), meta.get('name'))


def _owner_text(workload):
    if not workload:
        return 'no owner'
    return '%s %s' % (workload.get('kind'), workload.get('name'))
