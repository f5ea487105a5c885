# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine clients the revert actions share, one per engine, cached: one reverter serves faults on many engines.

An entry's connection dict names its runtime (``runtime``; absent means docker): Podman is reached on its
``podman_socket`` through the same Docker API client.

Imports nothing from Ansible: the detached reverter runs it (see _reverter.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import threading

from ansible_collections.chaos.engineering.plugins.module_utils._docker import DEFAULT_DOCKER_HOST, build_api_client
from ansible_collections.chaos.engineering.plugins.module_utils._runtime_docker import DockerRuntime
from ansible_collections.chaos.engineering.plugins.module_utils._runtime_podman import PodmanRuntime, api_connection

# The reverter's worker threads, and so the connections each engine's client keeps.
REVERT_WORKERS = 32

_CLIENTS = {}
_CLIENTS_LOCK = threading.Lock()


def _api_connection(conn):
    """The Docker API connection of an entry's engine: Podman's is its service socket."""
    return api_connection(conn) if (conn or {}).get('runtime') == 'podman' else (conn or {})


def engine_url(conn):
    """The URL of the engine's API (a unix:// socket when it is on this host)."""
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
    """The runtime (see _runtime) of the engine an entry names (its ``runtime``; absent: docker), over its cached
    client."""
    if conn.get('runtime') == 'podman':
        return PodmanRuntime(docker_client(conn))
    return DockerRuntime(docker_client(conn))
