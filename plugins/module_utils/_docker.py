# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker client factory and the connection options, named as community.docker names them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import os
import socket
import ssl
import struct
import threading
import time
import traceback

try:
    from ansible.module_utils.basic import env_fallback, missing_required_lib
except ImportError:
    # The detached reverter imports this file without Ansible (see _ledger.py).
    env_fallback = None

    def missing_required_lib(library, reason=None, url=None):  # pylint: disable=unused-argument
        return 'Failed to import the required Python library (%s).' % library

DOCKER_IMPORT_ERROR = None
try:
    import docker
    import requests.adapters
    from docker.errors import TLSParameterError
    from docker.tls import TLSConfig
except ImportError:
    DOCKER_IMPORT_ERROR = traceback.format_exc()

    class TLSParameterError(Exception):
        pass

DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock'
DEFAULT_TIMEOUT = 60

# Documented once in the chaos.engineering.docker doc fragment.
DOCKER_ARGUMENT_SPEC = dict(
    docker_host=dict(type='str', default=DEFAULT_DOCKER_HOST, aliases=['docker_url'],
                     fallback=(env_fallback, ['DOCKER_HOST'])),
    tls_hostname=dict(type='str', fallback=(env_fallback, ['DOCKER_TLS_HOSTNAME'])),
    api_version=dict(type='str', default='auto', aliases=['docker_api_version'],
                     fallback=(env_fallback, ['DOCKER_API_VERSION'])),
    timeout=dict(type='int', default=DEFAULT_TIMEOUT, fallback=(env_fallback, ['DOCKER_TIMEOUT'])),
    ca_path=dict(type='path', aliases=['ca_cert', 'tls_ca_cert', 'cacert_path']),
    client_cert=dict(type='path', aliases=['tls_client_cert', 'cert_path']),
    client_key=dict(type='path', aliases=['tls_client_key', 'key_path']),
    tls=dict(type='bool', default=False, fallback=(env_fallback, ['DOCKER_TLS'])),
    validate_certs=dict(type='bool', default=False, aliases=['tls_verify'],
                        fallback=(env_fallback, ['DOCKER_TLS_VERIFY'])),
)

CONNECTION_KEYS = tuple(DOCKER_ARGUMENT_SPEC)

# DOCKER_CERT_PATH names a directory with the files the Docker CLI expects there.
CERT_PATH_FILES = (('ca_path', 'ca.pem'), ('client_cert', 'cert.pem'), ('client_key', 'key.pem'))


class DockerConnectionError(Exception):
    pass


def connection_params(params):
    """The connection options from module params, with DOCKER_CERT_PATH filling in missing TLS files."""
    conn = dict((key, params.get(key)) for key in CONNECTION_KEYS)
    cert_dir = os.environ.get('DOCKER_CERT_PATH')
    if cert_dir:
        for key, filename in CERT_PATH_FILES:
            if not conn.get(key):
                conn[key] = os.path.join(cert_dir, filename)
    return conn


def uses_tls(conn):
    return bool(conn.get('tls') or conn.get('validate_certs'))


def _host(conn):
    return conn.get('docker_host') or DEFAULT_DOCKER_HOST


def _tls_files(conn):
    """(client_cert, client_key) or None, and the CA file or None, as used: the CA only when verifying.
    Raises DockerConnectionError, before any connection, for half a key pair or a file that is not there."""
    host = _host(conn)
    cert, key = conn.get('client_cert'), conn.get('client_key')
    if bool(cert) != bool(key):
        raise DockerConnectionError(
            'TLS configuration for docker_host=%s: %s is set but %s is not; a client certificate needs both '
            'client_cert and client_key.' % (host, 'client_cert' if cert else 'client_key',
                                             'client_key' if cert else 'client_cert'))
    ca_path = conn.get('ca_path') if conn.get('validate_certs') else None
    for option, path in (('ca_path', ca_path), ('client_cert', cert), ('client_key', key)):
        if path and not os.path.isfile(path):
            cert_dir = os.environ.get('DOCKER_CERT_PATH')
            origin = ''
            if cert_dir and path == os.path.join(cert_dir, dict(CERT_PATH_FILES)[option]):
                origin = ' (from DOCKER_CERT_PATH=%s)' % cert_dir
            raise DockerConnectionError('TLS configuration for docker_host=%s: %s=%s%s is not a file.'
                                        % (host, option, path, origin))
    return ((cert, key) if cert else None), ca_path


