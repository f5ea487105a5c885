# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The chaos agent's reads and writes on the API server: paths, its namespace, and listing the agents and expiry
Jobs of ours (by label). Takes a K8sClient from _k8s_client.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from urllib.parse import quote

from ansible_collections.chaos.engineering.plugins.module_utils._k8s_agent_manifest import (
    AGENT_LABEL,
    COMPONENT_LABEL,
    EXPIRY_COMPONENT,
    OWNED_SELECTOR,
    namespace_manifest,
)
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_client import K8sApiError, K8sError, api_error_text


def _ns(namespace):
    return quote(namespace, safe='')


def ds_path(namespace, name=None):
    path = '/apis/apps/v1/namespaces/%s/daemonsets' % _ns(namespace)
    return path if name is None else '%s/%s' % (path, quote(name, safe=''))


def dry(dry_run):
    return [('dryRun', 'All' if dry_run else None)]


def get_or_none(client, path):
    try:
        return client.request('GET', path)
    except K8sApiError as exc:
        if exc.status == 404:
            return None
        raise


def ensure_namespace(client, name, dry_run):
    """(exists_now, created): create the namespace (labelled as ours) when it is missing.

    A namespace we may not read (403) is assumed to exist: the DaemonSet call then decides.
    """
    try:
        client.request('GET', '/api/v1/namespaces/%s' % _ns(name))
        return True, False
    except K8sApiError as exc:
        if exc.status in (401, 403):
            return True, False
        if exc.status != 404:
            raise K8sError(api_error_text(exc, 'reading namespace %s' % name))
    try:
        client.request('POST', '/api/v1/namespaces', query=dry(dry_run), body=namespace_manifest(name))
    except K8sApiError as exc:
        if exc.status == 409:  # created meanwhile
            return True, False
        raise K8sError(api_error_text(exc, 'creating namespace %s' % name))
    return not dry_run, True


def list_agent_pods(client, namespace, name):
    return client.list_pods(namespace, label_selector='%s=%s' % (AGENT_LABEL, name))


def job_path(namespace, name=None):
    path = '/apis/batch/v1/namespaces/%s/jobs' % _ns(namespace)
    return path if name is None else '%s/%s' % (path, quote(name, safe=''))


def list_expiry_jobs(client, namespace=None):
    """Every expiry Job of ours (by label), in one namespace or all."""
    path = '/apis/batch/v1/jobs' if namespace is None else job_path(namespace)
    return client.list(path, label_selector='%s,%s=%s' % (OWNED_SELECTOR, COMPONENT_LABEL, EXPIRY_COMPONENT))


def list_agents(client, namespace=None):
    """Every DaemonSet of ours (by label), in one namespace or all."""
    path = '/apis/apps/v1/daemonsets' if namespace is None else ds_path(namespace)
    return client.list(path, label_selector=OWNED_SELECTOR)
