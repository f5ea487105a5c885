# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes client: auth options, where the configuration comes from, and JSON requests to the API server.

Auth options carry the names and ``K8S_AUTH_*`` environment variables of
kubernetes.core, so an AWX Kubernetes credential works unchanged.

The ``kubernetes`` package is used to load the configuration (kubeconfig files
and dicts, exec plugins, in-cluster service account). Requests go through the
same urllib3 pool the package would build, with plain JSON in and out: that
keeps us independent of the generated API classes, which change shape between
client releases, and avoids their per-object deserialization cost.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import ssl
import sys
import traceback

from urllib.parse import quote, urlencode

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.chaos.engineering.plugins.module_utils import _k8s_identity
from ansible_collections.chaos.engineering.plugins.module_utils._errors import FaultError


class _Kubernetes:
    """The kubernetes package, imported on first use: the probe module serves Docker-only probes too, and
    ``import kubernetes.client`` alone costs ~0.25 s of CPU per call (every generated model)."""
    loaded = False
    error = None  # the import's traceback when the package is missing
    client = config = rest = urllib3 = None


def kubernetes_lib():
    lib = _Kubernetes
    if not lib.loaded:
        lib.loaded = True
        try:
            import kubernetes.client  # pylint: disable=import-outside-toplevel
            import kubernetes.config  # pylint: disable=import-outside-toplevel
            import urllib3  # pylint: disable=import-outside-toplevel
            from kubernetes.client import rest  # pylint: disable=import-outside-toplevel
        except ImportError:
            lib.error = traceback.format_exc()
        else:
            lib.client, lib.config, lib.rest, lib.urllib3 = kubernetes.client, kubernetes.config, rest, urllib3
    return lib


def forget_config_files():
    """In a forked process: forget the temporary files (certificates, keys) the kube config loader wrote for the
    parent. The parent removes them when it exits, so a client made here would load files that may vanish under it;
    with the cache empty, the loader writes our own (in tempfile.tempdir)."""
    kube_config = sys.modules.get('kubernetes.config.kube_config')
    cached = getattr(kube_config, '_temp_files', None)
    if isinstance(cached, dict):
        cached.clear()


DEFAULT_TIMEOUT = 30
LIST_PAGE_SIZE = 500
SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'
REQUIREMENT = 'kubernetes (the Kubernetes Python client, >= 29.0.0)'

# Documented once in the chaos.engineering.k8s doc fragment. Same names, aliases, types and
# environment variables as kubernetes.core's AUTH_ARG_SPEC (but persist_config: nothing here
# writes a kubeconfig).
K8S_AUTH_ARGUMENT_SPEC = dict(
    kubeconfig=dict(type='raw'),
    context=dict(type='str'),
    host=dict(type='str'),
    api_key=dict(type='str', no_log=True),
    # The k8s_* aliases are the names chaos.engineering.probe and sampler take for these (they also talk to
    # Docker, whose options share the plain names), so one module_defaults block sets the whole group.
    validate_certs=dict(type='bool', aliases=['verify_ssl', 'k8s_validate_certs']),
    ca_cert=dict(type='path', aliases=['ssl_ca_cert', 'k8s_ca_cert']),
    client_cert=dict(type='path', aliases=['cert_file', 'k8s_client_cert']),
    client_key=dict(type='path', aliases=['key_file', 'k8s_client_key']),
    proxy=dict(type='str'),
    no_proxy=dict(type='str'),
    proxy_headers=dict(type='dict', options=_k8s_identity.PROXY_HEADERS_SPEC),
    username=dict(type='str'),
    password=dict(type='str', no_log=True),
    impersonate_user=dict(type='str'),
    impersonate_groups=dict(type='list', elements='str'),
)

