# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connections probes need, shared by the probe and sampler modules: their common argument spec, and a
sampler per probe type (``f(probe) -> (ok, value, detail)``) made from the module's parameters."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from urllib.parse import quote

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.chaos.engineering.plugins.module_utils import (
    _docker,
    _k8s_client,
    _k8s_identity,
    _k8s_pods,
    _runtime_select,
    _validate,
)
from ansible_collections.chaos.engineering.plugins.module_utils._errors import FaultError
from ansible_collections.chaos.engineering.plugins.module_utils._probe import containers_sample, pods_sample
from ansible_collections.chaos.engineering.plugins.module_utils._probe_http import http_sample, service_sample
from ansible_collections.chaos.engineering.plugins.module_utils._probe_prometheus import prometheus_sample
from ansible_collections.chaos.engineering.plugins.module_utils._probe_spec import (
    MissingLibraryError,
    needed_clients,
    probe_secrets,
    ProbeError,
    validate_probes,
)

# validate_certs, client_cert and client_key name a Docker option in the container modules and a Kubernetes
# option in the Kubernetes ones, and ca_cert is a Docker alias there but the Kubernetes CA here. A probing module
# talks to both, so it takes a distinct name for each connection: the same names are aliases in the other modules
# (see _docker.DOCKER_ARGUMENT_SPEC, _k8s_client.K8S_AUTH_ARGUMENT_SPEC), so that one module_defaults block per
# action group sets each connection right in every module. Each maps to the connection's own option.
DOCKER_TLS = dict(docker_validate_certs='validate_certs', docker_ca_path='ca_path',
                  docker_client_cert='client_cert', docker_client_key='client_key')
K8S_TLS = dict(k8s_validate_certs='validate_certs', k8s_ca_cert='ca_cert',
               k8s_client_cert='client_cert', k8s_client_key='client_key')

# No default for docker_validate_certs: docker_connection reads DOCKER_TLS_VERIFY when neither name is set.
DISTINCT = dict(
    docker_validate_certs=dict(type='bool', aliases=['tls_verify']),
    docker_ca_path=dict(type='path', aliases=['tls_ca_cert', 'cacert_path']),
    docker_client_cert=dict(type='path', aliases=['tls_client_cert', 'cert_path']),
    docker_client_key=dict(type='path', aliases=['tls_client_key', 'key_path']),
    k8s_validate_certs=dict(type='bool', aliases=['verify_ssl']),
    k8s_ca_cert=dict(type='path', aliases=['ssl_ca_cert']),
    k8s_client_cert=dict(type='path', aliases=['cert_file']),
    k8s_client_key=dict(type='path', aliases=['key_file']),
)

# The old, ambiguous names, deprecated: each applies as before to the connections listed, unless the distinct
# option of that connection is set too. name -> ((connection, distinct option), ...)
AMBIGUOUS = dict(
    validate_certs=(('Docker', 'docker_validate_certs'), ('Kubernetes', 'k8s_validate_certs')),
    client_cert=(('Docker', 'docker_client_cert'), ('Kubernetes', 'k8s_client_cert')),
    client_key=(('Docker', 'docker_client_key'), ('Kubernetes', 'k8s_client_key')),
    ca_path=(('Docker', 'docker_ca_path'),),
    ca_cert=(('Kubernetes', 'k8s_ca_cert'),),
)
AMBIGUOUS_SPEC = dict(validate_certs=dict(type='bool'), client_cert=dict(type='path'), client_key=dict(type='path'),
                      ca_path=dict(type='path'), ca_cert=dict(type='path'))
_NEEDS = dict(Docker='docker', Kubernetes='k8s')


