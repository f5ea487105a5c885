# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker implementation of the runtime seam (_runtime.ContainerRuntime), over a docker.APIClient.

The client comes from _docker (connection options, TLS); helper containers from _docker_helpers; a Kubernetes
node's containers are marked and measured through _kubelet.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.chaos.engineering.plugins.module_utils import _docker_exec, _docker_helpers, _kubelet, _stress_plan
from ansible_collections.chaos.engineering.plugins.module_utils._docker import api_status, container_candidates
from ansible_collections.chaos.engineering.plugins.module_utils._runtime import ContainerRuntime

# Messages of an exec into a helper that stopped, or was removed, under us.
HELPER_GONE_MARKERS = ('stopped state', 'is not running', 'No such container', 'removal of container', 'is restarting')


# The Docker API's statuses for "no such container" and "not in the state this call needs".
ERROR_KINDS = {404: 'gone', 409: 'wrong-state'}

# Where an engine puts a container's cgroup, by cgroup driver: (the default parent, the leaf's name for an id).
DOCKER_CGROUP_LAYOUT = {'cgroupfs': ('/docker', '%s'), 'systemd': ('/system.slice', 'docker-%s.scope')}


def recovery_baseline(client, container_id):
    """What a container's recovery is measured against: when it last started."""
    return dict(started_at=(client.inspect_container(container_id).get('State') or {}).get('StartedAt'))


def container_back(client, entry):
    """Has the container of ``entry`` started again since ``entry['started_at']``, and does it run (and pass its
    health check, when it has one)? Notes the ``state`` and ``health`` seen in the entry."""
    try:
        state = client.inspect_container(entry['id']).get('State') or {}
    except Exception as exc:  # pylint: disable=broad-exception-caught
        if api_status(exc) != 404:
            raise
        entry.update(state='removed', health=None)
        return False
    health = (state.get('Health') or {}).get('Status') or None  # Podman says '' for "no health check"
    entry.update(state=state.get('Status'), health=health)
    restarted = state.get('StartedAt') != entry['started_at']
    running = state.get('Running') and not state.get('Restarting') and not state.get('Paused')
    return bool(restarted and running and health in (None, 'healthy'))


def target_cgroup(client, container_id, proc_root='/proc', layout=None):
    """The container's cgroup (see ContainerRuntime.target_cgroup).

    The truth is the kernel's: /proc/<pid>/cgroup of its main process, when this host can read it (the module
    runs on the Docker host), and only when that path names the container (a pid of another host's engine would
    name another process). Otherwise it is what the engine says: the container's own cgroup parent, or the
    default parent of its driver, which a daemon-wide --cgroup-parent would make wrong; ``source`` says which.
    ``layout`` is how the engine names cgroups (DOCKER_CGROUP_LAYOUT when None).
    """
    info = client.info()
    driver = info.get('CgroupDriver') or 'cgroupfs'
    version = int(info.get('CgroupVersion') or 1)
    inspect = client.inspect_container(container_id)
    full_id = inspect['Id']
    pid = (inspect.get('State') or {}).get('Pid')
    found = dict(driver=driver, version=version)
    if pid:
        path = _stress_plan.proc_cgroup(pid, proc_root)
        if path and full_id in path:
            return dict(found, path=path, source='/proc/%d/cgroup' % pid)
    default, leaf_format = (layout or DOCKER_CGROUP_LAYOUT)['systemd' if driver == 'systemd' else 'cgroupfs']
    leaf = leaf_format % full_id
    parent = (inspect.get('HostConfig') or {}).get('CgroupParent')
    if parent:
        return dict(found, path='%s/%s' % (parent.rstrip('/'), leaf), source='HostConfig.CgroupParent')
    return dict(found, path='%s/%s' % (default, leaf), source='the %s driver\'s default' % driver)


def helper_gone(exc):
    """Did an exec fail because our helper stopped or was removed meanwhile?"""
    return api_status(exc) in (404, 409) or any(marker in str(exc) for marker in HELPER_GONE_MARKERS)


