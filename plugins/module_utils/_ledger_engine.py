# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ledger module's engine filter: which engine's entries and untimed notes a ledger task selects, from the
runtime options the container modules take (docker_host, runtime, podman_socket, containerd_socket,
containerd_namespace), compared by _runtime_select.engine_key.

No option given: every engine. Otherwise the one engine that a container module given the same options talks to.
Pure: nothing here talks to an engine.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.chaos.engineering.plugins.module_utils._runtime_select import (
    CONTAINERD,
    DOCKER,
    PODMAN,
    engine_key,
)

# No defaults: an option left out does not narrow the filter (see engine_filter).
ARGUMENT_SPEC = dict(
    runtime=dict(type='str', choices=[DOCKER, CONTAINERD, PODMAN]),
    docker_host=dict(type='str'),
    podman_socket=dict(type='str'),
    containerd_socket=dict(type='path'),
    containerd_namespace=dict(type='str'),
)

# Without runtime, the socket options say which runtime is meant.
IMPLIED_RUNTIME = (('podman_socket', PODMAN), ('containerd_socket', CONTAINERD), ('containerd_namespace', CONTAINERD))


class EngineFilterError(ValueError):
    """The options name no single engine; the message says why."""


def engine_filter(params, environ=None):
    """The engine_key the ledger task keeps entries of, or None (every engine) when no option is given.

    Options of another runtime than the one given are ignored (a connection dict shared by every module may hold
    them). With runtime=docker and no docker_host, the engine is E(DOCKER_HOST)'s, else the local socket, as for
    the container modules."""
    given = dict((key, params.get(key)) for key in ARGUMENT_SPEC if params.get(key) not in (None, ''))
    if not given:
        return None
    runtime = given.get('runtime')
    if runtime is None:
        implied = sorted(set(name for key, name in IMPLIED_RUNTIME if key in given))
        if len(implied) > 1:
            raise EngineFilterError('The options %s name engines of different runtimes (%s); give runtime to say '
                                    'which engine\'s entries are meant.'
                                    % (', '.join(sorted(given)), ' and '.join(implied)))
        runtime = implied[0] if implied else DOCKER
    conn = dict(given, runtime=runtime)
    if runtime == DOCKER and 'docker_host' not in given:
        conn['docker_host'] = (os.environ if environ is None else environ).get('DOCKER_HOST') or None
    return engine_key(conn)


def on_engine(engine, conn):
    """Is a ledger entry's (or untimed note's) connection dict on ``engine`` (None: every engine)?"""
    return engine is None or engine_key(conn or {}) == engine
