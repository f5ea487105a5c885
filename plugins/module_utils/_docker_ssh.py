# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_host=ssh://... through the ssh CLI (use_ssh_client=true), as the Docker CLI does it: each connection is
an ``ssh ... -- HOST docker system dial-stdio`` process that HTTP is spoken over (its stdin and stdout).

The Docker SDK for Python has this transport, but its module imports paramiko first and so cannot be used without
paramiko (community.docker carries its own copy for the same reason). Imports nothing from Ansible: the detached
reverter reconnects with it (see _reverter.RUNTIME_MODULES).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import subprocess
import tempfile

try:
    from urllib.parse import urlsplit
except ImportError:  # Python 2 (not supported by the Docker SDK 7, kept importable for ansible-test)
    from urlparse import urlsplit

try:
    import docker
    import requests.adapters
    import urllib3.connection
    import urllib3.connectionpool
    HAS_DEPENDENCIES = True
except ImportError:
    HAS_DEPENDENCIES = False

SSH_COMMAND = 'ssh'
# What runs on the engine's host: the docker CLI there relays the connection to its engine.
REMOTE_COMMAND = 'docker system dial-stdio'
# Never prompt (a module, and the detached reverter, have no one to answer): keys come from the agent or the ssh
# configuration of the user the module runs as.
BATCH_OPTIONS = ('-o', 'BatchMode=yes')
# How much of ssh's own error output a failure message quotes.
STDERR_QUOTE_CHARS = 600


def ssh_target(url):
    """(user or None, host, port or None) of an ssh://[user@]host[:port] URL."""
    parts = urlsplit(url)
    return parts.username, parts.hostname, parts.port


def ssh_argv(url, timeout):
    """The ssh command line of one connection to the engine of ``url`` (an argv list, no shell here)."""
    user, host, port = ssh_target(url)
    argv = [SSH_COMMAND] + list(BATCH_OPTIONS) + ['-o', 'ConnectTimeout=%d' % int(timeout)]
    if user:
        argv += ['-l', user]
    if port:
        argv += ['-p', str(port)]
    return argv + ['--', host, REMOTE_COMMAND]


class SSHProcessSocket(socket.socket):
    """One connection: an ssh process, read and written as a socket. A real (unconnected) socket underneath only
    so that http.client and urllib3 may set timeouts on it."""

    def __init__(self, argv):
        super(SSHProcessSocket, self).__init__(socket.AF_INET, socket.SOCK_STREAM)
        self.argv = argv
        self.proc = None
        self.errors = None

    def connect(self, *args, **kwargs):  # pylint: disable=unused-argument
        env = dict(os.environ)
        # As the Docker SDK does: the module's own library and CA settings are not the ssh client's.
        env.pop('LD_LIBRARY_PATH', None)
        env.pop('SSL_CERT_FILE', None)
        self.errors = tempfile.TemporaryFile()
        # A session of its own: a Ctrl-C meant for ansible-playbook does not cut the connection mid-request, and
        # there is no terminal to prompt on (without preexec_fn, which is unsafe with the modules' threads).
        # Not AnsibleModule.run_command: the reverter runs without Ansible, and this process lives as long as the
        # connection, read and written while it runs.
        self.proc = subprocess.Popen(  # pylint: disable=ansible-bad-function
            self.argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors,
            start_new_session=True)

    def _running(self):
        if self.proc is None:
            raise OSError('The ssh connection to the engine was not started.')

    def sendall(self, data, *args):  # pylint: disable=unused-argument
        self._running()
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, data, *args):  # pylint: disable=unused-argument
        self.sendall(data)
        return len(data)

    def recv(self, size, *args):  # pylint: disable=unused-argument
        self._running()
        return self.proc.stdout.read(size)

    def makefile(self, *args, **kwargs):  # pylint: disable=unused-argument
        if self.proc is None:
            self.connect()
        # docker.APIClient finds the socket of a hijacked (attach, exec) stream there for ssh:// engines.
        self.proc.stdout.channel = self
        return self.proc.stdout

    def stderr_text(self):
        """What ssh said on its error output so far (host key, authentication, remote command not found)."""
        if self.errors is None:
            return ''
        self.errors.seek(0)
        return self.errors.read(STDERR_QUOTE_CHARS).decode('utf-8', 'replace').strip()

    def close(self):
        if self.proc is not None and self.proc.returncode is None and self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except (OSError, IOError):
                pass
            self.proc.terminate()
        if self.proc is not None:
            try:
                self.proc.wait(5)  # reaped: a reverter that runs for hours leaves no zombies
            except subprocess.TimeoutExpired:
                self.proc.kill()
        super(SSHProcessSocket, self).close()


