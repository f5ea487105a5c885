# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The chaos agent DaemonSet (Pumba on every node): manifest building, readiness and expiry.

An agent with an expiry is owned by its expiry Job: a Job that never creates a pod (parallelism 0), whose
activeDeadlineSeconds ends at the expiry and whose ttlSecondsAfterFinished is 0. At the deadline the job controller
fails it (DeadlineExceeded), the TTL-after-finished controller deletes it, and the garbage collector deletes the
DaemonSet it owns and the DaemonSet's pods: kube-controller-manager alone enforces the expiry, with no controller
of ours running, no pod scheduled and no RBAC for the agent.

Everything above ``# API`` is pure (no I/O), so the manifest a run would send, its readiness
verdict and which agents have expired are unit-tested without a cluster. The API helpers take a
K8sClient from _k8s.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import math
import re

from urllib.parse import quote

from ansible_collections.chaos.engineering.plugins.module_utils._k8s import (
    AGENT_NAMESPACE,
    K8sApiError,
    K8sError,
    api_error_text,
    pod_is_ready,
    pod_is_terminating,
)
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import iso_utc as iso
from ansible_collections.chaos.engineering.plugins.module_utils._selection import PROTECTED_LABEL

DEFAULT_NAME = 'chaos-agent'
# Pinned: a floating tag would let each node pull whichever Pumba was current when it first ran the agent.
PUMBA_VERSION = '1.1.2'
DEFAULT_IMAGE = 'ghcr.io/alexei-led/pumba:%s' % PUMBA_VERSION
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

# Where each runtime's socket is on a node by default, which is also where the agent finds it in its container.
RUNTIME_SOCKETS = {
    'docker': '/var/run/docker.sock',
    'containerd': '/run/containerd/containerd.sock',
}
RUNTIMES = tuple(sorted(RUNTIME_SOCKETS))
CONTAINERD_K8S_NAMESPACE = 'k8s.io'

DEFAULT_TARGET_NAMESPACE = 'default'
DEFAULT_INTERVAL = '30s'
DEFAULT_SIGNAL = 'SIGKILL'
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

DNS_LABEL = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')
GO_DURATION = re.compile(r'^([0-9]+(\.[0-9]+)?(ns|us|\u00b5s|ms|s|m|h))+$')
SIGNAL = re.compile(r'^(SIG[A-Z0-9+-]+|[0-9]{1,2})$')

# Documented in the k8s_agent module; auth options come from _k8s.K8S_AUTH_ARGUMENT_SPEC.
AGENT_ARGUMENT_SPEC = dict(
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    name=dict(type='str'),
    namespace=dict(type='str'),
    all=dict(type='bool', default=False),
    expired_only=dict(type='bool', default=False),
    image=dict(type='str', default=DEFAULT_IMAGE),
    image_pull_policy=dict(type='str', choices=['Always', 'IfNotPresent', 'Never'], default='IfNotPresent'),
    args=dict(type='list', elements='str'),
    interval=dict(type='str', default=DEFAULT_INTERVAL),
    signal=dict(type='str', default=DEFAULT_SIGNAL),
    pattern=dict(type='str'),
    target_namespace=dict(type='str', default=DEFAULT_TARGET_NAMESPACE),
    random=dict(type='bool', default=True),
    kill_sandboxes=dict(type='bool', default=False),
    runtime_socket=dict(type='str', default='docker'),
    runtime=dict(type='str', choices=list(RUNTIMES)),
    privileged=dict(type='bool', default=False),
    node_selector=dict(type='dict'),
    tolerations=dict(type='list', elements='dict'),
    resources=dict(type='dict'),
    duration=dict(type='int'),
    expires_at=dict(type='str'),
    wait=dict(type='bool', default=True),
    wait_timeout=dict(type='int', default=120),
)
# args replaces the Pumba command built from interval, signal, pattern and target_namespace (and random and
# kill_sandboxes, which validate_params checks: a boolean given as false still counts as given here). all with
# name: validate_params too.
AGENT_MUTUALLY_EXCLUSIVE = [('duration', 'expires_at')] + [
    ('args', key) for key in ('interval', 'signal', 'pattern', 'target_namespace')]