def connection_spec():
    """The container runtime (Docker, containerd) and Kubernetes connection options of a probing module."""
    spec = dict((key, value) for key, value in _docker.DOCKER_ARGUMENT_SPEC.items()
                if key not in DOCKER_TLS.values())
    spec.update(_runtime_select.RUNTIME_ARGUMENT_SPEC)
    spec.update((key, value) for key, value in _k8s_client.K8S_AUTH_ARGUMENT_SPEC.items()
                if key not in K8S_TLS.values())
    spec.update(DISTINCT)
    spec.update(AMBIGUOUS_SPEC)
    return spec


def _with_distinct(params, distinct):
    """params with the connection's own option names set from the distinct ones, which win over the ambiguous
    names (those are the connection's option names, so they apply when the distinct one is not set)."""
    resolved = dict(params)
    for name, option in distinct.items():
        if params.get(name) is not None:
            resolved[option] = params[name]
    return resolved


def docker_connection(params, environ=None):
    """The Docker connection dict; validate_certs falls back to DOCKER_TLS_VERIFY, then false."""
    environ = os.environ if environ is None else environ
    conn = _docker.connection_params(_with_distinct(params, DOCKER_TLS))
    if conn.get('validate_certs') is None:
        conn['validate_certs'] = boolean(environ.get('DOCKER_TLS_VERIFY') or False, strict=False)
    return conn


def k8s_auth(params, environ=None):
    """The Kubernetes auth settings (see _k8s_client.auth_params), from the k8s_* names first."""
    return _k8s_client.auth_params(_with_distinct(params, K8S_TLS), environ)


def ambiguous_warnings(params, needed):
    """A deprecation message for each ambiguous option set: which distinct options replace it, and where it
    applies now (the connections that ``needed`` probes use whose distinct option is not set)."""
    messages = []
    for name in sorted(AMBIGUOUS):
        if params.get(name) is None:
            continue
        targets = AMBIGUOUS[name]
        use = ' and '.join('%s (%s)' % (distinct, connection) for connection, distinct in targets)
        text = '%s is deprecated, use %s instead.' % (name, use)
        if len(targets) == 2:
            text += (' It sets the Docker and the Kubernetes connection alike, while in the container modules it is '
                     'the Docker option and in k8s_pod_chaos and k8s_agent the Kubernetes one.')
        else:
            text += (' In the container modules ca_cert is an alias of the Docker ca_path; here it is the Kubernetes '
                     'CA.' if name == 'ca_cert' else ' It is the Docker CA, as in the container modules.')
        applies = [connection for connection, distinct in targets
                   if _NEEDS[connection] in needed and params.get(distinct) is None]
        overridden = [distinct for connection, distinct in targets if params.get(distinct) is not None]
        if len(applies) == 2:
            text += (' These probes use both connections, so the one value applies to both: the ambiguous case '
                     'that %s and %s resolve.' % tuple(distinct for connection, distinct in targets))
        elif applies:
            text += ' Here it applies to the %s connection.' % applies[0]
        if overridden:
            text += ' %s, also set, wins over it.' % ' and '.join(overridden)
        messages.append(text)
    return messages


def deprecate_ambiguous(module, probes):
    for text in ambiguous_warnings(module.params, needed_clients(probes)):
        module.deprecate(text, version='2.0.0', collection_name='chaos.engineering')


def checked_probes(module, bounds, allow_empty=False):
    """The module's parameters and probes, validated (fail_json otherwise), the probes' secrets masked in all
    the module returns."""
    params = module.params
    # Credentials in the probes (headers, url_password, user:pass@ in a URL) are masked in all the module returns,
    # its invocation included, as if they were no_log options.
    module.no_log_values.update(probe_secrets(params['probes']))
    _validate.fail_on_errors(module, _validate.validate_params(
        params, module.argument_spec, bounds, types=_validate.K8S_AUTH_TYPES,
        api_versions=_validate.DOCKER_API_VERSIONS))
    if allow_empty and not params['probes']:
        deprecate_ambiguous(module, [])
        return []
    try:
        probes = validate_probes(params['probes'])
    except MissingLibraryError as exc:
        module.fail_json(msg=missing_required_lib(exc.library, reason=exc.reason), exception=exc.error)
    except ProbeError as exc:
        module.fail_json(msg=str(exc))
    module.no_log_values.update(probe_secrets(probes))
    deprecate_ambiguous(module, probes)
    return probes


