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
from ansible_collections.chaos.engineering.plugins.module_utils._redact import secret_values
from ansible_collections.chaos.engineering.plugins.module_utils._probe import containers_sample, pods_sample
from ansible_collections.chaos.engineering.plugins.module_utils._probe_http import http_sample, service_sample
from ansible_collections.chaos.engineering.plugins.module_utils._probe_spec import (
    MissingLibraryError,
    needed_clients,
    probe_secrets,
    ProbeError,
    validate_probes,
)

# validate_certs, client_cert and client_key have the same name in both connections; ca_cert is a
# Docker alias and a Kubernetes option. The probe keeps one option for each name.
SHARED = dict(
    validate_certs=dict(type='bool', aliases=['tls_verify', 'verify_ssl']),
    client_cert=dict(type='path', aliases=['tls_client_cert', 'cert_path', 'cert_file']),
    client_key=dict(type='path', aliases=['tls_client_key', 'key_path', 'key_file']),
    ca_path=dict(type='path', aliases=['tls_ca_cert', 'cacert_path']),
)


def connection_spec():
    """The container runtime (Docker, containerd) and Kubernetes connection options of a probing module."""
    spec = dict(_docker.DOCKER_ARGUMENT_SPEC)
    spec.update(_runtime_select.RUNTIME_ARGUMENT_SPEC)
    spec.update(_k8s_client.K8S_AUTH_ARGUMENT_SPEC)
    spec.update(SHARED)
    return spec


def docker_connection(params, environ=None):
    """The Docker connection dict; validate_certs falls back to DOCKER_TLS_VERIFY, then false."""
    environ = os.environ if environ is None else environ
    conn = _docker.connection_params(params)
    if conn.get('validate_certs') is None:
        conn['validate_certs'] = boolean(environ.get('DOCKER_TLS_VERIFY') or False, strict=False)
    return conn


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
        return []
    try:
        probes = validate_probes(params['probes'])
    except MissingLibraryError as exc:
        module.fail_json(msg=missing_required_lib(exc.library, reason=exc.reason), exception=exc.error)
    except ProbeError as exc:
        module.fail_json(msg=str(exc))
    module.no_log_values.update(probe_secrets(probes))
    return probes


class ProbeConnectionError(Exception):
    """A connection the probes need cannot be made (the message says which and why)."""


def make_samplers(params, probes):
    """probe type -> sampler, with a client for each connection the probes need; raises ProbeConnectionError."""
    needed = needed_clients(probes)
    samplers = dict(http=http_sample)
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
        return _k8s_client.make_client(_k8s_client.auth_params(params))
    except _k8s_client.K8sApiError as exc:
        raise ProbeConnectionError(exc.message if exc.status == 401 else 'Kubernetes API error: %s' % exc)
    except _k8s_client.K8sError as exc:
        raise ProbeConnectionError(str(exc))


def samplers_or_fail(module, probes):
    """make_samplers, or fail_json (an engine or API that cannot be reached fails the task)."""
    # A host URL with user:pass@ (or a token as its userinfo): masked in all the module returns.
    module.no_log_values.update(secret_values([module.params.get('host')]))
    # The Kubernetes secrets from K8S_AUTH_* too: Ansible masks only the no_log options it was given.
    module.no_log_values.update(_k8s_identity.auth_secrets(_k8s_client.auth_params(module.params)))
    try:
        return make_samplers(module.params, probes)
    except ProbeConnectionError as exc:
        module.fail_json(msg=str(exc))
    return None  # not reached