# Option -> environment variables read when the option is not given, first found wins.
# kubernetes.core reads K8S_AUTH_<OPTION> and K8S_AUTH_<CLIENT NAME> (VERIFY_SSL, SSL_CA_CERT,
# CERT_FILE, KEY_FILE): AWX's Kubernetes credential sets the latter.
AUTH_ENV = dict(
    kubeconfig=('K8S_AUTH_KUBECONFIG',),
    context=('K8S_AUTH_CONTEXT',),
    host=('K8S_AUTH_HOST',),
    api_key=('K8S_AUTH_API_KEY',),
    validate_certs=('K8S_AUTH_VALIDATE_CERTS', 'K8S_AUTH_VERIFY_SSL'),
    ca_cert=('K8S_AUTH_CA_CERT', 'K8S_AUTH_SSL_CA_CERT'),
    client_cert=('K8S_AUTH_CLIENT_CERT', 'K8S_AUTH_CERT_FILE'),
    client_key=('K8S_AUTH_CLIENT_KEY', 'K8S_AUTH_KEY_FILE'),
    proxy=('K8S_AUTH_PROXY',),
    no_proxy=('K8S_AUTH_NO_PROXY',),
    proxy_headers=(),  # one variable per header: _k8s_identity.PROXY_HEADERS_ENV
    username=('K8S_AUTH_USERNAME',),
    password=('K8S_AUTH_PASSWORD',),
    impersonate_user=('K8S_AUTH_IMPERSONATE_USER',),
    impersonate_groups=('K8S_AUTH_IMPERSONATE_GROUPS',),
)

AUTH_KEYS = tuple(K8S_AUTH_ARGUMENT_SPEC)


class K8sError(FaultError):
    """Anything that stops a Kubernetes module, with a message fit for fail_json (the house's FaultError)."""


class K8sConfigError(K8sError):
    """No usable credentials or configuration."""


class K8sConnectionError(K8sError):
    """The API server could not be reached."""


class K8sApiError(K8sError):
    """The API server answered with an error status."""

    def __init__(self, status, reason, message, details=None, method=None, path=None):
        self.status = status
        self.reason = reason
        self.message = message
        self.details = details or {}
        self.method = method
        self.path = path
        super(K8sApiError, self).__init__('%s %s: HTTP %s %s: %s' % (method, path, status, reason, message))

    @property
    def causes(self):
        return self.details.get('causes') or []


# ---------------------------------------------------------------------------------------------
# Auth


def _env_bool(value):
    """As kubernetes.core reads a boolean from the environment."""
    return str(value).strip().lower() not in ('0', 'false', 'no', 'off', '')


def auth_params(params, environ=None):
    """The auth settings: module params first, then the K8S_AUTH_* environment variables.

    Returns a dict with every key of K8S_AUTH_ARGUMENT_SPEC (None when unset). Booleans from
    the environment read as kubernetes.core reads them: anything but 0, false, no or off is true;
    lists are comma-separated; proxy_headers has a variable per header (K8S_AUTH_PROXY_HEADERS_*).
    """
    environ = os.environ if environ is None else environ
    auth = {}
    for key in AUTH_KEYS:
        value = params.get(key)
        if value is None and key == 'proxy_headers':
            value = dict((name, environ[var]) for name, var in _k8s_identity.PROXY_HEADERS_ENV.items()
                         if environ.get(var) not in (None, '')) or None
        elif value is None:
            for var in AUTH_ENV[key]:
                if environ.get(var) not in (None, ''):
                    value = environ[var]
                    if K8S_AUTH_ARGUMENT_SPEC[key].get('type') == 'bool':
                        value = _env_bool(value)
                    elif K8S_AUTH_ARGUMENT_SPEC[key].get('type') == 'path':
                        value = os.path.expanduser(value)
                    elif K8S_AUTH_ARGUMENT_SPEC[key].get('type') == 'list':
                        value = _k8s_identity.split_groups(value)
                    break
        auth[key] = value
    if isinstance(auth.get('kubeconfig'), str):
        auth['kubeconfig'] = os.path.expanduser(auth['kubeconfig'])
    return auth


