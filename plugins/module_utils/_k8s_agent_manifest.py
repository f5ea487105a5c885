# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the chaos agent (Pumba on every node, as a DaemonSet) is made of: the labels that mark it ours, the Pumba
command, and the DaemonSet, Namespace and expiry Job manifests; what of a deployed agent a re-run compares. Pure, so
the manifest a run would send is unit-tested without a cluster.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.chaos.engineering.plugins.module_utils._k8s_agent_options import (
    CONTAINERD_K8S_NAMESPACE,
    DEFAULT_IMAGE,
    DEFAULT_INTERVAL,
    DEFAULT_SIGNAL,
    DEFAULT_TARGET_NAMESPACE,
    agent_name,
    agent_namespace,
    normalize_interval,
    resolve_runtime,
)
from ansible_collections.chaos.engineering.plugins.module_utils._selection import PROTECTED_LABEL


CONTAINER_NAME = 'agent'
SOCKET_VOLUME = 'runtime-socket'

AGENT_LABEL = 'chaos.engineering/agent'
MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by'
MANAGED_BY = 'chaos.engineering'
NAME_LABEL = 'app.kubernetes.io/name'
COMPONENT = 'chaos-agent'
# Pumba skips containers carrying this label, so an agent never kills itself or another agent.
PUMBA_SKIP_LABEL = 'com.gaiaadm.pumba'
EXPIRES_ANNOTATION = 'chaos.engineering/expires'
DURATION_ANNOTATION = 'chaos.engineering/duration'
COMPONENT_LABEL = 'app.kubernetes.io/component'
EXPIRY_COMPONENT = 'expiry'
EXPIRY_CONTAINER = 'expiry'
# A node label no node carries: should anyone scale the expiry Job up, its pod stays Pending and runs nothing.
NEVER_SCHEDULED = {'chaos.engineering/expiry-job': 'never-scheduled'}
# Set by the API server on a DaemonSet: never ours to compare.
SERVER_ANNOTATIONS = ('deprecated.daemonset.template.generation', 'kubectl.kubernetes.io/last-applied-configuration')

DEFAULT_RESOURCES = {'requests': {'cpu': '10m', 'memory': '16Mi'}, 'limits': {'cpu': '100m', 'memory': '64Mi'}}
# Pumba is a client of the runtime socket: kill, stop, pause, and netem/iptables through a --tc-image or
# --iptables-image sidecar (which the runtime starts with NET_ADMIN in the target's network namespace) need no
# capability in the agent itself. It runs as uid 0 because the socket is root-owned (docker: root:docker 0660,
# containerd: root:root 0660) and the docker group's gid differs from node to node; uid 0 with every capability
# dropped reaches the socket as its owner, with no CAP_DAC_OVERRIDE.
RESTRICTED_SECURITY_CONTEXT = {
    'privileged': False,
    'allowPrivilegeEscalation': False,
    'readOnlyRootFilesystem': True,
    'runAsUser': 0,
    'capabilities': {'drop': ['ALL']},
    'seccompProfile': {'type': 'RuntimeDefault'},
}
# privileged=true: the escape hatch for custom args that need more; privileged excludes allowPrivilegeEscalation=false.
PRIVILEGED_SECURITY_CONTEXT = {'privileged': True, 'readOnlyRootFilesystem': True, 'runAsUser': 0}
POD_SECURITY_CONTEXT = {'seccompProfile': {'type': 'RuntimeDefault'}}
TERMINATION_GRACE_SECONDS = 5

# The selector every agent of ours carries: how a teardown finds them with no memory of the run.
OWNED_SELECTOR = '%s=%s,%s' % (MANAGED_BY_LABEL, MANAGED_BY, AGENT_LABEL)


def default_pattern(runtime, target_namespace=DEFAULT_TARGET_NAMESPACE, sandboxes=False):
    """Pumba's re2 pattern for the app containers of pods in ``target_namespace`` (and their sandboxes too, with
    ``sandboxes``, Docker only).

    Docker (dockershim, cri-dockerd) names a pod's containers k8s_<container>_<pod>_<namespace>_<uid>_<n> and its
    sandbox k8s_POD_<pod>_...: a container name is a lower-case DNS label, so [a-z0-9-]+ never matches POD (RE2
    has no lookahead). Killing a sandbox makes the kubelet rebuild the whole pod, with a new IP: not what "kill a
    container" means. Pumba's containerd runtime names app containers <namespace>/<pod>/<container> and a sandbox
    by its ID, so its pattern never matches a sandbox.
    """
    if runtime == 'containerd':
        return '^%s/' % target_namespace
    return '^k8s_%s_[^_]+_%s_' % ('[^_]+' if sandboxes else '[a-z0-9-]+', target_namespace)


