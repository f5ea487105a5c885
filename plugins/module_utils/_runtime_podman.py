# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Podman implementation of the runtime seam: DockerRuntime over Podman's Docker-compatible API socket
(``podman system service``), with what Podman 4 does differently.

Measured on Debian's podman 4.3.1 (compat API 1.41):
  - an operation in the wrong state (pause twice, unpause a running container, kill an exited one) answers 500
    with "container state improper", where Docker answers 409;
  - the compat listing without ``all`` leaves out paused containers, and its summaries have no HostConfig (so
    no network mode);
  - a container whose network namespace another container joined (our helper) cannot be removed until that one
    is: "has dependent containers";
  - Health.Status is "" for a container without a health check, where Docker has no Health (container_back
    reads both as none);
  - a pod's infra container (IsInfra, only in the libpod listing) holds the pod's namespaces: never a target;
  - with the cgroupfs manager a container's cgroup is <parent>/libpod-<id>, the parent /libpod_parent unless
    HostConfig.CgroupParent names one (systemd: machine.slice/libpod-<id>.scope); a container given a parent
    puts its conmon in <parent>/conmon, so a stressor's conmon is accounted to the target too (a few ms).
No kubelet drives Podman: owner_pod is None. Imports nothing from Ansible: the detached reverter runs it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.chaos.engineering.plugins.module_utils import _docker_helpers
from ansible_collections.chaos.engineering.plugins.module_utils._docker import (
    DockerConnectionError,
    api_status,
    build_api_client,
)
from ansible_collections.chaos.engineering.plugins.module_utils._runtime_docker import DockerRuntime, target_cgroup

DEFAULT_PODMAN_SOCKET = 'unix:///run/podman/podman.sock'

# Podman's words for "not in the state this call needs" and "no such container" when its status is 500.
WRONG_STATE_MARKER = 'container state improper'
GONE_MARKER = 'no such container'
DEPENDENTS_MARKER = 'has dependent containers'

# The libpod listing (every state, IsInfra); any Podman 4 serves this version of it.
LIBPOD_LIST = '/v4.0.0/libpod/containers/json'

# Where Podman puts a container's cgroup, by cgroup manager (see _runtime_docker.DOCKER_CGROUP_LAYOUT).
PODMAN_CGROUP_LAYOUT = {'cgroupfs': ('/libpod_parent', 'libpod-%s'), 'systemd': ('/machine.slice', 'libpod-%s.scope')}

# Podman's own states, as the Docker API names them.
STATE_NAMES = {'configured': 'created', 'initialized': 'created', 'stopped': 'exited', 'stopping': 'running'}


def podman_socket(conn):
    return conn.get('podman_socket') or DEFAULT_PODMAN_SOCKET


def api_connection(conn):
    """The docker.APIClient connection of a Podman one: its service speaks plain HTTP on its socket (no TLS), so
    only the socket, the API version and the timeout apply."""
    return dict(docker_host=podman_socket(conn), api_version=conn.get('api_version'), timeout=conn.get('timeout'))


def make_podman_client(conn, pool_size=10):
    """A checked docker.APIClient on the Podman service of ``conn`` (its ``podman_socket``); raises
    DockerConnectionError naming the socket, and saying so when what answers there is not Podman."""
    socket = podman_socket(conn)
    try:
        client = build_api_client(api_connection(conn), pool_size)
        components = client.version().get('Components') or []
    except Exception as exc:  # pylint: disable=broad-exception-caught
        raise DockerConnectionError('Cannot reach the Podman service at podman_socket=%s (is `podman system '
                                    'service` running there?): %s' % (socket, exc))
    if not any('podman' in (c.get('Name') or '').lower() for c in components):
        raise DockerConnectionError('The engine at podman_socket=%s is not Podman (it reports %s); use '
                                    'runtime=docker for a Docker engine.'
                                    % (socket, ', '.join(c.get('Name') or '?' for c in components) or 'nothing'))
    return client


def podman_error_kind(exc):
    """gone, wrong-state or None for an error of Podman's compat API."""
    status = api_status(exc)
    text = str(exc).lower()
    if status == 404 or (status == 500 and GONE_MARKER in text):
        return 'gone'
    if status == 409 or (status == 500 and WRONG_STATE_MARKER in text):
        return 'wrong-state'
    return None


def state_name(state):
    state = (state or '').lower()
    return STATE_NAMES.get(state, state)


def candidate_of(summary):
    """A libpod listing entry as a selection candidate; a pod's infra container is protected."""
    names = summary.get('Names') or []
    candidate = dict(id=summary['Id'], name=names[0].lstrip('/') if names else summary['Id'][:12],
                     labels=summary.get('Labels') or {}, state=state_name(summary.get('State')),
                     image=summary.get('Image'))
    if summary.get('IsInfra'):
        candidate['protected_reason'] = "the infra container of Podman pod %s" % (summary.get('PodName') or '?')
    return candidate


class PodmanRuntime(DockerRuntime):
    """A Podman service, through a docker.APIClient on its socket (see make_podman_client)."""

    def _libpod_list(self):
        return self.client._result(self.client._get(self.client.base_url + LIBPOD_LIST, params={'all': 'true'}),
                                   True)

    def candidates(self, states):
        wanted = set(states)
        return [c for c in (candidate_of(s) for s in self._libpod_list()) if c['state'] in wanted]

    def remove(self, container_id, volumes=False):
        try:
            super(PodmanRuntime, self).remove(container_id, volumes=volumes)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            if DEPENDENTS_MARKER not in str(exc):
                raise
            # Our helpers in its namespace go first; another container of the user's there still stops us.
            for helper in _docker_helpers.list_helpers(self.client):
                if (helper.get('Labels') or {}).get(_docker_helpers.TARGET_LABEL) == container_id:
                    self.remove_helper(helper['Id'])
            super(PodmanRuntime, self).remove(container_id, volumes=volumes)

    def error_kind(self, exc):
        return podman_error_kind(exc)

    def owner_pod(self, container_id):
        return None  # no kubelet drives Podman

    def kubelet_restart_verdict(self, pod, container_id):
        raise NotImplementedError('no kubelet drives Podman')

    def running_containers(self):
        # The compat summaries have no network mode, and leave paused containers out without ``all``.
        listing = []
        for summary in self._libpod_list():
            if state_name(summary.get('State')) not in ('running', 'paused'):
                continue
            try:
                info = self.client.inspect_container(summary['Id'])
            except Exception as exc:  # pylint: disable=broad-exception-caught
                if podman_error_kind(exc) == 'gone':
                    continue
                raise
            listing.append(dict(id=summary['Id'], name=(summary.get('Names') or [summary['Id'][:12]])[0].lstrip('/'),
                                network_mode=(info.get('HostConfig') or {}).get('NetworkMode') or 'default'))
        return listing

    def remove_helper(self, helper_id):
        try:
            _docker_helpers.remove_helper(self.client, helper_id)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            if podman_error_kind(exc) != 'gone':
                raise

    def target_cgroup(self, container_id):
        return target_cgroup(self.client, container_id, layout=PODMAN_CGROUP_LAYOUT)

    def helper_lost(self, helper_id, exc):
        if podman_error_kind(exc) is not None:
            return True
        return super(PodmanRuntime, self).helper_lost(helper_id, exc)