def in_cluster_available(environ=None, sa_dir=SERVICE_ACCOUNT_DIR):
    """True inside a pod: the service host variable and the mounted service account token."""
    environ = os.environ if environ is None else environ
    return bool(environ.get('KUBERNETES_SERVICE_HOST')) and os.path.isfile(os.path.join(sa_dir, 'token'))


def default_kubeconfig(environ=None):
    """The kubeconfig the Kubernetes client (and kubectl) would use: $KUBECONFIG, then ~/.kube/config."""
    environ = os.environ if environ is None else environ
    value = environ.get('KUBECONFIG')
    if value:
        # Like kubectl, KUBECONFIG may list several files; the client merges them.
        return value
    return os.path.expanduser('~/.kube/config')


def config_source(auth, environ=None, sa_dir=SERVICE_ACCOUNT_DIR):
    """Where the connection comes from, in kubernetes.core's order.

    Returns (kind, detail): ('explicit', None) when host and api_key (or username and password) are given;
    ('kubeconfig', path-or-'<dict>') when kubeconfig or context is given; otherwise
    ('in-cluster', None) inside a pod when no KUBECONFIG is set, else the default kubeconfig.
    """
    environ = os.environ if environ is None else environ
    if auth.get('host') and (auth.get('api_key') or (auth.get('username') and auth.get('password'))):
        return 'explicit', None
    kubeconfig = auth.get('kubeconfig')
    if kubeconfig:
        return 'kubeconfig', '<dict>' if isinstance(kubeconfig, dict) else kubeconfig
    if auth.get('context'):
        return 'kubeconfig', default_kubeconfig(environ)
    if not environ.get('KUBECONFIG') and in_cluster_available(environ, sa_dir):
        return 'in-cluster', None
    if auth.get('host') and not os.path.exists(default_kubeconfig(environ)):
        # A host alone (client certificates, or an unauthenticated proxy such as kubectl proxy).
        return 'explicit', None
    return 'kubeconfig', default_kubeconfig(environ)


def describe_source(auth, source):
    """A short description of where the connection comes from, for error messages."""
    kind, detail = source
    if kind == 'explicit':
        return 'host=%s' % auth.get('host')
    if kind == 'in-cluster':
        return 'the in-cluster service account'
    text = 'kubeconfig=%s' % detail
    if auth.get('context'):
        text += ', context=%s' % auth['context']
    return text


def build_configuration(auth, environ=None, sa_dir=SERVICE_ACCOUNT_DIR):
    """A kubernetes.client.Configuration for ``auth``, and the source it came from.

    Raises K8sConfigError with a message naming what was tried.
    """
    configuration, source, dummy = configure(auth, environ, sa_dir)
    return configuration, source


def _load_kubeconfig(lib, configuration, filename=None, config_dict=None, context=None):
    """Load a kubeconfig into ``configuration`` as load_kube_config does; returns the active user entry (a dict),
    whose ``as``/``as-groups`` the client package does not apply itself."""
    loader = lib.config.kube_config._get_kube_config_loader(  # pylint: disable=protected-access
        filename=filename, config_dict=config_dict, active_context=context, persist_config=False)
    loader.load_and_set(configuration)
    user = getattr(loader, '_user', None)
    return getattr(user, 'value', user) if user is not None else None