class DockerRuntime(ContainerRuntime):
    """A Docker engine, through a checked docker.APIClient (see _docker.make_client)."""

    def __init__(self, client):
        self.client = client

    def candidates(self, states):
        # On a Kubernetes node's engine: kube-system, the agent, protected pods and sandboxes are never harmed.
        return _kubelet.mark_protected(self.client, container_candidates(self.client, states))

    def kill(self, container_id, signal):
        self.client.kill(container_id, signal=signal)

    def stop(self, container_id, timeout):
        self.client.stop(container_id, timeout=timeout)

    def remove(self, container_id, volumes=False):
        self.client.remove_container(container_id, v=volumes, force=True)

    def start(self, container_id):
        self.client.start(container_id)

    def restart(self, container_id, timeout):
        # The engine's own restart: one call, and it starts a container that was not running too.
        self.client.restart(container_id, timeout=timeout)

    def pause(self, container_id):
        self.client.pause(container_id)

    def unpause(self, container_id):
        self.client.unpause(container_id)

    def error_kind(self, exc):
        return ERROR_KINDS.get(api_status(exc))

    def owner_pod(self, container_id):
        return _kubelet.pod_of((self.client.inspect_container(container_id).get('Config') or {}).get('Labels'))

    def kubelet_restart_verdict(self, pod, container_id):
        return _kubelet.restart_verdict(self.client, pod, container_id)

    def recovery_baseline(self, container_id):
        return recovery_baseline(self.client, container_id)

    def container_back(self, entry):
        # A kubelet's container is back when its replacement runs (and stayed up); any other when it runs again.
        if entry.get('pod'):
            return _kubelet.replacement_back(self.client, entry)
        return container_back(self.client, entry)

    def running_containers(self):
        return [dict(id=c['Id'], name=(c.get('Names') or ['/' + c['Id'][:12]])[0].lstrip('/'),
                     network_mode=(c.get('HostConfig') or {}).get('NetworkMode') or 'default')
                for c in self.client.containers()]

    def addresses(self, name):
        try:
            info = self.client.inspect_container(name)
        except Exception:  # pylint: disable=broad-exception-caught
            return None
        addresses = []
        for network in (info.get('NetworkSettings', {}).get('Networks') or {}).values():
            addresses += [a for a in (network.get('IPAddress'), network.get('GlobalIPv6Address')) if a]
        return addresses

    def netns_pid(self, container_id):
        return self.client.inspect_container(container_id)['State'].get('Pid')

    def has_image(self, image):
        try:
            self.client.inspect_image(image)
        except Exception:  # pylint: disable=broad-exception-caught
            return False
        return True

    def start_helper(self, image, target_id, labels, expires_at=None, network_mode=None):
        return _docker_helpers.start_helper(self.client, image, target_id, labels, network_mode=network_mode,
                                            expires_at=expires_at)

    def list_helpers(self):
        return _docker_helpers.list_helpers(self.client)

    def exec(self, container_id, argv, timeout=None, user=None, workdir=None, env=None):
        if timeout is None and not (user or workdir or env):
            return _docker_helpers.exec_in(self.client, container_id, argv)  # our helpers' commands: no thread
        return _docker_exec.timed_exec(self.client, container_id, argv, timeout=timeout, user=user,
                                       workdir=workdir, env=env)

    def remove_helper(self, helper_id):
        _docker_helpers.remove_helper(self.client, helper_id)

    def helper_lost(self, helper_id, exc):
        if helper_gone(exc):
            return True
        try:  # an exec cut short by the helper's removal fails with no such message: ask the engine
            return not self.client.inspect_container(helper_id)['State'].get('Running')
        except Exception as inspect_exc:  # pylint: disable=broad-exception-caught
            return helper_gone(inspect_exc)

    def target_cgroup(self, container_id):
        return target_cgroup(self.client, container_id)

    def start_stressor(self, image, name, argv, cgroup_parent, labels, expires_at):
        return _docker_helpers.start_stressor(self.client, image, name, argv, cgroup_parent, labels, expires_at)