if DOCKER_IMPORT_ERROR is None:
    class _EngineHTTPSAdapter(requests.adapters.HTTPAdapter):
        """https:// to the engine, with the connection's own TLS settings on every request.

        requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment replace a session's CA file and turn
        ``verify=False`` back on (psf/requests#3829), so the CA file (or no verification) and the client
        certificate are set here, per request. ``assert_hostname`` (tls_hostname) is the name the engine's
        certificate is checked against instead of the address connected to, as community.docker's SSLHTTPAdapter
        does; the Docker SDK 7 dropped that option.
        """

        def __init__(self, verify, cert, assert_hostname=None, pool_maxsize=10):
            self.engine_verify = verify
            self.engine_cert = cert
            self.assert_hostname = assert_hostname
            super(_EngineHTTPSAdapter, self).__init__(pool_maxsize=pool_maxsize)

        def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
            if self.assert_hostname:
                pool_kwargs['assert_hostname'] = self.assert_hostname
            super(_EngineHTTPSAdapter, self).init_poolmanager(connections, maxsize, block=block, **pool_kwargs)

        def send(self, request, **kwargs):  # pylint: disable=arguments-differ
            if self.engine_verify is not True:
                kwargs['verify'] = self.engine_verify  # a CA file, or False
            kwargs['cert'] = self.engine_cert
            return super(_EngineHTTPSAdapter, self).send(request, **kwargs)

    class _EngineTLSConfig(TLSConfig):
        """The SDK's TLSConfig, which also mounts _EngineHTTPSAdapter (before API version negotiation)."""

        def __init__(self, assert_hostname=None, pool_size=10, **kwargs):
            super(_EngineTLSConfig, self).__init__(**kwargs)
            self.assert_hostname = assert_hostname
            self.pool_size = pool_size

        def configure_client(self, client):
            super(_EngineTLSConfig, self).configure_client(client)
            client.mount('https://', _EngineHTTPSAdapter(client.verify, client.cert, self.assert_hostname,
                                                         pool_maxsize=self.pool_size))


def _tls_config(conn, pool_size=10):
    """The TLSConfig for a connection dict, or None without TLS; as community.docker: ``validate_certs`` verifies
    the engine's certificate (against ``ca_path``, else the system's CAs) and its name (``tls_hostname``, else
    the address connected to); ``tls`` alone encrypts without verifying. The client certificate is sent in both.
    Raises DockerConnectionError for a configuration that cannot work, before any connection."""
    if not uses_tls(conn):
        return None
    client_cert, ca_path = _tls_files(conn)
    verify = bool(conn.get('validate_certs'))
    try:
        return _EngineTLSConfig(
            client_cert=client_cert,
            ca_cert=ca_path,
            verify=verify,
            assert_hostname=conn.get('tls_hostname') if verify else None,
            pool_size=pool_size,
        )
    except TLSParameterError as exc:
        raise DockerConnectionError('TLS configuration for docker_host=%s: %s' % (_host(conn), exc))


def docker_host_url(conn):
    """The engine URL; tcp:// becomes https:// when TLS is on, as the Docker CLI does."""
    url = _host(conn)
    if uses_tls(conn) and url.startswith('tcp://'):
        url = 'https://' + url[len('tcp://'):]
    return url


def build_api_client(conn, pool_size=10):
    """A low-level docker.APIClient for a connection dict; no round trip beyond API version negotiation."""
    pool_size = max(10, pool_size)
    return docker.APIClient(
        base_url=docker_host_url(conn),
        version=conn.get('api_version') or 'auto',
        timeout=conn.get('timeout') or DEFAULT_TIMEOUT,
        tls=_tls_config(conn, pool_size),
        max_pool_size=pool_size,
    )


def _ssl_error_in(exc):
    """The ssl.SSLError (or urllib3's CertificateError, for tls_hostname) somewhere under a docker/requests/urllib3
    wrapper exception, or None."""
    todo, seen = [exc], set()
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError) or type(current).__name__ == 'CertificateError':
            return current
        todo.extend([current.__cause__, current.__context__, getattr(current, 'reason', None)])
        todo.extend(arg for arg in getattr(current, 'args', ()) if isinstance(arg, BaseException))
    return None


