"""Helpers for the k8s integration tests: workloads, waits and reads with the official Python client.

The tests set up and check the cluster with the official client only, never with the code under test.
"""
import os
import textwrap
import time

import yaml

from kubernetes import client
from kubernetes.client.rest import ApiException

TEST_LABEL = 'chaos.engineering/test-run'
PROTECTED = 'chaos.engineering/protected'
# A real cluster (minikube, kind) needs an image it can run: the pause image is on every node.
# KWOK runs nothing, so any name works there.
IMAGE = os.environ.get('CHAOS_K8S_TEST_IMAGE', 'registry.k8s.io/pause:3.10')
WAIT = float(os.environ.get('CHAOS_K8S_TEST_WAIT', '180'))


def wait_for(what, predicate, timeout=WAIT, interval=0.25):
    """Poll predicate() until it returns something truthy, and return it. A liveness bound, not a timing test."""
    give_up = time.monotonic() + timeout
    last = None
    while time.monotonic() < give_up:
        try:
            value = predicate()
        except ApiException as exc:
            value, last = None, exc
        if value:
            return value
        time.sleep(interval)
    raise AssertionError('timed out after %ss waiting for %s (last API error: %s)' % (timeout, what, last))


def pod_ready(pod):
    if pod.metadata.deletion_timestamp or pod.status.phase != 'Running':
        return False
    return any(c.type == 'Ready' and c.status == 'True' for c in pod.status.conditions or [])


def pod_spec():
    return client.V1PodSpec(
        containers=[client.V1Container(name='main', image=IMAGE, image_pull_policy='IfNotPresent')],
        termination_grace_period_seconds=2)


def template(labels, annotations=None):
    return client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels, annotations=annotations),
                                    spec=pod_spec())


def create_deployment(api, namespace, name, replicas, labels):
    labels = dict(labels)
    api['apps'].create_namespaced_deployment(namespace, client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(replicas=replicas, selector=client.V1LabelSelector(match_labels=labels),
                                     template=template(labels))))


def create_daemonset(api, namespace, name, labels):
    labels = dict(labels)
    api['apps'].create_namespaced_daemon_set(namespace, client.V1DaemonSet(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DaemonSetSpec(selector=client.V1LabelSelector(match_labels=labels), template=template(labels))))


def create_pod(api, namespace, name, labels, annotations=None):
    api['core'].create_namespaced_pod(namespace, client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels, annotations=annotations), spec=pod_spec()))


def pods(api, namespace, selector=None):
    return api['core'].list_namespaced_pod(namespace, label_selector=selector).items


def ready_pods(api, namespace, selector=None):
    return [p for p in pods(api, namespace, selector) if pod_ready(p)]


def wait_ready(api, namespace, selector, count):
    """Exactly ``count`` ready pods (and no other pod) for the selector; returns {name: uid}."""
    def check():
        listed = pods(api, namespace, selector)
        ready = [p for p in listed if pod_ready(p)]
        if len(ready) == count and len(listed) == count:
            return dict((p.metadata.name, p.metadata.uid) for p in ready)
        return None
    return wait_for('%d ready pods for %s in %s' % (count, selector, namespace), check)


def uids(api, namespace, selector=None):
    return dict((p.metadata.name, p.metadata.uid) for p in pods(api, namespace, selector))


def live_uids(api, namespace, selector=None):
    """UIDs of pods that exist and are not being deleted."""
    return set(p.metadata.uid for p in pods(api, namespace, selector) if not p.metadata.deletion_timestamp)


def create_pdb(api, namespace, name, labels, min_available, expect_allowed, healthy):
    api['policy'].create_namespaced_pod_disruption_budget(namespace, client.V1PodDisruptionBudget(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodDisruptionBudgetSpec(min_available=min_available,
                                              selector=client.V1LabelSelector(match_labels=labels))))

    def observed():
        current = api['policy'].read_namespaced_pod_disruption_budget(name, namespace)
        status = current.status
        return (status is not None and status.observed_generation == current.metadata.generation
                and status.current_healthy == healthy and status.disruptions_allowed == expect_allowed)
    wait_for('PDB %s/%s observed with %d healthy and %d allowed' % (namespace, name, healthy, expect_allowed),
             observed)


def documented_block(first_line):
    """The YAML block in docs/docsite/rst/rbac.rst that starts with ``first_line``, loaded."""
    path = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'docs', 'docsite', 'rst', 'rbac.rst')
    with open(path) as handle:
        text = handle.read()
    start = text.index('    ' + first_line + '\n')
    end = text.find('\n\n', start)
    return yaml.safe_load(textwrap.dedent(text[start:end if end >= 0 else len(text)]))


def documented_rules(first_line):
    """The RBAC rules of the YAML block in docs/docsite/rst/rbac.rst that starts with ``first_line``, as
    (api group, resources, verbs): what the docs tell users to bind is what the tests bind."""
    return [(group, rule['resources'], rule['verbs']) for rule in documented_block(first_line)['rules']
            for group in rule['apiGroups']]


def bind_role(api, namespace, name, rules, subject):
    """A Role ``name`` with ``rules`` (api group, resources, verbs) in ``namespace``, bound to ``subject`` (an
    RbacV1Subject)."""
    api['rbac'].create_namespaced_role(namespace, client.V1Role(
        metadata=client.V1ObjectMeta(name=name),
        rules=[client.V1PolicyRule(api_groups=[group], resources=resources, verbs=verbs)
               for group, resources, verbs in rules]))
    api['rbac'].create_namespaced_role_binding(namespace, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name=name),
        role_ref=client.V1RoleRef(api_group='rbac.authorization.k8s.io', kind='Role', name=name),
        subjects=[subject]))


def service_account_token(api, namespace, name, rules):
    """A ServiceAccount bound to a Role with ``rules`` in ``namespace``; returns a TokenRequest token
    once the API server lets it list pods there (RBAC takes a moment to apply)."""
    api['core'].create_namespaced_service_account(namespace, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name=name)))
    bind_role(api, namespace, name, rules, client.RbacV1Subject(kind='ServiceAccount', name=name,
                                                                namespace=namespace))
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[],
                                                                                 expiration_seconds=3600))
    token = api['core'].create_namespaced_service_account_token(name, namespace, request).status.token
    configuration = client.Configuration(host=api['host'], api_key={'authorization': 'Bearer %s' % token})
    configuration.ssl_ca_cert = api['ca_cert']
    configuration.verify_ssl = api['validate_certs']
    as_sa = client.CoreV1Api(client.ApiClient(configuration))
    wait_for('the Role of %s/%s to take effect' % (namespace, name),
             lambda: as_sa.list_namespaced_pod(namespace) is not None)
    return token


def targets(result, outcome=None):
    return sorted(t['name'] for t in result['chaos']['targets'] if outcome is None or t['result'] == outcome)


def target_uids(result, outcome):
    return set(t['id'] for t in result['chaos']['targets'] if t['result'] == outcome)
