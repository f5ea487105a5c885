"""chaos.engineering.probe `http` probes on a Kubernetes Service, on the real node of tests/infra/node-bed.sh: the
probe lists the Service's EndpointSlices and requests a ready endpoint (there is no kube-proxy here, so no cluster
IP to send to). The hello pods answer HTTP on 8080 (/cgi-bin/host: the pod's name).

A pod made unready (its readiness page removed, so the kubelet marks it unready while it still answers) is never
picked; with no pod at all the sample fails and says so.
"""
import pytest
from kubernetes import client

from k8s_helpers import pod_ready, pods, wait_for
from node_helpers import docker_on_node, hello_deployment

pytestmark = [pytest.mark.integration, pytest.mark.k8s, pytest.mark.node_bed]


def hello_service(name='hello'):
    return client.V1Service(metadata=client.V1ObjectMeta(name=name), spec=client.V1ServiceSpec(
        selector={'app': name}, ports=[client.V1ServicePort(name='web', port=80, target_port=8080)]))


def slice_endpoints(api, namespace, service):
    """{pod name: ready condition} over the Service's EndpointSlices, as the probe reads them."""
    found = {}
    for piece in client.DiscoveryV1Api(api['client']).list_namespaced_endpoint_slice(
            namespace, label_selector='kubernetes.io/service-name=%s' % service).items:
        for endpoint in piece.endpoints or []:
            if endpoint.target_ref is not None:
                found[endpoint.target_ref.name] = bool(endpoint.conditions and endpoint.conditions.ready is not False
                                                       and not endpoint.conditions.terminating)
    return found


def test_service_probe_reaches_ready_endpoints_only(api, real_node, namespace, run_module):
    cfg = real_node
    api['apps'].create_namespaced_deployment(namespace, hello_deployment('hello', cfg, 3))
    api['core'].create_namespaced_service(namespace, hello_service())
    wait_for('3 hello pods ready in the EndpointSlices', lambda: list(
        slice_endpoints(api, namespace, 'hello').values()) == [True] * 3, timeout=180)
    names = sorted(p.metadata.name for p in pods(api, namespace, 'app=hello'))

    # The kubelet's readiness probe gets / : without its page, the pod turns unready and still answers.
    unready = names[0]
    (container,) = docker_on_node(cfg, 'ps', '-q', '--filter', 'label=io.kubernetes.pod.namespace=%s' % namespace,
                                  '--filter', 'label=io.kubernetes.pod.name=%s' % unready,
                                  '--filter', 'label=io.kubernetes.container.name=hello').split()
    docker_on_node(cfg, 'exec', container, '/bin/busybox', 'rm', '/www/index.html')
    wait_for('%s unready in the EndpointSlices' % unready, lambda: slice_endpoints(api, namespace, 'hello') == dict(
        (name, name != unready) for name in names), timeout=60)

    service = dict(name='hello', namespace=namespace, port='web', path='/cgi-bin/host')
    result = run_module('probe', dict(duration=4, interval=0.2, probes=[
        dict(name='hello', type='http', service=service, latency_ms=5000)]))
    assert not result.get('failed'), result
    samples = result['samples']
    assert len(samples) >= 10 and result['ok'] is True, samples
    picked = [s['detail'].split(' at ')[0][len('pod '):] for s in samples]
    for sample in samples:
        assert sample['detail'].endswith(': HTTP 200') and ' at 10.' in sample['detail'], sample
    assert unready not in picked
    assert set(picked) == set(names[1:]), picked  # at random among the ready ones: both, in 10+ draws
    # The port by number works the same, and a port the Service does not have is a clear failure.
    result = run_module('probe', dict(fail_fast=False, probes=[
        dict(name='by-number', type='http', service=dict(service, port=80)),
        dict(name='no-such-port', type='http', service=dict(service, port=8080))]))
    by_number, no_port = result['samples']
    assert by_number['ok'] is True and by_number['detail'].endswith(': HTTP 200'), by_number
    assert no_port['ok'] is False and no_port['detail'] == 'Service %s/hello has no port 8080 (80 (web))' % namespace

    # No pod at all: no ready endpoint, and the sample says of which Service.
    api['apps'].patch_namespaced_deployment_scale('hello', namespace, {'spec': {'replicas': 0}})
    wait_for('no hello endpoint', lambda: not slice_endpoints(api, namespace, 'hello'), timeout=120)
    result = run_module('probe', dict(probes=[dict(name='hello', type='http', service=service)]))
    (sample,) = result['samples']
    assert result['ok'] is False and sample['value'] is None, result
    assert sample['detail'] == 'no ready endpoint of Service %s/hello' % namespace
    assert not [p for p in pods(api, namespace, 'app=hello') if pod_ready(p)]