class AgentError(K8sError):
    """Bad agent options, or an agent that cannot be managed (for example one that is not ours)."""


# ---------------------------------------------------------------------------------------------
# Options -> manifest (pure)


def agent_name(params):
    return params.get('name') or DEFAULT_NAME


def agent_namespace(params):
    return params.get('namespace') or AGENT_NAMESPACE


def resolve_runtime(runtime_socket, runtime=None):
    """(runtime, socket path on the node, socket path in the agent's container).

    ``runtime_socket`` is V(docker), V(containerd) or an absolute path on the node. For a path, the
    runtime is ``runtime`` if given, else containerd when the path names containerd, else docker.
    """
    socket = (runtime_socket or 'docker').strip()
    if socket in RUNTIME_SOCKETS:
        if runtime and runtime != socket:
            raise AgentError('runtime=%s contradicts runtime_socket=%s; give a socket path to mount a %s socket from '
                             'somewhere else.' % (runtime, socket, runtime))
        return socket, RUNTIME_SOCKETS[socket], RUNTIME_SOCKETS[socket]
    if not socket.startswith('/'):
        raise AgentError('runtime_socket must be docker, containerd or an absolute path on the node, got %r.'
                         % runtime_socket)
    if runtime is None:
        runtime = 'containerd' if 'containerd' in socket.rsplit('/', 1)[-1] or '/containerd/' in socket else 'docker'
    return runtime, socket, RUNTIME_SOCKETS[runtime]


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


def normalize_interval(value):
    """A Go duration for Pumba's --interval; a bare number means seconds."""
    text = str(value).strip()
    if re.match(r'^[0-9]+$', text):
        text += 's'
    if not GO_DURATION.match(text) or not re.search(r'[1-9]', text):
        raise AgentError('interval must be a positive Go duration such as 30s, 1m or 1m30s (or a number of '
                         'seconds), got %r.' % (value,))
    return text


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


