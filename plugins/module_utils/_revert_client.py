# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine clients the revert actions share, one per engine, cached: one reverter serves faults on many engines;
and the runtime (Docker, containerd) an entry's connection names.

Imports nothing from Ansible: the detached reverter runs it (see _reverter.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import threading

from ansible_collections.chaos.engineering.plugins.module_utils._docker import DEFAULT_DOCKER_HOST, build_api_client
from ansible_collections.chaos.engineering.plugins.module_utils._runtime_docker import DockerRuntime
from ansible_collections.chaos.engineering.plugins.module_utils._runtime_podman import PodmanRuntime, api_connection
from ansible_collections.chaos.engineering.plugins.module_utils._runtime_select import (
    DOCKER,
    PODMAN,
    runtime_for_connection,
    runtime_name,
)

# The reverter's worker threads, and so the connections each engine's client keeps.
REVERT_WORKERS = 32

_CLIENTS = {}
_CLIENTS_LOCK = threading.Lock()


def _api_connection(conn):
    """The Docker API connection of an entry's engine: Podman's is its service socket."""
    return api_connection(conn) if runtime_name(conn) == PODMAN else (conn or {})


def engine_url(conn):
    """The URL of a Docker-API engine (Docker's or Podman's): a unix:// socket when it is on this host."""
    return _api_connection(conn).get('docker_host') or DEFAULT_DOCKER_HOST


def docker_client(conn):
    """A cached client per connection: one reverter serves faults on many engines."""
    key = json.dumps(conn, sort_keys=True)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = _CLIENTS[key] = build_api_client(_api_connection(conn), pool_size=REVERT_WORKERS)
        return client


def runtime_for(conn):
    """The runtime (see _runtime) of the engine an entry names (its ``runtime`` key; none is Docker), over its
    cached client. Not checked here: a revert that cannot reach its engine raises, and is retried."""
    if runtime_name(conn) == DOCKER:
        return DockerRuntime(docker_client(conn))
    if runtime_name(conn) == PODMAN:
        return PodmanRuntime(docker_client(conn))
    return runtime_for_connection(conn, check=False)
