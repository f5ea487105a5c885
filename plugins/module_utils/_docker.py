# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection to a Docker engine: the client factory and its options (named as community.docker names them,
TLS included), and the engine's containers as selection candidates."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import ssl
import traceback

from urllib.parse import urlsplit

from ansible_collections.chaos.engineering.plugins.module_utils import _docker_ssh

try:
    from ansible.module_utils.basic import env_fallback, missing_required_lib
except ImportError:
    # The detached reverter imports this file without Ansible (see _reverter.RUNTIME_MODULES).
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
    # The docker_* aliases are the names chaos.engineering.probe and sampler take for these (they also talk to
    # Kubernetes, whose options share the plain names), so one module_defaults block sets the whole group.
    ca_path=dict(type='path', aliases=['ca_cert', 'tls_ca_cert', 'cacert_path', 'docker_ca_path']),
    client_cert=dict(type='path', aliases=['tls_client_cert', 'cert_path', 'docker_client_cert']),
    client_key=dict(type='path', aliases=['tls_client_key', 'key_path', 'docker_client_key']),
    tls=dict(type='bool', default=False, fallback=(env_fallback, ['DOCKER_TLS'])),
    validate_certs=dict(type='bool', default=False, aliases=['tls_verify', 'docker_validate_certs'],
                        fallback=(env_fallback, ['DOCKER_TLS_VERIFY'])),
    use_ssh_client=dict(type='bool', default=False),
    debug=dict(type='bool', default=False),
)

# What a ledger entry keeps to reconnect (the detached reverter included); debug is about this run only.
CONNECTION_KEYS = tuple(key for key in DOCKER_ARGUMENT_SPEC if key != 'debug')

# DOCKER_CERT_PATH names a directory with the files the Docker CLI expects there.
CERT_PATH_FILES = (('ca_path', 'ca.pem'), ('client_cert', 'cert.pem'), ('client_key', 'key.pem'))


def has_paramiko():
    """Can the Docker SDK reach ssh:// engines itself (use_ssh_client=false)? Asked only for ssh://."""
    try:
        import paramiko  # noqa: F401 pylint: disable=unused-import,import-outside-toplevel
    except ImportError:
        return False
    return True


def api_status(exc):
    """The HTTP status of a Docker API error (404 no such container, 409 not in that state...), or None."""
    return getattr(getattr(exc, 'response', None), 'status_code', None)


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


def is_ssh(conn):
    return _host(conn).startswith('ssh://')


def check_ssh(conn):
    """Raises DockerConnectionError, before any connection, for ssh options that cannot work together: a password
    in the URL (it would be kept in the ledger; use keys), use_ssh_client without ssh://, TLS over ssh://, and a
    missing ssh CLI or paramiko."""
    host = _host(conn)
    if not is_ssh(conn):
        if conn.get('use_ssh_client'):
            raise DockerConnectionError('use_ssh_client=true applies to an ssh:// docker_host only; docker_host=%s.'
                                        % host)
        return
    try:
        parts = urlsplit(host)
        parts.port  # pylint: disable=pointless-statement  # a port that is not a number raises here
    except ValueError as exc:
        raise DockerConnectionError('docker_host=%s is not an ssh://[user@]host[:port] URL: %s.' % (host, exc))
    if parts.password is not None:
        raise DockerConnectionError('docker_host must not carry a password (it would be written to the ledger): '
                                    'give ssh://%s@%s%s and let ssh authenticate with a key (ssh-agent or the '
                                    'ssh configuration).' % (parts.username, parts.hostname,
                                                             ':%d' % parts.port if parts.port else ''))
    if not parts.hostname or parts.path not in ('', '/') or parts.query:
        raise DockerConnectionError('docker_host=%s is not an ssh://[user@]host[:port] URL.' % host)
    if uses_tls(conn):
        raise DockerConnectionError('tls and validate_certs do not apply to docker_host=%s: the ssh connection is '
                                    'encrypted and authenticated by ssh; unset them (and DOCKER_TLS, '
                                    'DOCKER_TLS_VERIFY).' % host)
    if conn.get('use_ssh_client'):
        if shutil.which(_docker_ssh.SSH_COMMAND) is None:
            raise DockerConnectionError('use_ssh_client=true needs the ssh command on the PATH (%s) of the host the '
                                        'module runs on.' % os.environ.get('PATH', ''))
    elif not has_paramiko():
        raise DockerConnectionError(missing_required_lib(
            'paramiko', reason='for docker_host=%s; or set use_ssh_client=true to use the ssh command instead'
            % host))