def configure(auth, environ=None, sa_dir=SERVICE_ACCOUNT_DIR):
    """build_configuration, and the headers every request carries (basic auth, impersonation; see _k8s_identity).

    Raises K8sConfigError with a message naming what was tried.
    """
    lib = kubernetes_lib()
    if lib.error is not None:
        raise K8sConfigError(missing_required_lib(REQUIREMENT))
    errors = _k8s_identity.auth_errors(auth)
    if errors:
        raise K8sConfigError(' '.join(errors))
    environ = os.environ if environ is None else environ
    source = config_source(auth, environ, sa_dir)
    kind, detail = source
    configuration = lib.client.Configuration()
    kubeconfig_user = None
    try:
        if kind == 'in-cluster':
            lib.config.load_incluster_config(client_configuration=configuration)
        elif kind == 'kubeconfig':
            if isinstance(auth.get('kubeconfig'), dict):
                kubeconfig_user = _load_kubeconfig(lib, configuration, config_dict=auth['kubeconfig'],
                                                   context=auth.get('context'))
            else:
                paths = [p for p in detail.split(os.pathsep) if p]
                if not any(os.path.exists(p) for p in paths):
                    raise K8sConfigError(
                        'No Kubernetes credentials found: the kubeconfig %s does not exist, host and api_key are '
                        'not both given, and this is not a pod with a service account. Set kubeconfig (or '
                        'K8S_AUTH_KUBECONFIG or KUBECONFIG), or host and api_key (or K8S_AUTH_HOST and '
                        'K8S_AUTH_API_KEY).' % detail)
                kubeconfig_user = _load_kubeconfig(lib, configuration, filename=detail, context=auth.get('context'))
    except K8sConfigError:
        raise
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # ConfigException, a bad YAML file, an unknown context, a failing exec plugin...
        raise K8sConfigError('Cannot load the Kubernetes configuration from %s: %s' % (
            describe_source(auth, source), exc))

    # Explicit options override what the kubeconfig or the service account said.
    if auth.get('host'):
        configuration.host = auth['host'].rstrip('/')
    if auth.get('api_key'):
        configuration.api_key = {'authorization': 'Bearer %s' % auth['api_key']}
        if hasattr(configuration, 'api_key_prefix'):
            configuration.api_key_prefix = {}
    if auth.get('validate_certs') is not None:
        configuration.verify_ssl = bool(auth['validate_certs'])
    if auth.get('ca_cert'):
        configuration.ssl_ca_cert = auth['ca_cert']
    if auth.get('client_cert'):
        configuration.cert_file = auth['client_cert']
    if auth.get('client_key'):
        configuration.key_file = auth['client_key']
    if auth.get('proxy'):
        configuration.proxy = auth['proxy']
    if auth.get('no_proxy'):
        configuration.no_proxy = auth['no_proxy']
    if auth.get('proxy_headers'):
        if not configuration.proxy:
            raise K8sConfigError('proxy_headers are headers for the proxy, but there is none: give proxy (or '
                                 'K8S_AUTH_PROXY, or a proxy-url in the kubeconfig).')
        configuration.proxy_headers = lib.urllib3.util.make_headers(
            **_k8s_identity.make_headers_arguments(auth['proxy_headers']))
    for key, what in (('ca_cert', 'CA certificate'), ('client_cert', 'client certificate'),
                      ('client_key', 'client key')):
        if auth.get(key) and not os.path.isfile(auth[key]):
            raise K8sConfigError('The %s %s=%s does not exist.' % (what, key, auth[key]))
    try:
        headers = _k8s_identity.request_headers(auth, kubeconfig_user)
    except ValueError as exc:
        raise K8sConfigError('Cannot use the Kubernetes credentials from %s: %s' % (describe_source(auth, source), exc))
    if len([name for name, dummy in headers if name == _k8s_identity.IMPERSONATE_GROUP]) > 1 and \
            int(lib.urllib3.__version__.split('.')[0]) < 2:
        # urllib3 1.x joins repeated headers into one, which the API server would read as one group.
        raise K8sConfigError('Impersonating more than one group needs urllib3 >= 2 (found %s).'
                             % lib.urllib3.__version__)
    return configuration, source, headers


# ---------------------------------------------------------------------------------------------
# Client


def _status_message(data, fallback):
    try:
        status = json.loads(data.decode('utf-8') if isinstance(data, bytes) else data)
    except (ValueError, TypeError, UnicodeDecodeError, AttributeError):
        text = data.decode('utf-8', 'replace') if isinstance(data, bytes) else str(data or '')
        return (text.strip() or fallback), {}
    if isinstance(status, dict):
        return status.get('message') or fallback, status.get('details') or {}
    return fallback, {}