if HAS_DEPENDENCIES:
    class SSHProcessConnection(urllib3.connection.HTTPConnection):
        def __init__(self, argv, on_close, timeout=60):
            super(SSHProcessConnection, self).__init__('localhost', timeout=timeout)
            self.ssh_argv = argv
            self.on_close = on_close

        def connect(self):
            sock = SSHProcessSocket(self.ssh_argv)
            sock.connect()
            self.sock = sock

        def close(self):
            sock = self.sock
            super(SSHProcessConnection, self).close()
            if isinstance(sock, SSHProcessSocket):
                sock.close()
                self.on_close(sock)

    class SSHProcessPool(urllib3.connectionpool.HTTPConnectionPool):
        scheme = 'ssh'

        def __init__(self, argv, on_close, timeout=60, maxsize=10):
            super(SSHProcessPool, self).__init__('localhost', timeout=timeout, maxsize=maxsize)
            self.ssh_argv = argv
            self.on_close = on_close
            self.ssh_timeout = timeout

        def _new_conn(self):
            return SSHProcessConnection(self.ssh_argv, self.on_close, self.ssh_timeout)

    class SSHProcessAdapter(requests.adapters.HTTPAdapter):
        """The requests adapter of ``http+docker://ssh``: one pool of ssh processes, kept (unlike the Docker SDK's
        ssh CLI mode, which starts a pool per request)."""

        def __init__(self, url, timeout=60, pool_size=10):
            self.ssh_argv = ssh_argv(url, timeout)
            self.last_ssh_error = ''
            self.pool = SSHProcessPool(self.ssh_argv, self._closed, timeout=timeout, maxsize=pool_size)
            super(SSHProcessAdapter, self).__init__()

        def _closed(self, sock):
            text = sock.stderr_text()
            if text and sock.proc is not None and sock.proc.returncode not in (None, 0):
                self.last_ssh_error = text

        def get_connection(self, url, proxies=None):  # pylint: disable=unused-argument
            return self.pool

        def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):  # pylint: disable=unused-argument
            return self.pool

        def close(self):
            super(SSHProcessAdapter, self).close()
            self.pool.close()


def api_client(url, version, timeout, pool_size):
    """A docker.APIClient whose requests go through ``ssh`` to the engine of ``url``; the API version negotiated
    over it unless ``version`` names one. Raises docker.errors.DockerException (with what ssh said) when the engine
    cannot be reached."""
    # Made for a local socket that is never used, so that the SDK mounts no adapter of its own for ssh://.
    client = docker.APIClient(base_url='unix:///dev/null', version=docker.constants.DEFAULT_DOCKER_API_VERSION,
                              timeout=timeout)
    adapter = SSHProcessAdapter(url, timeout=timeout, pool_size=pool_size)
    client.mount('http+docker://ssh', adapter)
    client._custom_adapter = adapter  # pylint: disable=protected-access
    client.base_url = 'http+docker://ssh'
    if version and version != 'auto':
        client._version = version  # pylint: disable=protected-access
        return client
    try:
        client._version = client._retrieve_server_version()  # pylint: disable=protected-access
    except docker.errors.DockerException as exc:
        adapter.close()
        if adapter.last_ssh_error:
            raise docker.errors.DockerException('%s (ssh said: %s)' % (exc, adapter.last_ssh_error))
        raise
    return client
