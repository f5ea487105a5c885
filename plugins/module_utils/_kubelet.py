# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Containers the kubelet manages, seen from the node's Docker engine (a "minikube host": dockerd + cri-dockerd).

The kubelet (through cri-dockerd, or dockershim before it) names its containers ``k8s_<container>_<pod>_<ns>_<uid>_<n>``
and labels them with their pod: this file recognises them, protects what must never be harmed through the Docker
path, and says when a killed one is back. Three facts drive it:

- The kubelet never restarts a dead container: it creates a replacement (same pod uid and container name, a new
  id). Starting the old one again would run it outside the kubelet's control (and its ports are taken by the
  replacement), so a restart is never ours to do, and recovery is the replacement running.
- A pod's sandbox (``k8s_POD_*``, type ``podsandbox``) holds the pod's network namespace, shared by its containers;
  the pod's own labels and annotations are on the sandbox only.
- kube-system and the agent's namespace are protected, as in _k8s_selection.DEFAULT_EXCLUDED_NAMESPACES.

Imports nothing from Ansible: the detached reverter runs it too (see _reverter.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.chaos.engineering.plugins.module_utils._docker import api_status

POD_NAME = 'io.kubernetes.pod.name'
POD_NAMESPACE = 'io.kubernetes.pod.namespace'
POD_UID = 'io.kubernetes.pod.uid'
CONTAINER_NAME = 'io.kubernetes.container.name'
DOCKER_TYPE = 'io.kubernetes.docker.type'
SANDBOX_ID = 'io.kubernetes.sandbox.id'
SANDBOX_TYPE = 'podsandbox'
SANDBOX_NAME_PREFIX = 'k8s_POD_'
# Pod annotations reach the sandbox's labels with this prefix.
ANNOTATION_PREFIX = 'annotation.'
# The same as _k8s_selection.DEFAULT_EXCLUDED_NAMESPACES (a unit test keeps them equal); not imported, because
# _k8s_selection needs the kubernetes client, which neither the container modules nor the reverter have.
PROTECTED_NAMESPACES = ('kube-system', 'kube-public', 'kube-node-lease', 'chaos-engineering')
PROTECTED_MARKS = ('chaos.engineering/protected', 'chaos.engineering/helper')
# A replacement counts as back once it has run this long: a replacement that dies at once (a crash loop, a port
# still taken) is not a recovery.
STAYS_UP_SECONDS = 1.0


def pod_of(labels):
    """The pod of a kubelet-managed container, from its labels: dict(namespace, pod, uid, container, sandbox), or
    None for a container the kubelet does not manage."""
    labels = labels or {}
    if not (labels.get(POD_UID) and labels.get(POD_NAME) and labels.get(POD_NAMESPACE)):
        return None
    return dict(namespace=labels[POD_NAMESPACE], pod=labels[POD_NAME], uid=labels[POD_UID],
                container=labels.get(CONTAINER_NAME), sandbox=is_sandbox('', labels))


def is_sandbox(name, labels):
    """Is this a pod sandbox (the pause container that holds the pod's namespaces)?"""
    return (labels or {}).get(DOCKER_TYPE) == SANDBOX_TYPE or (name or '').lstrip('/').startswith(SANDBOX_NAME_PREFIX)


def _marked(labels):
    """Does a sandbox's label set say the pod is protected (a pod label, or a pod annotation)?"""
    for key in PROTECTED_MARKS:
        for value in (labels.get(key), labels.get(ANNOTATION_PREFIX + key)):
            # Ansible's true words (convert_bool.BOOLEANS_TRUE): the reverter runs this file without Ansible.
            if str(value or '').strip().lower() in ('y', 'yes', 'on', '1', 'true', 't'):
                return key
    return None


def protection_reason(candidate, sandbox_labels):
    """Why a container must never be harmed through the Docker path, or None. ``sandbox_labels``: pod uid -> the
    labels of that pod's sandbox (they carry the pod's labels and annotations)."""
    labels = candidate.get('labels') or {}
    pod = pod_of(labels)
    name = candidate.get('name') or ''
    if pod is None:
        if is_sandbox(name, labels):
            return 'a pod sandbox (k8s_POD_): it holds the pod\'s network namespace'
        return None
    where = '%s/%s' % (pod['namespace'], pod['pod'])
    if pod['sandbox']:
        return ('the sandbox of pod %s (k8s_POD_): it holds the pod\'s network namespace, and the kubelet would '
                'recreate the whole pod' % where)
    if pod['namespace'] in PROTECTED_NAMESPACES:
        return 'a container of pod %s: namespace %s is protected' % (where, pod['namespace'])
    mark = _marked(sandbox_labels.get(pod['uid']) or {})
    if mark:
        return 'a container of pod %s, which is marked %s' % (where, mark)
    return None


def sandbox_labels(client):
    """Pod uid -> the labels of its sandbox, for the sandboxes on this engine (one listing)."""
    found = {}
    for summary in client.containers(all=True, filters={'label': '%s=%s' % (DOCKER_TYPE, SANDBOX_TYPE)}):
        labels = summary.get('Labels') or {}
        if labels.get(POD_UID):
            found[labels[POD_UID]] = labels
    return found


def mark_protected(client, candidates):
    """Note in each protected candidate why (``protected_reason``; _selection never selects it). Lists the
    sandboxes only when a candidate is a kubelet's."""
    if not any(pod_of(c.get('labels')) or is_sandbox(c.get('name'), c.get('labels')) for c in candidates):
        return candidates
    sandboxes = sandbox_labels(client)
    for candidate in candidates:
        reason = protection_reason(candidate, sandboxes)
        if reason:
            candidate['protected_reason'] = reason
    return candidates


def describe(pod):
    """The result's view of a kubelet-managed container's pod."""
    return dict(namespace=pod['namespace'], pod=pod['pod'], uid=pod['uid'], container=pod['container'])


def replacement(client, pod, old_id):
    """The newest other container of the same pod and container name (the kubelet's replacement), as inspected,
    or None."""
    listing = client.containers(all=True, filters={'label': ['%s=%s' % (POD_UID, pod['uid']),
                                                             '%s=%s' % (CONTAINER_NAME, pod['container'])]})
    others = sorted((c for c in listing if c['Id'] != old_id), key=lambda c: c.get('Created') or 0, reverse=True)
    if not others:
        return None
    try:
        return client.inspect_container(others[0]['Id'])
    except Exception as exc:  # pylint: disable=broad-exception-caught
        if api_status(exc) == 404:
            return None  # removed between the listing and now: the next look finds the next one
        raise


def _running(state):
    health = (state.get('Health') or {}).get('Status')
    return bool(state.get('Running') and not state.get('Restarting') and not state.get('Paused')
                and health in (None, 'healthy')), health


def replacement_back(client, entry, clock=time.time):
    """Is the kubelet's replacement of the killed container of ``entry`` (with ``id`` and ``pod``) running, and has
    it stayed up STAYS_UP_SECONDS? Notes ``replacement`` (id, name), ``state``, ``health`` and ``back_at`` (when it
    was first seen running: the recovery's moment) in the entry."""
    info = replacement(client, entry['pod'], entry['id'])
    if info is None:
        entry.update(state='no replacement yet', health=None)
        entry.pop('_seen', None)
        return False
    state = info.get('State') or {}
    running, health = _running(state)
    entry.update(replacement=dict(id=info['Id'], name=(info.get('Name') or '').lstrip('/')),
                 state=state.get('Status'), health=health)
    now = clock()
    seen = entry.get('_seen')
    if not running:
        entry.pop('_seen', None)
        return False
    if not seen or seen[0] != info['Id'] or seen[2] != state.get('StartedAt'):
        entry['_seen'] = (info['Id'], now, state.get('StartedAt'))
        return False
    if now - seen[1] < STAYS_UP_SECONDS:
        return False
    entry['back_at'] = seen[1]
    return True


def restart_verdict(client, pod, old_id):
    """The reverter's answer to "start this killed container again" for a kubelet-managed one: never start it,
    the kubelet owns it. Returns (status, details): ``kubelet-owned``, and the replacement seen, if any."""
    info = replacement(client, pod, old_id)
    if info is None:
        return 'kubelet-owned', dict(replacement=None)
    state = info.get('State') or {}
    return 'kubelet-owned', dict(replacement=dict(id=info['Id'], name=(info.get('Name') or '').lstrip('/'),
                                                  running=bool(state.get('Running'))))