def validate_params(params):
    """Messages for options that cannot work, before any API call."""
    errors = []
    state = params.get('state') or 'present'
    if params.get('all') and params.get('name'):
        errors.append('all=true removes every agent: it takes no name (give namespace to search only there).')
    if params.get('args') is not None and params.get('random') is False:
        errors.append('random=false has no effect with args: args is the whole command.')
    if params.get('kill_sandboxes') and params.get('args') is not None:
        errors.append('kill_sandboxes=true has no effect with args: args is the whole command.')
    if params.get('kill_sandboxes') and params.get('pattern') is not None:
        errors.append('kill_sandboxes=true widens the default pattern: with pattern, write the sandboxes into it '
                      '(k8s_POD_...).')
    if params.get('all') and state != 'absent':
        errors.append('all=true finds every agent to remove: it needs state=absent.')
    if params.get('expired_only') and state != 'absent':
        errors.append('expired_only=true applies to state=absent.')
    name = agent_name(params)
    if not params.get('all') and (len(name) > 63 or not DNS_LABEL.match(name)):
        errors.append('name must be a DNS label (lower case letters, digits and -, at most 63 characters), got %r.'
                      % name)
    namespace = params.get('namespace')
    if namespace is not None and (len(namespace) > 63 or not DNS_LABEL.match(namespace)):
        errors.append('namespace must be a DNS label, got %r.' % namespace)
    target = params.get('target_namespace')
    if target is not None and not DNS_LABEL.match(target):
        errors.append('target_namespace must be a DNS label, got %r.' % target)
    if params.get('wait_timeout') is not None and params['wait_timeout'] < 1:
        errors.append('wait_timeout must be at least 1 second, got %d.' % params['wait_timeout'])
    if params.get('duration') is not None and params['duration'] < 1:
        errors.append('duration must be at least 1 second, got %d.' % params['duration'])
    if params.get('expires_at') is not None:
        try:
            parse_time(params['expires_at'])
        except ValueError as exc:
            errors.append(str(exc))
    if state == 'present':
        if not (params.get('image') or '').strip():
            errors.append('image must not be empty.')
        if params.get('args') is not None and not params['args']:
            errors.append('args is empty: leave it out for the default Pumba kill loop, or give the full argument '
                          'list.')
        if params.get('signal') is not None and not SIGNAL.match(params['signal']):
            errors.append('signal must be a signal name such as SIGKILL or SIGTERM (or its number), got %r.'
                          % params['signal'])
        if params.get('pattern') is not None and not params['pattern'].strip():
            errors.append('pattern must not be empty (leave it out for the default).')
        try:
            runtime = resolve_runtime(params.get('runtime_socket'), params.get('runtime'))[0]
            if params.get('kill_sandboxes') and runtime == 'containerd':
                errors.append('kill_sandboxes=true works with the docker runtime only: Pumba names a containerd '
                              'sandbox by its ID, which no namespace pattern matches (give args, for example with '
                              "Pumba's --label io.kubernetes.pod.namespace=<namespace>).")
            if params.get('args') is None:
                normalize_interval(params.get('interval') or DEFAULT_INTERVAL)
        except AgentError as exc:
            errors.append(str(exc))
        for index, toleration in enumerate(params.get('tolerations') or []):
            unknown = set(toleration) - set(['key', 'operator', 'value', 'effect', 'tolerationSeconds'])
            if unknown:
                errors.append('tolerations[%d] has unknown keys %s (known: key, operator, value, effect, '
                              'tolerationSeconds).' % (index, ', '.join(sorted(unknown))))
            wrong = sorted(k for k in ('key', 'operator', 'value', 'effect')
                           if toleration.get(k) is not None and not isinstance(toleration[k], str))
            seconds = toleration.get('tolerationSeconds')
            if seconds is not None and (not isinstance(seconds, int) or isinstance(seconds, bool)):
                wrong.append('tolerationSeconds')
            if wrong:
                errors.append('tolerations[%d]: %s must be %s.' % (
                    index, ', '.join(wrong), 'strings (tolerationSeconds an integer)'))
        for key, value in sorted((params.get('node_selector') or {}).items()):
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                errors.append('node_selector.%s must be a string, got %r.' % (key, value))
        resources = params.get('resources')
        if resources is not None:
            unknown = set(resources) - set(['requests', 'limits', 'claims'])
            if unknown:
                errors.append('resources has unknown keys %s (known: requests, limits).' % ', '.join(sorted(unknown)))
            for key in ('requests', 'limits'):
                amounts = resources.get(key)
                if amounts is not None and not (isinstance(amounts, dict) and all(
                        isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in amounts.values())):
                    errors.append('resources.%s must map resource names to quantities such as 100m or 64Mi, got %r.'
                                  % (key, amounts))
    return errors


# ---------------------------------------------------------------------------------------------
# Expiry (pure)


def parse_time(text):
    """A timezone-aware datetime from an ISO-8601 time (Z or an offset; a naive time is taken as UTC)."""
    value = str(text).strip()
    if value.endswith('Z') or value.endswith('z'):
        value = value[:-1] + '+00:00'
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError('expires_at must be an ISO-8601 time such as 2026-11-27T18:00:00Z, got %r.' % (text,))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def agent_expiry(obj):
    """The expiry of an agent object as a datetime, or None (never expires, or unreadable)."""
    text = ((obj.get('metadata') or {}).get('annotations') or {}).get(EXPIRES_ANNOTATION)
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None


def is_expired(obj, now):
    expiry = agent_expiry(obj)
    return expiry is not None and expiry <= now


def plan_expiry(params, existing, now):
    """(expires_at ISO or None, duration or None) for a deploy.

    ``expires_at`` is taken as given. A ``duration`` counts from the first deploy with that duration:
    an identical re-run keeps the deadline already on the agent (so it stays ok), unless that deadline
    has passed, or the duration changed, which start a new one.
    """
    if params.get('expires_at'):
        return iso(parse_time(params['expires_at'])), None
    duration = params.get('duration')
    if duration is None:
        return None, None
    if existing is not None:
        annotations = (existing.get('metadata') or {}).get('annotations') or {}
        expiry = agent_expiry(existing)
        if annotations.get(DURATION_ANNOTATION) == str(duration) and expiry is not None and expiry > now:
            return annotations[EXPIRES_ANNOTATION], duration
    return iso(now + datetime.timedelta(seconds=duration)), duration


