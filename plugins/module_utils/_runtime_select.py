# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which container runtime a module talks to: the ``runtime`` options, the connection dict the ledger keeps
(with its ``runtime`` key; absent means docker), and the runtime (see _runtime) made from them.

Documented once in the chaos.engineering.runtime doc fragment. Imports nothing from Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.chaos.engineering.plugins.module_utils import _docker
from ansible_collections.chaos.engineering.plugins.module_utils._runtime_docker import DockerRuntime
from ansible_collections.chaos.engineering.plugins.module_utils._runtime_podman import (
    DEFAULT_PODMAN_SOCKET,
    PodmanRuntime,
    make_podman_client,
)

RUNTIMES = ('docker', 'containerd', 'podman')

RUNTIME_ARGUMENT_SPEC = dict(
    runtime=dict(type='str', default='docker', choices=list(RUNTIMES)),
    containerd_socket=dict(type='str'),
    containerd_namespace=dict(type='str'),
    podman_socket=dict(type='str', default=DEFAULT_PODMAN_SOCKET),
)

# The options of each runtime besides the docker ones, kept in the ledger's connection dict.
RUNTIME_CONNECTION_KEYS = dict(containerd=('containerd_socket', 'containerd_namespace'), podman=('podman_socket',))


def runtime_name(conn):
    return conn.get('runtime') or 'docker'


def connection_params(params):
    """The connection dict of a module's params, as the ledger keeps it: the docker options, and for another
    runtime its name and options."""
    conn = _docker.connection_params(params)
    name = params.get('runtime') or 'docker'
    if name != 'docker':
        conn['runtime'] = name
        conn.update((key, params.get(key)) for key in RUNTIME_CONNECTION_KEYS[name])
    return conn


def engine_address(conn):
    """(runtime, address): which engine a connection dict names, to compare ledger entries with a task's."""
    name = runtime_name(conn)
    if name == 'podman':
        return name, conn.get('podman_socket') or DEFAULT_PODMAN_SOCKET
    if name == 'containerd':
        return name, (conn.get('containerd_socket'), conn.get('containerd_namespace'))
    return name, conn.get('docker_host')


def engine_label(conn):
    """The option that names the engine, for messages: ``docker_host=...`` or ``podman_socket=...``."""
    name = runtime_name(conn)
    if name == 'podman':
        return 'podman_socket=%s' % engine_address(conn)[1]
    if name == 'containerd':
        return 'containerd_socket=%s' % conn.get('containerd_socket')
    return 'docker_host=%s' % conn.get('docker_host')


def runtime_for_connection(conn, pool_size=10):
    """The checked runtime of a connection dict; raises _docker.DockerConnectionError."""
    name = runtime_name(conn)
    if name == 'podman':
        return PodmanRuntime(make_podman_client(conn, pool_size=pool_size))
    if name == 'containerd':
        raise _docker.DockerConnectionError('runtime=containerd is not available in this build.')
    return DockerRuntime(_docker.make_client(conn, pool_size=pool_size))


def runtime_from_params(params, pool_size):
    """The runtime (see _runtime) that a module's params name, connected and checked."""
    return runtime_for_connection(connection_params(params), pool_size=pool_size)