def _tls_problem(conn, exc):
    """A clear message for an exception that is a TLS problem, or None."""
    host = _host(conn)
    text = str(exc)
    if 'Client sent an HTTP request to an HTTPS server' in text:
        return ('Cannot reach the Docker engine at docker_host=%s: the engine expects TLS; set tls (or '
                'validate_certs) and the certificates.' % host)
    error = _ssl_error_in(exc)
    if error is None:
        return None
    detail = str(error)
    if isinstance(error, ssl.SSLCertVerificationError) or not isinstance(error, ssl.SSLError):
        reason = getattr(error, 'verify_message', '') or detail
        if 'mismatch' in reason or "doesn't match" in reason:
            hint = ("the engine's certificate does not name %s; connect by a name in the certificate or set "
                    "tls_hostname to one" % (conn.get('tls_hostname') or 'the address connected to'))
        elif conn.get('ca_path'):
            hint = "the engine's certificate is not signed by the CA in ca_path=%s" % conn['ca_path']
        else:
            hint = "the engine's certificate is not signed by a CA this host trusts; set ca_path"
        return 'TLS verification of the Docker engine at docker_host=%s failed: %s (%s).' % (host, hint, detail)
    upper = detail.upper()
    if 'CERTIFICATE_REQUIRED' in upper or 'BAD_CERTIFICATE' in upper or 'UNKNOWN_CA' in upper:
        if conn.get('client_cert'):
            hint = 'the engine rejected the client certificate client_cert=%s' % conn['client_cert']
        else:
            hint = 'the engine requires a client certificate; set client_cert and client_key'
    elif 'WRONG_VERSION_NUMBER' in upper or 'RECORD_LAYER_FAILURE' in upper:
        hint = 'the engine at this address does not speak TLS'
    else:
        hint = 'the TLS handshake failed'
    return 'TLS verification of the Docker engine at docker_host=%s failed: %s (%s).' % (host, hint, detail)


def make_client(conn, pool_size=10):
    """A checked docker.APIClient for ``conn``; raises DockerConnectionError naming the host tried (and saying
    so when the problem is TLS: configuration, verification, client certificate)."""
    if DOCKER_IMPORT_ERROR is not None:
        raise DockerConnectionError(missing_required_lib('docker (Docker SDK for Python >= 7.0)'))
    host = _host(conn)
    try:
        client = build_api_client(conn, pool_size)
        client.ping()
    except DockerConnectionError:
        raise
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # DockerException, or requests/urllib3's own errors for refused or missing sockets and TLS failures.
        raise DockerConnectionError(_tls_problem(conn, exc)
                                    or 'Cannot reach the Docker engine at docker_host=%s: %s' % (host, exc))
    return client


def client_or_fail(module, pool_size=10):
    """The module's client, or fail_json with a message that names docker_host."""
    if DOCKER_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib('docker (Docker SDK for Python >= 7.0)'), exception=DOCKER_IMPORT_ERROR)
    try:
        return make_client(connection_params(module.params), pool_size=pool_size)
    except DockerConnectionError as exc:
        module.fail_json(msg=str(exc))


def container_candidates(client, states):
    """Containers in one of ``states`` (running, paused, exited...), as selection candidates."""
    wanted = set(states)
    listing = client.containers(all=bool(wanted - set(['running', 'paused'])))
    candidates = []
    for summary in listing:
        if summary.get('State') not in wanted:
            continue
        names = summary.get('Names') or []
        name = names[0].lstrip('/') if names else summary['Id'][:12]
        candidates.append(dict(
            id=summary['Id'],
            name=name,
            labels=summary.get('Labels') or {},
            state=summary.get('State'),
            image=summary.get('Image'),
        ))
    return candidates


# --- Recovery of a killed container ------------------------------------------------------------------------------

def recovery_baseline(client, container_id):
    """What a container's recovery is measured against: when it last started."""
    return dict(started_at=(client.inspect_container(container_id).get('State') or {}).get('StartedAt'))


def container_back(client, entry):
    """Has the container of ``entry`` started again since ``entry['started_at']``, and does it run (and pass its
    health check, when it has one)? Notes the ``state`` and ``health`` seen in the entry."""
    try:
        state = client.inspect_container(entry['id']).get('State') or {}
    except Exception as exc:  # pylint: disable=broad-exception-caught
        if getattr(getattr(exc, 'response', None), 'status_code', None) != 404:
            raise
        entry.update(state='removed', health=None)
        return False
    health = (state.get('Health') or {}).get('Status')
    entry.update(state=state.get('Status'), health=health)
    restarted = state.get('StartedAt') != entry['started_at']
    running = state.get('Running') and not state.get('Restarting') and not state.get('Paused')
    return bool(restarted and running and health in (None, 'healthy'))


