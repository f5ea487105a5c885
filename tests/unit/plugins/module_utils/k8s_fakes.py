"""A fake Kubernetes API for unit tests: pods, ReplicaSets and workloads in memory, with the same
methods as _k8s_client.K8sClient, and errors the way the API server reports them."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import fnmatch
import json
import threading
from http.server import HTTPServer

from ansible_collections.chaos.engineering.plugins.module_utils._k8s_client import K8sApiError


def send_json(handler, status, payload):
    """Answer an http.server request with a JSON body, as the API server does."""
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header('Content-Type', 'application/json')
    handler.send_header('Content-Length', str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


@contextlib.contextmanager
def http_server(handler_class):
    """A throwaway HTTP server on 127.0.0.1 answering with ``handler_class``, in a thread; yields its URL."""
    server = HTTPServer(('127.0.0.1', 0), handler_class)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield 'http://127.0.0.1:%d' % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def forbidden(what):
    return K8sApiError(403, 'Forbidden', '%s is forbidden: User "system:serviceaccount:t:restricted" cannot do it' % what)


def ref(kind, name, uid=None, controller=True):
    return {'apiVersion': 'apps/v1', 'kind': kind, 'name': name, 'uid': uid or 'uid-%s-%s' % (kind, name),
            'controller': controller}


def pod(namespace, name, owner=None, phase='Running', ready=True, labels=None, annotations=None,
        terminating=False, node='node-1', uid=None):
    meta = {'namespace': namespace, 'name': name, 'uid': uid or 'uid-%s-%s' % (namespace, name),
            'labels': dict(labels or {}), 'annotations': dict(annotations or {})}
    if owner is not None:
        meta['ownerReferences'] = [owner]
    if terminating:
        meta['deletionTimestamp'] = '2026-01-01T00:00:00Z'
    return {'metadata': meta, 'spec': {'nodeName': node},
            'status': {'phase': phase, 'conditions': [{'type': 'Ready', 'status': 'True' if ready else 'False'}]}}


def replicaset(namespace, name, deployment=None, replicas=3):
    meta = {'namespace': namespace, 'name': name, 'uid': 'uid-ReplicaSet-%s' % name}
    if deployment:
        meta['ownerReferences'] = [ref('Deployment', deployment)]
    return {'metadata': meta, 'spec': {'replicas': replicas}}


def deployment_pods(namespace, deployment, count, rs_hash='abc', labels=None, **kwargs):
    rs_name = '%s-%s' % (deployment, rs_hash)
    # As the Deployment controller does: the ReplicaSet is <deployment>-<hash>, its pods carry the hash.
    pods = [pod(namespace, '%s-%d' % (rs_name, i), owner=ref('ReplicaSet', rs_name),
                labels=dict(labels or {'app': deployment}, **{'pod-template-hash': rs_hash}), **kwargs)
            for i in range(count)]
    return replicaset(namespace, rs_name, deployment, replicas=count), pods


class FakeCluster:
    host = 'https://fake:6443'

    def __init__(self, pods=(), replicasets=(), workloads=None, namespaces=None, forbidden_namespaces=(),
                 forbid_replicasets=False, pdbs=None):
        self.pods = list(pods)
        self.replicasets = list(replicasets)
        self.workloads = dict(workloads or {})   # (kind, ns, name) -> object
        self.namespaces = set(namespaces or set(p['metadata']['namespace'] for p in self.pods))
        self.forbidden_namespaces = set(forbidden_namespaces)
        self.forbid_replicasets = forbid_replicasets
        self.pdbs = dict(pdbs or {})
        self.calls = []
        self.evict_results = {}   # pod name -> K8sApiError to raise
        self.events = []
        self.forbid_events = set()   # namespaces where creating an Event is forbidden

    def _check_ns(self, namespace):
        if namespace in self.forbidden_namespaces:
            raise forbidden('pods')

    def get_namespace(self, name):
        self.calls.append(('get_namespace', name))
        if name in self.forbidden_namespaces:
            raise forbidden('namespaces')
        if name not in self.namespaces:
            raise K8sApiError(404, 'Not Found', 'namespaces "%s" not found' % name)
        return {'metadata': {'name': name}}

    def list_pods(self, namespace=None, label_selector=None, field_selector=None):
        self.calls.append(('list_pods', namespace, label_selector, field_selector))
        if namespace is not None:
            self._check_ns(namespace)
        if label_selector and '(' in label_selector and ')' not in label_selector:
            raise K8sApiError(400, 'Bad Request', 'unable to parse requirement: found \'\', expected: \')\'')
        result = []
        for item in self.pods:
            meta = item['metadata']
            if namespace is not None and meta['namespace'] != namespace:
                continue
            if label_selector:
                key, dummy, value = label_selector.partition('=')
                if meta['labels'].get(key) != value:
                    continue
            skip = False
            for term in (field_selector or '').split(','):
                if term.startswith('metadata.namespace!=') and meta['namespace'] == term.split('!=')[1]:
                    skip = True
                if term == 'status.phase=Running' and item['status']['phase'] != 'Running':
                    skip = True
            if not skip:
                result.append(item)
        return result

    def list_replicasets(self, namespace):
        self.calls.append(('list_replicasets', namespace))
        if self.forbid_replicasets:
            raise forbidden('replicasets.apps')
        return [rs for rs in self.replicasets if rs['metadata']['namespace'] == namespace]

    def list_pdbs(self, namespace):
        self.calls.append(('list_pdbs', namespace))
        return self.pdbs.get(namespace, [])

    def get_workload(self, kind, namespace, name):
        self.calls.append(('get_workload', kind, namespace, name))
        if (kind, namespace, name) not in self.workloads:
            raise K8sApiError(404, 'Not Found', '%s "%s" not found' % (kind, name))
        return self.workloads[(kind, namespace, name)]

    def _find(self, namespace, name, uid):
        for item in self.pods:
            meta = item['metadata']
            if meta['namespace'] == namespace and meta['name'] == name:
                if uid and meta['uid'] != uid:
                    raise K8sApiError(409, 'Conflict', 'Precondition failed: UID in precondition: %s' % uid)
                return item
        raise K8sApiError(404, 'Not Found', 'pods "%s" not found' % name)

    def create_event(self, namespace, body):
        self.calls.append(('create_event', namespace, body['involvedObject']['name']))
        if namespace in self.forbid_events:
            raise forbidden('events')
        self.events.append(body)
        return body

    def delete_pod(self, namespace, name, uid=None, grace_period=None, dry_run=False):
        self.calls.append(('delete_pod', namespace, name, uid, grace_period, dry_run))
        self._check_ns(namespace)
        item = self._find(namespace, name, uid)
        if not dry_run:
            self.pods.remove(item)
        return {}

    def evict_pod(self, namespace, name, uid=None, grace_period=None, dry_run=False):
        self.calls.append(('evict_pod', namespace, name, uid, grace_period, dry_run))
        self._check_ns(namespace)
        item = self._find(namespace, name, uid)
        if name in self.evict_results:
            raise self.evict_results[name]
        if not dry_run:
            self.pods.remove(item)
        return {}

    def calls_named(self, pattern):
        return [c for c in self.calls if fnmatch.fnmatch(c[0], pattern)]


def pdb_block():
    return K8sApiError(429, 'Too Many Requests', "Cannot evict pod as it would violate the pod's disruption budget.",
                       {'causes': [{'reason': 'DisruptionBudget',
                                    'message': 'The disruption budget web needs 2 healthy pods and has 2 currently'}]})


def deployment_pdb_blocked(namespace='shop'):
    """Three web pods under a PDB that allows one disruption: the 2nd and 3rd evictions are refused."""
    rs, pods = deployment_pods(namespace, 'web', 3)
    cluster = FakeCluster(pods, [rs], workloads={('Deployment', namespace, 'web'): {'spec': {'replicas': 3}}})
    original = cluster.evict_pod
    state = dict(allowed=1)

    def evict(ns, name, uid=None, grace_period=None, dry_run=False):
        if state['allowed'] < 1:
            cluster.calls.append(('evict_pod', ns, name, uid, grace_period, dry_run))
            raise pdb_block()
        result = original(ns, name, uid, grace_period, dry_run)
        if not dry_run:
            state['allowed'] -= 1
        return result

    cluster.evict_pod = evict
    return cluster