def build_args(params):
    """The agent's container args: ``args`` as given, or Pumba's kill loop built from the options."""
    if params.get('args') is not None:
        return [str(a) for a in params['args']]
    runtime, dummy, mount = resolve_runtime(params.get('runtime_socket'), params.get('runtime'))
    argv = []
    if params.get('random', True):
        argv.append('--random')
    argv += ['--interval', normalize_interval(params.get('interval') or DEFAULT_INTERVAL)]
    if runtime == 'containerd':
        argv += ['--runtime', 'containerd', '--containerd-socket', mount,
                 '--containerd-namespace', CONTAINERD_K8S_NAMESPACE]
    pattern = params.get('pattern')
    if pattern is None:
        pattern = default_pattern(runtime, params.get('target_namespace') or DEFAULT_TARGET_NAMESPACE,
                                  sandboxes=bool(params.get('kill_sandboxes')))
    argv += ['kill', '--signal', params.get('signal') or DEFAULT_SIGNAL, 're2:' + pattern]
    return argv


def agent_labels(name, pod=False):
    """The labels of an agent's DaemonSet (``pod=False``) or of its pods."""
    labels = {
        MANAGED_BY_LABEL: MANAGED_BY,
        NAME_LABEL: COMPONENT,
        AGENT_LABEL: name,
        PROTECTED_LABEL: 'true',
    }
    if pod:
        labels[PUMBA_SKIP_LABEL] = 'true'
    return labels


def namespace_manifest(name):
    return {'apiVersion': 'v1', 'kind': 'Namespace',
            'metadata': {'name': name, 'labels': {MANAGED_BY_LABEL: MANAGED_BY, PROTECTED_LABEL: 'true'}}}


def security_context(privileged=False):
    """The agent container's securityContext (a fresh copy)."""
    return copy.deepcopy(PRIVILEGED_SECURITY_CONTEXT if privileged else RESTRICTED_SECURITY_CONTEXT)


def image_warning(image):
    """A warning for an image reference that is not pinned (no tag, or ``latest``), else None. A digest pins."""
    ref = (image or '').strip()
    if '@' in ref:
        return None
    last = ref.rsplit('/', 1)[-1]
    if ':' not in last:
        return ('image %s has no tag, so each node runs whatever it pulls as latest; pin a version (%s) or a '
                'digest.' % (ref, DEFAULT_IMAGE))
    if last.rsplit(':', 1)[1] == 'latest':
        return ('image %s is the floating latest tag, so nodes may run different versions; pin a version (%s) or a '
                'digest.' % (ref, DEFAULT_IMAGE))
    return None


def owner_reference(job):
    """The ownerReference that makes ``job`` (the expiry Job, as the API returned it) the DaemonSet's owner."""
    meta = job['metadata']
    return {'apiVersion': 'batch/v1', 'kind': 'Job', 'name': meta['name'], 'uid': meta['uid'],
            'controller': False, 'blockOwnerDeletion': True}


