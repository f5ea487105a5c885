# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The chaos agent's options (k8s_agent): the argument spec, its defaults, the runtime socket they name, and the
checks that run before any API call. Pure.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.chaos.engineering.plugins.module_utils._k8s_client import K8sError
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_selection import AGENT_NAMESPACE
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import iso_utc, parse_iso


DEFAULT_NAME = 'chaos-agent'
# Pinned: a floating tag would let each node pull whichever Pumba was current when it first ran the agent.
PUMBA_VERSION = '1.1.2'
DEFAULT_IMAGE = 'ghcr.io/alexei-led/pumba:%s' % PUMBA_VERSION

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

DNS_LABEL = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')
GO_DURATION = re.compile(r'^([0-9]+(\.[0-9]+)?(ns|us|\u00b5s|ms|s|m|h))+$')
SIGNAL = re.compile(r'^(SIG[A-Z0-9+-]+|[0-9]{1,2})$')

# Documented in the k8s_agent module; auth options come from _k8s_client.K8S_AUTH_ARGUMENT_SPEC.
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


def normalize_interval(value):
    """A Go duration for Pumba's --interval; a bare number means seconds."""
    text = str(value).strip()
    if re.match(r'^[0-9]+$', text):
        text += 's'
    if not GO_DURATION.match(text) or not re.search(r'[1-9]', text):
        raise AgentError('interval must be a positive Go duration such as 30s, 1m or 1m30s (or a number of '
                         'seconds), got %r.' % (value,))
    return text


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


def parse_time(text):
    """A timezone-aware datetime from an ISO-8601 time (Z or an offset; a naive time is taken as UTC)."""
    seconds = parse_iso(text)
    if seconds is None:
        raise ValueError('expires_at must be an ISO-8601 time such as 2026-11-27T18:00:00Z, got %r.' % (text,))
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)


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
            'deployed. Give a later time, or duration.' % (params['expires_at'], iso_utc(now)))
