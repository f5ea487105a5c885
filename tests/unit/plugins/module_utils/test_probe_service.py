"""HTTP probes on a Kubernetes Service: the definition, the endpoint choice (ready ones only, at random, another
one on no answer up to attempts) and the module's use of the Kubernetes connection. The endpoints are a real local
HTTP server (the one of test_probe.py) and a port where nothing listens; the Service and its slices are fakes."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import threading

from http.server import ThreadingHTTPServer

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import _docker, _k8s_client
from ansible_collections.chaos.engineering.plugins.module_utils._probe_http import (
    ready_endpoints,
    service_port,
    service_sample,
)
from ansible_collections.chaos.engineering.plugins.module_utils._probe_spec import (
    needed_clients,
    ProbeError,
    validate_probes,
)
from ansible_collections.chaos.engineering.plugins.modules import probe as probe_module

from test_probe import Handler, server  # noqa: F401  pylint: disable=unused-import


def svc_probe(**extra):
    raw = dict(name='web', type='http', service=dict(name='hello', namespace='shop', port=80))
    raw.update(extra)
    return validate_probes([raw])[0]


def service_object(*ports):
    return dict(metadata=dict(name='hello', namespace='shop'), spec=dict(ports=list(ports) or [dict(port=80)]))


def endpoint(address, pod=None, ready=True, terminating=None):
    conditions = {} if ready is None else dict(ready=ready)
    if terminating is not None:
        conditions['terminating'] = terminating
    found = dict(addresses=[address], conditions=conditions)
    if pod:
        found['targetRef'] = dict(kind='Pod', name=pod, namespace='shop')
    return found


def endpoint_slice(port, *endpoints, **kwargs):
    return dict(ports=[dict(name=kwargs.get('name', ''), port=port, protocol='TCP')], endpoints=list(endpoints))


def free_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    return port


# ---------------------------------------------------------------------------------------------
# Definitions


def test_service_defaults_and_the_kubernetes_connection():
    (probe,) = validate_probes([dict(name='web', type='http', service=dict(name='hello'))])
    assert probe['service'] == dict(name='hello', namespace='default', port=None, scheme='http', path='/')
    assert probe['attempts'] == 1 and probe['url'] is None
    assert svc_probe(service=dict(name='hello', port='8080'))['service']['port'] == 8080
    assert svc_probe(service=dict(name='hello', port='web', scheme='HTTPS', path='/cgi-bin/host?x=1'),
                     attempts=2)['service'] == dict(name='hello', namespace='default', port='web', scheme='https',
                                                    path='/cgi-bin/host?x=1')
    assert needed_clients([svc_probe()]) == set(['k8s'])
    assert needed_clients(validate_probes([dict(name='a', type='http', url='http://x/')])) == set()


@pytest.mark.parametrize('extra, message', [
    (dict(url='http://x/', service=dict(name='hello')), 'url and service are mutually exclusive'),
    (dict(service='hello'), 'service must be a dictionary with name, namespace, port, scheme, path'),
    (dict(service=dict(name='hello', ns='shop')), 'unknown service keys ns'),
    (dict(service=dict(namespace='shop')), 'service.name must be the name of a Kubernetes Service, got None'),
    (dict(service=dict(name='Hello_World')), "service.name must be the name of a Kubernetes Service, got 'Hello_World'"),
    (dict(service=dict(name='hello', namespace='')), 'service.namespace must be the name of a Kubernetes namespace'),
    (dict(service=dict(name='hello', port=0)), 'service.port must be from 1 to 65535, got 0'),
    (dict(service=dict(name='hello', port=70000)), 'service.port must be from 1 to 65535'),
    (dict(service=dict(name='hello', port='Web Port')), 'service.port must be a port number or the name of a port'),
    (dict(service=dict(name='hello', port=True)), 'service.port must be a port number or the name of a port'),
    (dict(service=dict(name='hello', scheme='ftp')), "service.scheme must be http or https, got 'ftp'"),
    (dict(service=dict(name='hello', path='health')), 'service.path must start with /'),
    (dict(service=dict(name='hello', path='/a b')), 'service.path must start with / and have no spaces'),
    (dict(service=dict(name='hello'), attempts=0), 'attempts must be at least 1, got 0'),
    (dict(service=dict(name='hello'), attempts=11), 'attempts must be at most 10, got 11'),
    (dict(service=dict(name='hello'), attempts='twice'), 'attempts must be an integer'),
    (dict(url='http://x/', attempts=2), 'attempts needs a service'),
])
def test_bad_service_definitions_are_refused_clearly(extra, message):
    raw = dict(name='web', type='http')
    raw.update(extra)
    with pytest.raises(ProbeError) as info:
        validate_probes([raw])
    assert message in str(info.value) and str(info.value).startswith("probe 'web': ")


# ---------------------------------------------------------------------------------------------
# Ports and endpoints


def test_the_service_port_by_number_name_or_the_only_one():
    web, admin = dict(name='web', port=80, targetPort=8080), dict(name='admin', port=9000)
    assert service_port(service_object(web, admin), 80) == (web, None)
    assert service_port(service_object(web, admin), 'admin') == (admin, None)
    assert service_port(service_object(web), None) == (web, None)
    assert service_port(service_object(web, admin), None) == (
        None, 'has 2 ports, so service.port must name one (80 (web), 9000 (admin))')
    assert service_port(service_object(web, admin), 8080) == (None, 'has no port 8080 (80 (web), 9000 (admin))')
    assert service_port(service_object(web), 'http')[0] is None


def test_ready_endpoints_are_those_kube_proxy_routes_to():
    slices = [
        endpoint_slice(8080, endpoint('10.0.0.1', 'hello-a'), endpoint('10.0.0.2', 'hello-b', ready=False),
                       endpoint('10.0.0.3', 'hello-c', ready=False, terminating=True),
                       endpoint('10.0.0.4', 'hello-d', ready=None)),  # no condition given: ready, says the API
        endpoint_slice(8080, endpoint('10.0.0.1', 'hello-a'), endpoint('10.0.0.5', 'hello-e', terminating=True)),
        endpoint_slice(9000, endpoint('10.0.0.6', 'hello-f'), name='admin'),  # another port of the Service
        dict(ports=[dict(name='', port=8080, protocol='UDP')], endpoints=[endpoint('10.0.0.7', 'hello-g')]),
    ]
    ready, not_ready = ready_endpoints(slices, None)
    assert ready == [dict(address='10.0.0.1', port=8080, pod='hello-a'),
                     dict(address='10.0.0.4', port=8080, pod='hello-d')]
    assert not_ready == 3
    assert ready_endpoints(slices, 'admin') == ([dict(address='10.0.0.6', port=9000, pod='hello-f')], 0)
    assert ready_endpoints([], '') == ([], 0)


# ---------------------------------------------------------------------------------------------
# Samples


class Cluster:
    """A Service and its slices, as get_service and list_slices see them; records the endpoints offered."""

    def __init__(self, service, slices):
        self.service = service
        self.slices = slices
        self.offered = []
        self.looked_up = []

    def get_service(self, namespace, name):
        self.looked_up.append((namespace, name))
        return self.service

    def list_slices(self, namespace, name):
        return self.slices

    def first(self, endpoints):
        self.offered.append([e['address'] for e in endpoints])
        return endpoints[0]


def test_a_ready_endpoint_answers_like_an_http_probe(server):
    base, httpd = server
    port = int(base.rsplit(':', 1)[1])
    cluster = Cluster(service_object(dict(port=80, targetPort=port)), [
        endpoint_slice(port, endpoint('10.255.255.1', 'hello-down', ready=False), endpoint('127.0.0.1', 'hello-a'))])
    probe = svc_probe(service=dict(name='hello', namespace='shop', port=80, path='/ok'), latency_ms=5000)
    ok, value, detail = service_sample(probe, cluster.get_service, cluster.list_slices)  # random among one
    assert ok is True and isinstance(value, float)
    assert detail == 'pod hello-a at 127.0.0.1:%d: HTTP 200' % port
    assert cluster.looked_up == [('shop', 'hello')]
    assert ('GET', '/ok') in httpd.seen
    # The status check, one code path with url probes.
    probe = svc_probe(service=dict(name='hello', namespace='shop', path='/status/503'))
    ok, value, detail = service_sample(probe, cluster.get_service, cluster.list_slices)
    assert ok is False and value is not None and detail.endswith(': HTTP 503, expected 200')


def test_no_service_no_port_and_no_ready_endpoint_fail_clearly():
    probe = svc_probe()
    cluster = Cluster(None, [])
    assert service_sample(probe, cluster.get_service, cluster.list_slices) == (False, None, 'no Service shop/hello')
    cluster = Cluster(service_object(dict(name='web', port=8080)), [])
    assert service_sample(probe, cluster.get_service, cluster.list_slices) == (
        False, None, 'Service shop/hello has no port 80 (8080 (web))')
    cluster = Cluster(service_object(), [])
    assert service_sample(probe, cluster.get_service, cluster.list_slices) == (
        False, None, 'no ready endpoint of Service shop/hello')
    cluster = Cluster(service_object(), [endpoint_slice(8080, endpoint('10.0.0.2', 'hello-b', ready=False))])
    assert service_sample(probe, cluster.get_service, cluster.list_slices) == (
        False, None, 'no ready endpoint of Service shop/hello (1 not ready)')

    def broken(namespace, name):
        raise RuntimeError('forbidden: cannot list endpointslices')
    cluster = Cluster(service_object(), [])
    assert service_sample(probe, cluster.get_service, broken) == (
        False, None, 'error reading Service shop/hello: forbidden: cannot list endpointslices')


@pytest.fixture
def three_servers():
    servers = []
    for dummy in range(3):
        httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        httpd.daemon_threads = True
        httpd.seen = []
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
    yield [httpd.server_address[1] for httpd in servers]
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def test_only_ready_endpoints_are_offered_and_the_pick_is_random_among_them(three_servers):
    # One slice per pod, as a big Service has several: each pod on its own port of 127.0.0.1.
    slices = [endpoint_slice(port, endpoint('127.0.0.1', 'hello-%d' % port)) for port in three_servers]
    slices.append(endpoint_slice(free_port(), endpoint('127.0.0.1', 'hello-unready', ready=False)))
    cluster = Cluster(service_object(dict(port=80)), slices)
    probe = svc_probe(service=dict(name='hello', namespace='shop', path='/ok'))
    picked = set()
    for dummy_round in range(60):
        ok, dummy_value, detail = service_sample(probe, cluster.get_service, cluster.list_slices)
        assert ok is True, detail
        picked.add(detail.split(':')[0])
    # All of them, never the unready one (60 draws among 3 miss one with p < 1e-10).
    assert picked == set('pod hello-%d at 127.0.0.1' % port for port in three_servers)


def test_on_no_answer_another_ready_endpoint_is_tried_up_to_attempts(server):
    base, dummy = server
    port = int(base.rsplit(':', 1)[1])
    dead = free_port()
    slices = [endpoint_slice(dead, endpoint('127.0.0.1', 'hello-killed')),
              endpoint_slice(port, endpoint('127.0.0.1', 'hello-alive'), endpoint('127.0.0.2', 'hello-other'))]
    cluster = Cluster(service_object(dict(port=80)), slices)
    service = dict(name='hello', namespace='shop', path='/ok')
    # One attempt (the default): the killed pod, still listed ready, fails the sample.
    ok, value, detail = service_sample(svc_probe(service=service), cluster.get_service, cluster.list_slices,
                                       choose=cluster.first)
    assert ok is False and value is None
    assert detail.startswith('pod hello-killed at 127.0.0.1:%d: error: ' % dead) and 'refused' in detail.lower()
    # Two: the next one, not the one that did not answer, and the detail says what happened first.
    cluster.offered = []
    ok, value, detail = service_sample(svc_probe(service=service, attempts=2), cluster.get_service,
                                       cluster.list_slices, choose=cluster.first)
    assert ok is True and value is not None
    assert detail.startswith('pod hello-alive at 127.0.0.1:%d: HTTP 200, after pod hello-killed at 127.0.0.1:%d: '
                             'error: ' % (port, dead))
    assert cluster.offered == [['127.0.0.1', '127.0.0.1', '127.0.0.2'], ['127.0.0.1', '127.0.0.2']]
    # An answer, even a failing one, is not retried: the client got it.
    cluster = Cluster(service_object(dict(port=80)), [endpoint_slice(port, endpoint('127.0.0.1', 'hello-a'),
                                                                     endpoint('127.0.0.2', 'hello-b'))])
    ok, value, detail = service_sample(svc_probe(service=dict(service, path='/status/500'), attempts=3),
                                       cluster.get_service, cluster.list_slices, choose=cluster.first)
    assert ok is False and detail == 'pod hello-a at 127.0.0.1:%d: HTTP 500, expected 200' % port
    assert len(cluster.offered) == 1
    # No other endpoint: attempts cannot be used up on the same one.
    cluster = Cluster(service_object(dict(port=80)), [slices[0]])
    ok, value, detail = service_sample(svc_probe(service=service, attempts=3), cluster.get_service,
                                       cluster.list_slices, choose=cluster.first)
    assert ok is False and len(cluster.offered) == 1 and ', after' not in detail


# ---------------------------------------------------------------------------------------------
# The module


def refuse(*args, **kwargs):
    raise AssertionError('no connection should be made')


def test_module_service_probe_uses_the_k8s_connection(server, run_module, monkeypatch):
    base, dummy = server
    port = int(base.rsplit(':', 1)[1])
    seen = []

    class FakeK8s:
        def request(self, method, path, query=None, body=None):
            seen.append((method, path))
            if path == '/api/v1/namespaces/shop/services/hello':
                return service_object(dict(name='web', port=80))
            raise _k8s_client.K8sApiError(404, 'Not Found', 'services "%s" not found' % path.rsplit('/', 1)[1])

        def list(self, path, label_selector=None, field_selector=None):
            seen.append(('LIST', path, label_selector))
            return [endpoint_slice(port, endpoint('127.0.0.1', 'hello-a'), name='web')]

    monkeypatch.setattr(_docker, 'make_client', refuse)
    monkeypatch.setattr(_k8s_client, 'make_client', lambda auth, **kwargs: FakeK8s())
    result = run_module(probe_module, kubeconfig='/nowhere/kubeconfig', fail_fast=False, probes=[
        dict(name='web', type='http', service=dict(name='hello', namespace='shop', port='web', path='/ok')),
        dict(name='gone', type='http', service=dict(name='gone', namespace='shop')),
        dict(name='plain', type='http', url=base + '/ok')])
    web, gone, plain = result['samples']
    assert web['ok'] is True and web['detail'] == 'pod hello-a at 127.0.0.1:%d: HTTP 200' % port
    assert gone['ok'] is False and gone['detail'] == 'no Service shop/gone'
    assert plain['ok'] is True and plain['detail'] == 'HTTP 200'
    assert ('LIST', '/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices',
            'kubernetes.io/service-name=hello') in seen