def daemonset_manifest(params, expires_at=None, duration=None, owner=None):
    """The DaemonSet for ``params`` (the module's options). ``expires_at`` is an ISO time or None; ``owner`` the
    expiry Job (with its uid) that owns it, or None."""
    name = agent_name(params)
    namespace = agent_namespace(params)
    dummy, host_socket, mount = resolve_runtime(params.get('runtime_socket'), params.get('runtime'))
    container = {
        'name': CONTAINER_NAME,
        'image': params.get('image') or DEFAULT_IMAGE,
        'imagePullPolicy': params.get('image_pull_policy') or 'IfNotPresent',
        'args': build_args(params),
        'resources': params['resources'] if params.get('resources') is not None else DEFAULT_RESOURCES,
        # readOnly keeps the agent from replacing or unlinking the socket path; it does not narrow the runtime's
        # API (connect() needs write permission on the socket inode, which a read-only mount leaves alone).
        'volumeMounts': [{'name': SOCKET_VOLUME, 'mountPath': mount, 'readOnly': True}],
        'securityContext': security_context(params.get('privileged')),
    }
    pod_spec = {
        'containers': [container],
        'volumes': [{'name': SOCKET_VOLUME, 'hostPath': {'path': host_socket, 'type': 'Socket'}}],
        # Pumba talks to the runtime socket, never to the Kubernetes API; no host network, PID or IPC namespace.
        'automountServiceAccountToken': False,
        'enableServiceLinks': False,
        'securityContext': dict(POD_SECURITY_CONTEXT),
        'terminationGracePeriodSeconds': TERMINATION_GRACE_SECONDS,
    }
    if params.get('node_selector'):
        pod_spec['nodeSelector'] = dict((str(k), str(v)) for k, v in params['node_selector'].items())
    if params.get('tolerations'):
        pod_spec['tolerations'] = [dict(t) for t in params['tolerations']]
    annotations = {}
    if expires_at:
        annotations[EXPIRES_ANNOTATION] = expires_at
    if duration is not None:
        annotations[DURATION_ANNOTATION] = str(duration)
    metadata = {'name': name, 'namespace': namespace, 'labels': agent_labels(name)}
    if annotations:
        metadata['annotations'] = annotations
    if owner is not None:
        metadata['ownerReferences'] = [owner_reference(owner)]
    return {
        'apiVersion': 'apps/v1',
        'kind': 'DaemonSet',
        'metadata': metadata,
        'spec': {
            'selector': {'matchLabels': {AGENT_LABEL: name}},
            # The agent serves nothing: replace it on every node at once.
            'updateStrategy': {'type': 'RollingUpdate', 'rollingUpdate': {'maxUnavailable': '100%'}},
            'template': {
                'metadata': {'labels': agent_labels(name, pod=True)},
                'spec': pod_spec,
            },
        },
    }


def expiry_job_manifest(params, expires_at, seconds):
    """The expiry Job of the agent ``params`` names: no pod ever (parallelism 0), failed by the job controller
    ``seconds`` after it starts, then deleted at once (TTL 0), with the DaemonSet it owns."""
    name = agent_name(params)
    labels = agent_labels(name)
    labels[COMPONENT_LABEL] = EXPIRY_COMPONENT
    # The pod template is never used (parallelism 0); it must still be valid, and harmless if scaled up: no
    # schedulable node, the agent's own restrictions, no token.
    pod_labels = {MANAGED_BY_LABEL: MANAGED_BY, PROTECTED_LABEL: 'true', PUMBA_SKIP_LABEL: 'true',
                  COMPONENT_LABEL: EXPIRY_COMPONENT}
    return {
        'apiVersion': 'batch/v1',
        'kind': 'Job',
        'metadata': {'name': name, 'namespace': agent_namespace(params), 'labels': labels,
                     'annotations': {EXPIRES_ANNOTATION: expires_at}},
        'spec': {
            'parallelism': 0,
            'backoffLimit': 0,
            'activeDeadlineSeconds': seconds,
            'ttlSecondsAfterFinished': 0,
            'template': {
                'metadata': {'labels': pod_labels},
                'spec': {
                    'restartPolicy': 'Never',
                    'nodeSelector': dict(NEVER_SCHEDULED),
                    'automountServiceAccountToken': False,
                    'enableServiceLinks': False,
                    'securityContext': dict(POD_SECURITY_CONTEXT),
                    'terminationGracePeriodSeconds': 0,
                    'containers': [{
                        'name': EXPIRY_CONTAINER,
                        'image': params.get('image') or DEFAULT_IMAGE,
                        'imagePullPolicy': 'IfNotPresent',
                        'args': ['--help'],
                        'securityContext': security_context(False),
                        'resources': {'limits': {'cpu': '10m', 'memory': '16Mi'}},
                    }],
                },
            },
        },
    }


def is_ours(obj):
    labels = (obj.get('metadata') or {}).get('labels') or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY and bool(labels.get(AGENT_LABEL))


def comparable(obj):
    """What a deploy manages: labels, our annotations and the (server-defaulted) spec."""
    if not obj:
        return {}
    meta = obj.get('metadata') or {}
    annotations = dict((k, v) for k, v in (meta.get('annotations') or {}).items() if k not in SERVER_ANNOTATIONS)
    return {'metadata': {'labels': meta.get('labels') or {}, 'annotations': annotations,
                         'ownerReferences': meta.get('ownerReferences') or []},
            'spec': obj.get('spec') or {}}


def differs(existing, proposed):
    return comparable(existing) != comparable(proposed)