# --- Helper containers: short programs run inside a target's network namespace -----------------
# Shared by modules and the detached reverter (see _ledger.py), so they take a docker.APIClient.

HELPER_LABEL = 'chaos.engineering/helper'
FAULT_LABEL = 'chaos.engineering/fault'
FAULT_ID_LABEL = 'chaos.engineering/fault-id'
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
TOOL_DIRS = ('/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin')


class ExecResult:
    def __init__(self, argv, rc, stdout, stderr):
        self.argv = argv
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    @property
    def ok(self):
        return self.rc == 0


def _text(data):
    return (data or b'').decode('utf-8', 'replace')


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
    return ExecResult(argv, rc, _text(stdout), _text(stderr))


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
    return _text(out[1]), _text(out[2])


def remove_helper(client, helper_id):
    """Remove a helper container; a helper that is already gone is fine."""
    try:
        client.remove_container(helper_id, force=True)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        status = getattr(getattr(exc, 'response', None), 'status_code', None)
        # 409 "removal already in progress": the reverter and a module removed it at the same time.
        if status == 404 or (status == 409 and 'already in progress' in str(exc)):
            return
        raise


def iso_utc(epoch):
    """ISO-8601 UTC with milliseconds, as in the result schema (this file cannot import _result)."""
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(epoch)) + '.%03dZ' % int((epoch % 1) * 1000)


def helper_expired(helper, now=None):
    """Has this helper (as listed) passed the expiry its label gives? 'never' and unreadable labels have not."""
    text = ((helper.get('Labels') or {}).get(EXPIRES_LABEL) or '').rstrip('Z')
    try:
        expiry = calendar.timegm(time.strptime(text.split('.')[0], '%Y-%m-%dT%H:%M:%S'))
    except ValueError:
        return False
    return expiry < (time.time() if now is None else now)


def find_tool(name):
    """The path of a host tool, looking in the usual sbin/bin directories too (a daemon's PATH may be short)."""
    dirs = [d for d in os.environ.get('PATH', '').split(os.pathsep) if d] + list(TOOL_DIRS)
    for directory in dirs:
        path = os.path.join(directory, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def list_helpers(client, fault=None):
    """Our helper containers (running or not), newest first, as the engine reports them."""
    filters = {'label': [HELPER_LABEL + '=true'] + (['%s=%s' % (FAULT_LABEL, fault)] if fault else [])}
    return client.containers(all=True, filters=filters)


def run_steps(run, steps, ok_if=()):
    """Run argv steps in order with ``run(argv) -> ExecResult``; a step failing with a message in
    ``ok_if`` counts as done. Returns (results, first failed result or None)."""
    results = []
    for argv in steps:
        result = run(argv)
        results.append(result)
        if not result.ok and not any(marker in result.stderr for marker in ok_if):
            return results, result
    return results, None


def run_argv(argv):
    """Run a program (an argv list, never a shell) and capture its output; returns an ExecResult.

    The reverter runs without Ansible, so this cannot be AnsibleModule.run_command; modules use it too,
    so both run the host's tools the same way. fork + exec, like the reverter's own start.
    """
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            os.execvp(argv[0], list(argv))
        except OSError as exc:
            os.write(2, ('%s: %s' % (argv[0], exc)).encode('utf-8', 'replace'))
        finally:
            os._exit(127)  # pylint: disable=protected-access
    os.close(out_w)
    os.close(err_w)
    chunks = {out_r: [], err_r: []}

    def drain(fd):
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            chunks[fd].append(data)
        os.close(fd)

    # stderr on a thread, so neither pipe can fill up and block the program.
    reader = threading.Thread(target=drain, args=(err_r,))
    reader.start()
    drain(out_r)
    reader.join()
    dummy, status = os.waitpid(pid, 0)
    rc = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    return ExecResult(argv, rc, _text(b''.join(chunks[out_r])), _text(b''.join(chunks[err_r])))


def nsenter_run(pid, argv):
    """Run argv in the network namespace of process ``pid`` (needs root on the Docker host)."""
    tool = find_tool(argv[0]) or argv[0]
    result = run_argv([find_tool('nsenter') or 'nsenter', '-t', str(pid), '-n', '--', tool] + list(argv[1:]))
    result.argv = argv
    return result