class ProbeConnectionError(Exception):
    """A connection the probes need cannot be made (the message says which and why)."""


def make_samplers(params, probes):
    """probe type -> sampler, with a client for each connection the probes need; raises ProbeConnectionError."""
    needed = needed_clients(probes)
    # http (to a url) and prometheus probes need no Docker or Kubernetes connection.
    samplers = dict(http=http_sample, prometheus=prometheus_sample)
    if 'docker' in needed and (params.get('runtime') or _runtime_select.DOCKER) != _runtime_select.DOCKER:
        try:
            runtime = _runtime_select.runtime_from_params(params, pool_size=10)
        except FaultError as exc:
            raise ProbeConnectionError(exc.msg)
        samplers['containers'] = lambda probe: containers_sample(probe, lambda: runtime.candidates(['running']))
    elif 'docker' in needed:
        if _docker.DOCKER_IMPORT_ERROR is not None:
            raise ProbeConnectionError(missing_required_lib('docker (Docker SDK for Python >= 7.0)'))
        try:
            client = _docker.make_client(docker_connection(params))
        except _docker.DockerConnectionError as exc:
            raise ProbeConnectionError(str(exc))
        samplers['containers'] = lambda probe: containers_sample(
            probe, lambda: _docker.container_candidates(client, ['running']))
    if 'k8s' in needed:
        k8s = _connect_k8s(params)
        samplers['pods'] = lambda probe: pods_sample(
            probe, lambda namespace, selector: k8s.list_pods(namespace, label_selector=selector), _k8s_pods.pod_is_ready)

        def http_or_service(probe):
            if probe.get('service') is None:
                return http_sample(probe)
            return service_sample(probe, lambda namespace, name: get_service(k8s, namespace, name),
                                  lambda namespace, name: list_endpoint_slices(k8s, namespace, name))
        samplers['http'] = http_or_service
    return samplers


def get_service(k8s, namespace, name):
    """A Service object, None when there is none of that name."""
    try:
        return k8s.request('GET', '/api/v1/namespaces/%s/services/%s' % (quote(namespace, safe=''), quote(name, safe='')))
    except _k8s_client.K8sApiError as exc:
        if exc.status == 404:
            return None
        raise


def list_endpoint_slices(k8s, namespace, name):
    """The EndpointSlices of a Service (the EndpointSlice controller labels them with its name)."""
    return k8s.list('/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices' % quote(namespace, safe=''),
                    label_selector='kubernetes.io/service-name=%s' % name)


def _connect_k8s(params):
    lib = _k8s_client.kubernetes_lib()
    if lib.error is not None:
        raise ProbeConnectionError(missing_required_lib(_k8s_client.REQUIREMENT))
    try:
        return _k8s_client.make_client(k8s_auth(params))
    except _k8s_client.K8sApiError as exc:
        raise ProbeConnectionError(exc.message if exc.status == 401 else 'Kubernetes API error: %s' % exc)
    except _k8s_client.K8sError as exc:
        raise ProbeConnectionError(str(exc))


def samplers_or_fail(module, probes):
    """make_samplers, or fail_json (an engine or API that cannot be reached fails the task)."""
    # The Kubernetes connection's secrets, those from K8S_AUTH_* and a host URL's user:pass@ included: masked in
    # all the module returns (Ansible masks only the no_log options it was given).
    module.no_log_values.update(_k8s_identity.auth_secrets(k8s_auth(module.params)))
    try:
        return make_samplers(module.params, probes)
    except ProbeConnectionError as exc:
        module.fail_json(msg=str(exc))
    return None  # not reached