class K8sClient:
    """JSON requests to one Kubernetes API server (thread-safe: one urllib3 pool)."""

    def __init__(self, configuration, description, timeout=DEFAULT_TIMEOUT, pool_size=10, identity_headers=()):
        self.configuration = configuration
        self.description = description
        # (name, value) pairs sent on every request after the token: basic auth replaces it, Impersonate-Group repeats.
        self.identity_headers = tuple(identity_headers)
        self.host = configuration.host.rstrip('/')
        self.timeout = timeout
        configuration.connection_pool_maxsize = max(pool_size, getattr(configuration, 'connection_pool_maxsize', 0) or 0)
        # The package's own pool: it applies TLS, client certificates, proxy and no_proxy
        # the way this client release understands them.
        self.pool = kubernetes_lib().rest.RESTClientObject(configuration).pool_manager

    def _headers(self, body):
        headers = _header_dict(kubernetes_lib().urllib3)
        headers['Accept'] = 'application/json'
        headers['User-Agent'] = 'chaos.engineering'
        if body is not None:
            headers['Content-Type'] = 'application/json'
        # Bearer tokens, refreshed by the client's hooks (exec plugins, in-cluster token rotation).
        for setting in (self.configuration.auth_settings() or {}).values():
            if setting.get('in') == 'header' and setting.get('value'):
                headers[setting['key']] = setting['value']
        for name, value in self.identity_headers:
            if name == _k8s_identity.IMPERSONATE_GROUP:
                headers.add(name, value)  # one header line per group
            else:
                headers[name] = value  # case-insensitive: Authorization replaces the token's
        return headers

    def request(self, method, path, query=None, body=None):
        """Send one request; returns the decoded JSON. Raises K8sApiError or K8sConnectionError."""
        url = self.host + path
        query = [(k, v) for k, v in (query or []) if v is not None]
        if query:
            url += '?' + urlencode(query)
        payload = json.dumps(body).encode('utf-8') if body is not None else None
        urllib3 = kubernetes_lib().urllib3
        try:
            response = self.pool.request(
                method, url, body=payload, headers=self._headers(body),
                timeout=urllib3.Timeout(connect=min(10, self.timeout), read=self.timeout),
                retries=urllib3.Retry(total=2, connect=2, read=0, status=0, redirect=0, backoff_factor=0.2))
        except urllib3.exceptions.HTTPError as exc:
            if _is_tls_failure(exc):
                # Reached, but its certificate was refused: a different fix from an unreachable server.
                raise K8sConnectionError(
                    'TLS verification of the Kubernetes API at %s failed (%s): %s. Give the CA that signed its '
                    'certificate (ca_cert, or the kubeconfig\'s certificate-authority), or validate_certs=false to '
                    'skip the check.' % (self.host, self.description, _root_cause(exc)))
            raise K8sConnectionError('Cannot reach the Kubernetes API at %s (%s): %s' % (
                self.host, self.description, _root_cause(exc)))
        if not 200 <= response.status <= 299:
            message, details = _status_message(response.data, response.reason)
            raise K8sApiError(response.status, response.reason, message, details, method, path)
        if not response.data:
            return {}
        try:
            return json.loads(response.data.decode('utf-8'))
        except ValueError:
            raise K8sConnectionError('The Kubernetes API at %s (%s) answered %s %s with non-JSON data: %r' % (
                self.host, self.description, method, path, response.data[:200]))

    # --- reads

    def version(self):
        return self.request('GET', '/version')

    def get_namespace(self, name):
        return self.request('GET', '/api/v1/namespaces/%s' % quote(name, safe=''))

    def list(self, path, label_selector=None, field_selector=None, limit=LIST_PAGE_SIZE):
        """Every item of a list endpoint, following ``continue`` tokens."""
        items = []
        token = None
        while True:
            page = self.request('GET', path, query=[
                ('labelSelector', label_selector or None), ('fieldSelector', field_selector or None),
                ('limit', limit), ('continue', token)])
            items.extend(page.get('items') or [])
            token = (page.get('metadata') or {}).get('continue')
            if not token:
                return items

    def list_pods(self, namespace=None, label_selector=None, field_selector=None):
        path = '/api/v1/pods' if namespace is None else '/api/v1/namespaces/%s/pods' % quote(namespace, safe='')
        return self.list(path, label_selector, field_selector)

    def list_replicasets(self, namespace):
        return self.list('/apis/apps/v1/namespaces/%s/replicasets' % quote(namespace, safe=''))

    def list_pdbs(self, namespace):
        return self.list('/apis/policy/v1/namespaces/%s/poddisruptionbudgets' % quote(namespace, safe=''))

    def get_workload(self, kind, namespace, name):
        """A Deployment, ReplicaSet, StatefulSet, DaemonSet or ReplicationController; None for other kinds."""
        path = WORKLOAD_PATHS.get(kind)
        if path is None:
            return None
        return self.request('GET', path % (quote(namespace, safe=''), quote(name, safe='')))

    # --- writes

    def create_event(self, namespace, body):
        return self.request('POST', '/api/v1/namespaces/%s/events' % quote(namespace, safe=''), body=body)

    def delete_pod(self, namespace, name, uid=None, grace_period=None, dry_run=False):
        """Delete a pod; ``uid`` is a precondition, so a pod recreated under the same name is never hit."""
        body = {'apiVersion': 'v1', 'kind': 'DeleteOptions'}
        body.update(_delete_options(uid, grace_period, dry_run))
        return self.request('DELETE', '/api/v1/namespaces/%s/pods/%s' % (quote(namespace, safe=''), quote(name, safe='')),
                            query=[('dryRun', 'All' if dry_run else None)], body=body)

    def evict_pod(self, namespace, name, uid=None, grace_period=None, dry_run=False):
        """Evict a pod through policy/v1 Eviction: the API server enforces PodDisruptionBudgets."""
        options = _delete_options(uid, grace_period, dry_run)
        body = {'apiVersion': 'policy/v1', 'kind': 'Eviction',
                'metadata': {'name': name, 'namespace': namespace}}
        if options:
            body['deleteOptions'] = options
        return self.request('POST', '/api/v1/namespaces/%s/pods/%s/eviction' % (
            quote(namespace, safe=''), quote(name, safe='')), query=[('dryRun', 'All' if dry_run else None)], body=body)