def expiry_in_the_past(params, now):
    """A message when ``expires_at`` is not in the future (nothing may be deployed then), else None."""
    if not params.get('expires_at') or (params.get('state') or 'present') != 'present':
        return None
    try:
        moment = parse_time(params['expires_at'])
    except ValueError:
        return None  # validate_params reports it
    if moment > now:
        return None
    return ('expires_at %s is not in the future (it is now %s): an agent that has already expired is never '
            'deployed. Give a later time, or duration.' % (params['expires_at'], iso(now)))


def deadline_seconds(expires_at, start):
    """activeDeadlineSeconds for a Job started (or, before the job controller saw it, created) at ``start``,
    so that it fails at ``expires_at`` (both datetimes); at least 1, rounded up."""
    return max(1, int(math.ceil((expires_at - start).total_seconds())))


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


def job_start(job):
    """When the job controller counts the Job's deadline from: status.startTime, else its creation."""
    status = job.get('status') or {}
    text = status.get('startTime') or (job.get('metadata') or {}).get('creationTimestamp')
    return parse_time(text) if text else None


def job_finished(job):
    """Whether the Job is done (Failed or Complete, or about to be) or being deleted: then it and the agent it owns
    are going away."""
    if (job.get('metadata') or {}).get('deletionTimestamp'):
        return True
    for condition in (job.get('status') or {}).get('conditions') or []:
        if condition.get('type') in ('Failed', 'Complete', 'FailureTarget', 'SuccessCriteriaMet') \
                and condition.get('status') == 'True':
            return True
    return False


def job_expiry(job):
    return ((job.get('metadata') or {}).get('annotations') or {}).get(EXPIRES_ANNOTATION)


def owned_by(obj, job):
    """Whether ``obj`` has an ownerReference to ``job`` (by uid)."""
    uid = (job.get('metadata') or {}).get('uid')
    return any(ref.get('uid') == uid for ref in (obj.get('metadata') or {}).get('ownerReferences') or [])


# ---------------------------------------------------------------------------------------------
# Ownership, comparison, readiness (pure)


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


def rollout(obj):
    """(ready, counts) for a DaemonSet: ready when the controller has seen the current generation and every
    node that should run it runs an updated, ready pod."""
    meta = obj.get('metadata') or {}
    status = obj.get('status') or {}
    counts = dict(
        generation=meta.get('generation'),
        observed_generation=status.get('observedGeneration'),
        desired=status.get('desiredNumberScheduled', 0),
        current=status.get('currentNumberScheduled', 0),
        updated=status.get('updatedNumberScheduled', 0),
        ready=status.get('numberReady', 0),
        available=status.get('numberAvailable', 0),
        misscheduled=status.get('numberMisscheduled', 0),
    )
    observed = counts['observed_generation'] is not None and counts['generation'] is not None \
        and counts['observed_generation'] >= counts['generation']
    ready = observed and counts['desired'] == counts['updated'] == counts['ready'] == counts['available']
    return ready, counts


def describe_rollout(counts):
    return ('desired %(desired)s, updated %(updated)s, ready %(ready)s, available %(available)s '
            '(generation %(generation)s observed %(observed_generation)s)' % counts)


def pod_summary(pod):
    """name, node, phase, ready and, when not ready, the reason (a waiting container or a pod condition)."""
    meta = pod.get('metadata') or {}
    status = pod.get('status') or {}
    entry = dict(name=meta.get('name'), node=(pod.get('spec') or {}).get('nodeName'), phase=status.get('phase'),
                 ready=pod_is_ready(pod), terminating=pod_is_terminating(pod))
    if not entry['ready']:
        reason = None
        for cstatus in status.get('containerStatuses') or []:
            state = cstatus.get('state') or {}
            waiting = state.get('waiting') or state.get('terminated')
            if waiting and (waiting.get('reason') or waiting.get('message')):
                reason = ': '.join(x for x in (waiting.get('reason'), waiting.get('message')) if x)
                break
        if reason is None:
            for condition in status.get('conditions') or []:
                if condition.get('status') != 'True' and (condition.get('reason') or condition.get('message')):
                    reason = ': '.join(x for x in (condition.get('reason'), condition.get('message')) if x)
                    break
        if reason is None and entry['terminating']:
            reason = 'terminating'
        entry['reason'] = reason
    return entry


# ---------------------------------------------------------------------------------------------
# API


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
