# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helper containers: short-lived containers of ours joined to a target's network namespace, in which argv
runs (at once, or fed later through stdin); their labels, their expiry, and their removal.

They take a docker.APIClient: the detached reverter uses them too, so nothing here imports Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import struct
import time

from ansible_collections.chaos.engineering.plugins.module_utils._docker import api_status
from ansible_collections.chaos.engineering.plugins.module_utils._host_exec import ExecResult, decode_output
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import iso_utc


HELPER_LABEL = 'chaos.engineering/helper'
FAULT_LABEL = 'chaos.engineering/fault'
FAULT_ID_LABEL = 'chaos.engineering/fault-id'
# The fault's name (container_netem's fault_name), and the interface whose tc tree it holds: several faults
# of different names coexist in one namespace, each with its own helper.
FAULT_NAME_LABEL = 'chaos.engineering/fault-name'
TC_INTERFACE_LABEL = 'chaos.engineering/tc-interface'
TARGET_LABEL = 'chaos.engineering/target'
TARGET_NAME_LABEL = 'chaos.engineering/target-name'
EXPIRES_LABEL = 'chaos.engineering/expires'
# A helper idles until it is removed, or until its expiry: then its sleep ends and the engine removes it
# (auto-remove), with no reverter or teardown needed. An untimed fault's helper lives this long at most.
HELPER_SLEEP_SECONDS = 7 * 24 * 3600
# A helper made only to read or revert a namespace expires this long after it was made.
READ_HELPER_SECONDS = 600
# A timed fault's helper outlives its deadline by this much, for the reverter's retries.
HELPER_GRACE_SECONDS = 3600


def start_helper(client, image, target_id, labels, network_mode=None, name=None, expires_at=None):
    """Create and start a helper joined to ``target_id``'s network namespace, with only NET_ADMIN.

    It carries its expiry (``expires_at``, epoch seconds; None: HELPER_SLEEP_SECONDS from now) in a label, and
    sleeps until then: the engine removes it at its expiry even if every one of our processes died."""
    now = time.time()
    expires_at = now + HELPER_SLEEP_SECONDS if expires_at is None else expires_at
    host_config = client.create_host_config(
        network_mode=network_mode or 'container:%s' % target_id,
        cap_drop=['ALL'],
        cap_add=['NET_ADMIN'],
        security_opt=['no-new-privileges'],
        auto_remove=True,
    )
    all_labels = {HELPER_LABEL: 'true', TARGET_LABEL: target_id, EXPIRES_LABEL: iso_utc(expires_at)}
    all_labels.update(labels or {})
    sleep_seconds = max(60, int(expires_at - now) + 1)
    created = client.create_container(
        image, command=['sleep', str(sleep_seconds)], entrypoint=[], labels=all_labels,
        host_config=host_config, name=name, network_disabled=False)
    helper_id = created['Id']
    try:
        client.start(helper_id)
    except Exception:
        remove_helper(client, helper_id)
        raise
    return helper_id


def exec_in(client, container_id, argv):
    """Run argv (a list, never a shell string) in a running container; returns an ExecResult."""
    created = client.exec_create(container_id, argv, stdout=True, stderr=True)
    stdout, stderr = client.exec_start(created['Id'], demux=True)
    rc = client.exec_inspect(created['Id']).get('ExitCode')
    return ExecResult(argv, rc, decode_output(stdout), decode_output(stderr))


class StdinExec:
    """argv started in a running container with its stdin attached, so that it can be fed later.

    Starting a process in a container (``docker exec``) costs the engine a runc exec; writing to one that is
    already running costs a socket write. ``start`` pays the first early; ``send`` and ``result`` are all
    that is left at the moment it matters. Only for plain sockets (unix, tcp): a TLS stream cannot be half-closed to send EOF.
    """

    def __init__(self, client, exec_id, argv, sock):
        self.client = client
        self.exec_id = exec_id
        self.argv = argv
        self.sock = sock

    @classmethod
    def start(cls, client, container_id, argv):
        """The started process, or None when this connection cannot carry it (TLS, ssh)."""
        if not str(getattr(client, 'base_url', '')).startswith(('http+docker://localhost', 'http://')):
            return None
        created = client.exec_create(container_id, argv, stdin=True, stdout=True, stderr=True)
        raw = client.exec_start(created['Id'], socket=True)
        return cls(client, created['Id'], argv, getattr(raw, '_sock', raw))

    def send(self, text, timeout=30.0):
        """Write ``text``, then EOF: the process reads its input and exits."""
        self.sock.settimeout(timeout)
        self.sock.sendall(text.encode('utf-8'))
        self.sock.shutdown(socket.SHUT_WR)

    def result(self, timeout=30.0):
        """Wait for the process to exit (its output stream ends); returns an ExecResult."""
        self.sock.settimeout(timeout)
        try:
            data = b''
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            self.close()
        stdout, stderr = _demux(data)
        return ExecResult(self.argv, self._exit_code(timeout), stdout, stderr)

    def _exit_code(self, timeout):
        # The stream ends as the process exits; the engine may record the exit code an instant later.
        deadline = time.time() + timeout
        while True:
            info = self.client.exec_inspect(self.exec_id)
            if not info.get('Running') or time.time() > deadline:
                return info.get('ExitCode')
            time.sleep(0.01)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def _demux(data):
    """stdout and stderr of an exec stream without a tty: frames of (stream, 0, 0, 0, size) + payload."""
    out = {1: b'', 2: b''}
    while len(data) >= 8:
        stream, size = struct.unpack('>BxxxL', data[:8])
        out[stream if stream in out else 1] += data[8:8 + size]
        data = data[8 + size:]
    return decode_output(out[1]), decode_output(out[2])


def remove_helper(client, helper_id):
    """Remove a helper container; a helper that is already gone is fine."""
    try:
        client.remove_container(helper_id, force=True)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        status = api_status(exc)
        # 409 "removal already in progress": the reverter and a module removed it at the same time.
        if status == 404 or (status == 409 and 'already in progress' in str(exc)):
            return
        raise


def list_helpers(client, fault=None):
    """Our helper containers (running or not), newest first, as the engine reports them."""
    filters = {'label': [HELPER_LABEL + '=true'] + (['%s=%s' % (FAULT_LABEL, fault)] if fault else [])}
    return client.containers(all=True, filters=filters)


def start_stressor(client, image, name, argv, cgroup_parent, labels, expires_at):
    """Create and start a stress helper: stress-ng ``argv`` in a child cgroup of ``cgroup_parent`` (the
    target's), with no network and no capability. It ends by stress-ng's own --timeout, and the engine removes
    it then (auto-remove); the ledger's revert removes it by ``name`` at the deadline in any case."""
    host_config = client.create_host_config(
        network_mode='none',
        cap_drop=['ALL'],
        security_opt=['no-new-privileges'],
        auto_remove=True,
        cgroup_parent=cgroup_parent,
    )
    all_labels = {HELPER_LABEL: 'true', EXPIRES_LABEL: iso_utc(expires_at)}
    all_labels.update(labels or {})
    created = client.create_container(image, command=list(argv), entrypoint=['stress-ng'], labels=all_labels,
                                      host_config=host_config, name=name, working_dir='/tmp')
    try:
        client.start(created['Id'])
    except Exception:
        remove_helper(client, created['Id'])
        raise
    return created['Id']