def build_api_client(conn, pool_size=10):
    """A low-level docker.APIClient for a connection dict; no round trip beyond API version negotiation."""
    pool_size = max(10, pool_size)
    check_ssh(conn)
    timeout = conn.get('timeout') or DEFAULT_TIMEOUT
    if is_ssh(conn) and conn.get('use_ssh_client'):
        client = _docker_ssh.api_client(_host(conn), conn.get('api_version') or 'auto', timeout, pool_size)
    else:
        client = docker.APIClient(
            base_url=docker_host_url(conn),
            version=conn.get('api_version') or 'auto',
            timeout=timeout,
            tls=_tls_config(conn, pool_size),
            max_pool_size=pool_size,
        )
    if _API_CALLS is not None:
        client.hooks['response'].append(_record_api_call)
    return client


# --- debug: the engine API calls of this process ---------------------------------------------------------------------

_API_CALLS = None  # a list while recording (debug=true): "METHOD /path?query -> status", in order


def record_api_calls():
    """From now on, every client this process builds notes its engine API calls (see api_calls)."""
    global _API_CALLS  # pylint: disable=global-statement
    _API_CALLS = []


def api_calls():
    """The engine API calls noted so far: method, path and query, and the status; never bodies or headers (an
    exec's environment, registry credentials)."""
    return list(_API_CALLS or [])


def _record_api_call(response, *args, **kwargs):  # pylint: disable=unused-argument
    request = response.request
    parts = urlsplit(request.url)
    path = parts.path + ('?' + parts.query if parts.query else '')
    _API_CALLS.append('%s %s -> %s' % (request.method, path, response.status_code))
    return response


def transport(conn):
    """How the engine is reached, for debug output."""
    host = _host(conn)
    if is_ssh(conn):
        return 'ssh (the ssh command)' if conn.get('use_ssh_client') else 'ssh (paramiko)'
    if host.startswith('unix://') or host.startswith('/'):
        return 'unix socket'
    if uses_tls(conn):
        return 'https (certificate verified)' if conn.get('validate_certs') else 'https (certificate not verified)'
    return 'http (no TLS)'


def debug_details(conn, client=None):
    """The connection as used, for debug output: options and file paths, never file contents nor a password."""
    host = _host(conn)
    details = dict(
        docker_host=host,
        transport=transport(conn),
        api_version=getattr(client, 'api_version', None) or conn.get('api_version') or 'auto',
        timeout=conn.get('timeout') or DEFAULT_TIMEOUT,
        use_ssh_client=bool(conn.get('use_ssh_client')),
        tls=bool(conn.get('tls')),
        validate_certs=bool(conn.get('validate_certs')),
        # Paths only, as given; the TLS files are used only with TLS.
        tls_hostname=conn.get('tls_hostname') if uses_tls(conn) else None,
        ca_path=conn.get('ca_path') if uses_tls(conn) else None,
        client_cert=conn.get('client_cert') if uses_tls(conn) else None,
        client_key=conn.get('client_key') if uses_tls(conn) else None,
        ssh_command=None,
    )
    if is_ssh(conn) and conn.get('use_ssh_client'):
        details['ssh_command'] = _docker_ssh.ssh_argv(host, details['timeout'])
    return details


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