def _header_dict(urllib3):
    """An empty case-insensitive urllib3 HTTPHeaderDict (top level in urllib3 2, in _collections before)."""
    cls = getattr(urllib3, 'HTTPHeaderDict', None)
    if cls is None:
        from urllib3._collections import HTTPHeaderDict as cls  # pylint: disable=import-outside-toplevel
    return cls()


def _delete_options(uid, grace_period, dry_run):
    """The DeleteOptions fields of a pod deletion or eviction."""
    options = {}
    if uid:
        options['preconditions'] = {'uid': uid}
    if grace_period is not None:
        options['gracePeriodSeconds'] = grace_period
    if dry_run:
        options['dryRun'] = ['All']
    return options


WORKLOAD_PATHS = {
    'Deployment': '/apis/apps/v1/namespaces/%s/deployments/%s',
    'ReplicaSet': '/apis/apps/v1/namespaces/%s/replicasets/%s',
    'StatefulSet': '/apis/apps/v1/namespaces/%s/statefulsets/%s',
    'DaemonSet': '/apis/apps/v1/namespaces/%s/daemonsets/%s',
    'ReplicationController': '/api/v1/namespaces/%s/replicationcontrollers/%s',
}


def _is_tls_failure(exc):
    """Whether a urllib3 error (or one it wraps) is a failed TLS handshake or certificate check."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, (ssl.SSLError, kubernetes_lib().urllib3.exceptions.SSLError)):
            return True
        exc, seen = getattr(exc, 'reason', None), seen + 1
    return False


def _root_cause(exc):
    """The innermost reason of a urllib3 error (MaxRetryError wraps the real one)."""
    reason = getattr(exc, 'reason', None)
    while reason is not None and getattr(reason, 'reason', None) is not None and reason is not reason.reason:
        reason = reason.reason
    return str(reason if reason is not None else exc)


def make_client(auth, environ=None, check=True, pool_size=10, timeout=DEFAULT_TIMEOUT, sa_dir=SERVICE_ACCOUNT_DIR):
    """A K8sClient for resolved ``auth`` (see auth_params).

    With ``check``, asks the server for /api (so an unreachable host or a bad token fails here,
    with a message naming the host and where the credentials came from).
    Raises K8sConfigError, K8sConnectionError or K8sApiError.
    """
    configuration, source, headers = configure(auth, environ, sa_dir)
    description = describe_source(auth, source)
    if auth.get('username') is not None:
        description += ', username=%s' % auth['username']
    client = K8sClient(configuration, description, timeout=timeout, pool_size=pool_size, identity_headers=headers)
    if check:
        try:
            client.request('GET', '/api')
        except K8sApiError as exc:
            raise _checked_connection_error(exc, client, headers) or exc
    return client


def _checked_connection_error(exc, client, headers):
    """The error to raise for an error of make_client's first request (None: ``exc`` as it is)."""
    basic = any(name == 'Authorization' and value.startswith('Basic ') for name, value in headers)
    anonymous = 'system:anonymous' in (exc.message or '')
    if basic and (exc.status == 401 or (exc.status == 403 and anonymous)):
        # An API server without basic authentication ignores the header: the request is anonymous, refused
        # with 401 (anonymous auth off) or 403 (on). The password is not what is wrong.
        return K8sConfigError(
            'The Kubernetes API at %s did not accept username/password from %s (HTTP %s %s: %s): the API server '
            'has no basic authentication since Kubernetes 1.19, so it took the request as anonymous. Use a token '
            '(api_key), client certificates or a kubeconfig.' % (
                client.host, client.description, exc.status, exc.reason, exc.message.rstrip('.')))
    if exc.status == 401:
        return K8sApiError(exc.status, exc.reason, 'The Kubernetes API at %s rejected the credentials from %s '
                           '(401 Unauthorized): %s' % (client.host, client.description, exc.message),
                           exc.details, exc.method, exc.path)
    user = dict(headers).get(_k8s_identity.IMPERSONATE_USER)
    if exc.status == 403 and user and 'cannot impersonate' in (exc.message or ''):
        groups = [value for name, value in headers if name == _k8s_identity.IMPERSONATE_GROUP]
        return K8sConfigError(
            'The Kubernetes API at %s refused to let the credentials from %s impersonate %s (403 Forbidden): %s. '
            'They need the impersonate verb on that user (and groups) in a ClusterRole bound to them.' % (
                client.host, client.description, _k8s_identity.described(user, groups), exc.message.rstrip('.')))
    return None


def api_error_text(exc, what):
    """A one-line explanation of a K8sApiError while doing ``what`` (for example 'listing pods in namespace x').

    It ends with a full stop, so that a hint can follow it (the API server's messages have none)."""
    if exc.status == 403:
        text = 'Permission denied %s (403 Forbidden): %s' % (what, exc.message)
    elif exc.status == 401:
        text = 'Not authenticated %s (401 Unauthorized): %s' % (what, exc.message)
    elif exc.status == 404:
        text = 'Not found %s (404): %s' % (what, exc.message)
    else:
        text = 'Kubernetes API error %s (HTTP %s %s): %s' % (what, exc.status, exc.reason, exc.message)
    return text if text.endswith('.') else text + '.'
