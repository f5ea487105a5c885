# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which container runtime a module (or a ledger entry) talks to: the runtime options (Pumba's --runtime,
--containerd-socket, --containerd-namespace, --podman-socket), the connection dict the ledger keeps, and the
ContainerRuntime for either.

The connection dict carries a ``runtime`` key; an entry without one (written before there was a choice) is
Docker's. Imports nothing from Ansible: the detached reverter runs it (see _reverter.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.chaos.engineering.plugins.module_utils import _docker
from ansible_collections.chaos.engineering.plugins.module_utils._errors import FaultError
from ansible_collections.chaos.engineering.plugins.module_utils._runtime_containerd import (
    DEFAULT_NAMESPACE,
    DEFAULT_SOCKET,
    ContainerdRuntime,
)
from ansible_collections.chaos.engineering.plugins.module_utils._runtime_docker import DockerRuntime
from ansible_collections.chaos.engineering.plugins.module_utils._runtime_podman import (
    DEFAULT_PODMAN_SOCKET,
    PodmanRuntime,
    api_connection,
    make_podman_client,
)

DOCKER, CONTAINERD, PODMAN = 'docker', 'containerd', 'podman'

# Documented once in the chaos.engineering.runtime doc fragment.
RUNTIME_ARGUMENT_SPEC = dict(
    runtime=dict(type='str', choices=[DOCKER, CONTAINERD, PODMAN], default=DOCKER),
    containerd_socket=dict(type='path', default=DEFAULT_SOCKET),
    containerd_namespace=dict(type='str', default=DEFAULT_NAMESPACE),
    podman_socket=dict(type='str', default=DEFAULT_PODMAN_SOCKET),
)

# The connection keys each runtime keeps in a ledger entry, besides ``runtime``.
CONTAINERD_KEYS = ('containerd_socket', 'containerd_namespace')


def runtime_name(conn):
    return (conn or {}).get('runtime') or DOCKER


def connection_params(params):
    """The connection dict the ledger stores for the module's runtime: ``runtime`` plus that runtime's keys."""
    name = params.get('runtime') or DOCKER
    if name == CONTAINERD:
        return dict(runtime=CONTAINERD, **dict((key, params.get(key)) for key in CONTAINERD_KEYS))
    conn = _docker.connection_params(params)
    conn['runtime'] = name
    if name == PODMAN:
        conn['podman_socket'] = params.get('podman_socket') or DEFAULT_PODMAN_SOCKET
    return conn


def engine_key(conn):
    """What names one engine among connection dicts (an old entry without ``runtime`` is Docker's)."""
    name = runtime_name(conn)
    if name == CONTAINERD:
        return (name, conn.get('containerd_socket') or DEFAULT_SOCKET,
                conn.get('containerd_namespace') or DEFAULT_NAMESPACE)
    if name == PODMAN:
        return (name, conn.get('podman_socket') or DEFAULT_PODMAN_SOCKET)
    return (DOCKER, conn.get('docker_host') or _docker.DEFAULT_DOCKER_HOST)


def describe(conn):
    """The engine for messages: ``docker_host=...`` or ``containerd_socket=... (namespace ...)``."""
    key = engine_key(conn)
    if key[0] == CONTAINERD:
        return 'containerd_socket=%s (namespace %s)' % key[1:]
    if key[0] == PODMAN:
        return 'podman_socket=%s' % key[1]
    return 'docker_host=%s' % key[1]


def runtime_for_connection(conn, pool_size=10, check=True):
    """The ContainerRuntime of a connection dict; with ``check``, raises FaultError when its engine is not
    reachable (the message names the socket or host tried)."""
    name = runtime_name(conn)
    if name == CONTAINERD:
        runtime = ContainerdRuntime(conn.get('containerd_socket'), conn.get('containerd_namespace'))
        if check:
            try:
                runtime.check()
            except (OSError, Exception) as exc:  # pylint: disable=broad-exception-caught
                raise FaultError('Cannot reach containerd at %s: %s' % (describe(conn), getattr(exc, 'stderr', exc)))
        return runtime
    # Docker and Podman speak the same API: one client, checked (Podman's also says it is Podman).
    runtime_class, api_conn, make = ((PodmanRuntime, api_connection(conn), make_podman_client) if name == PODMAN
                                     else (DockerRuntime, conn, _docker.make_client))
    if not check:
        return runtime_class(_docker.build_api_client(api_conn, pool_size=pool_size))
    if _docker.DOCKER_IMPORT_ERROR is not None:
        raise FaultError(_docker.missing_required_lib('docker (Docker SDK for Python >= 7.0)'))
    try:
        return runtime_class(make(conn, pool_size=pool_size))
    except _docker.DockerConnectionError as exc:
        raise FaultError(str(exc))


def runtime_from_params(params, pool_size):
    """The module's ContainerRuntime; raises FaultError with a clear message when the engine is unreachable."""
    return runtime_for_connection(connection_params(params), pool_size=pool_size)
