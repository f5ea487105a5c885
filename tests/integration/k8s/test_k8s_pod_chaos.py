"""k8s_pod_chaos against a real Kubernetes API server (see conftest.py for which one).

Every test checks what the module says against what the API server says, with the official client.
"""
import json

import pytest

from k8s_helpers import (
    PROTECTED,
    create_daemonset,
    create_deployment,
    create_pdb,
    create_pod,
    documented_rules,
    live_uids,
    pod_ready,
    pods,
    ready_pods,
    service_account_token,
    target_uids,
    targets,
    uids,
    wait_for,
    wait_ready,
)

pytestmark = [pytest.mark.integration, pytest.mark.k8s]


def assert_recovered(api, result, namespace, selector, desired, kind='Deployment', name=None):
    """The module's recovery entry agrees with the API: ``desired`` ready pods, none of them harmed."""
    harmed = target_uids(result, 'deleted') | target_uids(result, 'evicted')
    assert harmed, result
    recovery = result['chaos']['recovery']
    assert len(recovery) == 1, recovery
    entry = recovery[0]
    assert entry['owner']['kind'] == kind and entry['owner']['namespace'] == namespace
    if name:
        assert entry['owner']['name'] == name
    assert entry['recovered'] is True, entry
    assert entry['desired'] == desired and entry['ready'] >= desired, entry
    assert isinstance(entry['seconds'], float) and entry['seconds'] > 0, entry
    # The API agrees: as many ready pods as desired, and the harmed ones are not among them.
    now_ready = set(p.metadata.uid for p in ready_pods(api, namespace, selector))
    assert len(now_ready) >= desired
    assert not now_ready & harmed


def test_delete_by_label_and_count_recreates_pods_and_reports_recovery(api, namespace, run_module):
    create_deployment(api, namespace, 'web', 3, {'app': 'web'})
    create_deployment(api, namespace, 'other', 2, {'app': 'other'})
    before = wait_ready(api, namespace, 'app=web', 3)
    others = wait_ready(api, namespace, 'app=other', 2)

    dry = run_module('k8s_pod_chaos', dict(namespace=namespace, label_selector='app=web', count=2, run_id='exp-9'),
                     check=True)
    assert not dry.get('failed') and dry['chaos']['events']['recorded'] == 0, dry
    result = run_module('k8s_pod_chaos', dict(namespace=namespace, label_selector='app=web', count=2,
                                              wait_for_recovery=True, run_id='exp-9'))
    assert not result.get('failed'), result
    assert result['changed'] is True
    deleted = target_uids(result, 'deleted')
    assert len(deleted) == 2 and deleted <= set(before.values())
    # One Event per deleted pod, on the pod, as the API server stores it; none from the check-mode run.
    fault_id = result['chaos']['events']['fault_id']
    events = [e for e in api['core'].list_namespaced_event(namespace).items if e.source.component == 'chaos.engineering']
    assert sorted(e.involved_object.uid for e in events) == sorted(deleted), events
    assert all(e.reason == 'ChaosPodDeleted' and e.type == 'Normal' and e.involved_object.kind == 'Pod' and
               e.message == 'chaos.engineering deleted this pod (fault %s, run exp-9)' % fault_id for e in events)
    assert result['chaos']['events']['recorded'] == 2
    assert all(t['action'] == 'delete' and t['owner'] == {'kind': 'Deployment', 'namespace': namespace, 'name': 'web'}
               for t in result['chaos']['targets'])
    assert result['chaos']['selection']['matched'] == 3 and result['chaos']['selection']['selected'] == 2
    assert not deleted & live_uids(api, namespace, 'app=web')
    assert_recovered(api, result, namespace, 'app=web', 3, name='web')
    assert uids(api, namespace, 'app=other') == others


def test_name_pattern_deletes_only_matching_pods(api, namespace, run_module):
    create_deployment(api, namespace, 'alpha', 2, {'app': 'alpha'})
    create_deployment(api, namespace, 'beta', 2, {'app': 'beta'})
    alpha = wait_ready(api, namespace, 'app=alpha', 2)
    beta = wait_ready(api, namespace, 'app=beta', 2)

    result = run_module('k8s_pod_chaos', dict(namespace=namespace, name_pattern='^alpha-', min_healthy=0,
                                              wait_for_recovery=True))
    assert not result.get('failed'), result
    assert targets(result, 'deleted') == sorted('%s/%s' % (namespace, n) for n in alpha)
    assert_recovered(api, result, namespace, 'app=alpha', 2, name='alpha')
    assert uids(api, namespace, 'app=beta') == beta


def test_percent_rounds_up_and_check_mode_predicts_the_same_pods(api, namespace, run_module):
    create_deployment(api, namespace, 'web', 4, {'app': 'web'})
    before = wait_ready(api, namespace, 'app=web', 4)
    args = dict(namespace=namespace, label_selector='app=web', percent=30, seed=11, wait_for_recovery=True)

    preview = run_module('k8s_pod_chaos', args, check=True)
    assert not preview.get('failed'), preview
    assert preview['chaos']['dry_run'] is True and preview['changed'] is True
    assert preview['chaos']['recovery'] == []
    assert uids(api, namespace, 'app=web') == before          # the dry run changed nothing

    result = run_module('k8s_pod_chaos', args)
    assert not result.get('failed'), result
    # 30 % of 4 is 1.2: rounded up to 2, the same two that check mode predicted.
    assert len(targets(result, 'deleted')) == 2
    assert targets(result, 'deleted') == targets(preview, 'deleted')
    assert result['chaos']['selection']['seed'] == 11
    assert_recovered(api, result, namespace, 'app=web', 4, name='web')


def test_check_mode_deletes_and_evicts_nothing(api, namespace, run_module):
    create_deployment(api, namespace, 'web', 3, {'app': 'web'})
    create_pod(api, namespace, 'lone', {'app': 'web'})
    before = wait_ready(api, namespace, 'app=web', 4)
    for action in ('delete', 'evict'):
        result = run_module('k8s_pod_chaos', dict(namespace=namespace, label_selector='app=web', action=action,
                                                  min_healthy=0, grace_period=0), check=True)
        assert not result.get('failed'), result
        assert result['chaos']['dry_run'] is True
        assert len(targets(result, 'deleted' if action == 'delete' else 'evicted')) == 4
        assert uids(api, namespace, 'app=web') == before
        assert all(not p.metadata.deletion_timestamp for p in pods(api, namespace, 'app=web'))


def test_eviction_blocked_by_a_pdb_is_reported_per_pod(api, namespace, run_module):
    # Pods without a controller: nothing replaces the evicted one, so the budget stays spent for the rest of the
    # run. (A replica recreated and ready within milliseconds, as on KWOK, would legitimately free it again.)
    for index in range(3):
        create_pod(api, namespace, 'web-%d' % index, {'app': 'web'})
    before = wait_ready(api, namespace, 'app=web', 3)
    create_pdb(api, namespace, 'web', {'app': 'web'}, min_available=2, expect_allowed=1, healthy=3)
    args = dict(namespace=namespace, label_selector='app=web', action='evict', min_healthy=0)

    # Check mode: the dry runs pass one by one, and the budget is counted across them.
    preview = run_module('k8s_pod_chaos', args, check=True)
    assert not preview.get('failed'), preview
    assert len(targets(preview, 'evicted')) == 1 and len(targets(preview, 'blocked')) == 2
    assert uids(api, namespace, 'app=web') == before

    result = run_module('k8s_pod_chaos', args)
    assert not result.get('failed'), result
    assert result['changed'] is True
    evicted, blocked = target_uids(result, 'evicted'), target_uids(result, 'blocked')
    assert len(evicted) == 1 and len(blocked) == 2
    for target in result['chaos']['targets']:
        if target['result'] == 'blocked':
            assert 'disruption budget' in target['reason'], target
    live = live_uids(api, namespace, 'app=web')
    assert not evicted & live
    assert blocked <= live                      # the refused pods are still there, not terminating


def test_fail_on_blocked_fails_the_task_and_keeps_the_result(api, namespace, run_module):
    create_deployment(api, namespace, 'web', 2, {'app': 'web'})
    before = wait_ready(api, namespace, 'app=web', 2)
    create_pdb(api, namespace, 'web', {'app': 'web'}, min_available=2, expect_allowed=0, healthy=2)
    result = run_module('k8s_pod_chaos', dict(namespace=namespace, label_selector='app=web', action='evict',
                                              min_healthy=0, fail_on_blocked=True))
    assert result['failed'] is True
    assert '2 evictions blocked by a PodDisruptionBudget (fail_on_blocked=true)' in result['msg']
    assert len(targets(result, 'blocked')) == 2
    assert uids(api, namespace, 'app=web') == before


def test_min_healthy_keeps_ready_replicas(api, namespace, run_module):
    create_deployment(api, namespace, 'web', 2, {'app': 'web'})
    before = wait_ready(api, namespace, 'app=web', 2)

    result = run_module('k8s_pod_chaos', dict(namespace=namespace, label_selector='app=web', min_healthy=2))
    assert not result.get('failed'), result
    assert result['changed'] is False
    assert len(targets(result, 'skipped')) == 2
    assert all('below min_healthy=2' in t['reason'] for t in result['chaos']['targets'])
    assert uids(api, namespace, 'app=web') == before

    result = run_module('k8s_pod_chaos', dict(namespace=namespace, label_selector='app=web', wait_for_recovery=True))
    assert not result.get('failed'), result
    assert len(targets(result, 'deleted')) == 1 and len(targets(result, 'skipped')) == 1
    skipped = target_uids(result, 'skipped')
    assert skipped <= live_uids(api, namespace, 'app=web')
    assert 'has 1 ready pod left' in [t for t in result['chaos']['targets'] if t['result'] == 'skipped'][0]['reason']
    assert_recovered(api, result, namespace, 'app=web', 2, name='web')


def test_excluded_namespaces_and_protected_pods_are_untouched(api, make_namespace, run_id, run_module):
    target_ns, excluded_ns = make_namespace(), make_namespace()
    label = {'app': 'web-%s' % run_id}
    selector = 'app=web-%s' % run_id
    create_deployment(api, target_ns, 'web', 2, label)
    create_pod(api, target_ns, 'guard-label', dict(label, **{PROTECTED: 'true'}))
    create_pod(api, target_ns, 'guard-annotation', label, annotations={PROTECTED: 'true'})
    create_deployment(api, excluded_ns, 'web', 2, label)
    system_pod = 'chaos-it-%s' % run_id
    create_pod(api, 'kube-system', system_pod, label)
    try:
        before = wait_ready(api, target_ns, selector, 4)
        excluded = wait_ready(api, excluded_ns, selector, 2)
        system = wait_ready(api, 'kube-system', selector, 1)

        # All namespaces: the defaults exclude kube-system; we add our second namespace.
        result = run_module('k8s_pod_chaos', dict(
            label_selector=selector, min_healthy=0,
            exclude_namespaces=['kube-system', 'kube-public', 'kube-node-lease', 'chaos-engineering', excluded_ns]))
        assert not result.get('failed'), result
        deployment_pods = dict((n, u) for n, u in before.items() if not n.startswith('guard-'))
        assert target_uids(result, 'deleted') == set(deployment_pods.values())
        assert result['chaos']['selection']['protected'] == sorted(
            '%s/%s' % (target_ns, n) for n in ('guard-annotation', 'guard-label'))
        now = uids(api, target_ns, selector)
        assert now['guard-label'] == before['guard-label']
        assert now['guard-annotation'] == before['guard-annotation']
        assert uids(api, excluded_ns, selector) == excluded
        assert uids(api, 'kube-system', selector) == system

        # Naming a protected pod explicitly is refused, and asking for an excluded namespace too.
        result = run_module('k8s_pod_chaos', dict(namespace=target_ns, names=['guard-label']))
        assert result['failed'] is True
        assert 'Protected or chaos helpers, never touched: %s/guard-label' % target_ns in result['msg']
        result = run_module('k8s_pod_chaos', dict(namespace='kube-system', label_selector=selector))
        assert result['failed'] is True
        assert 'kube-system is in exclude_namespaces' in result['msg']
        assert uids(api, 'kube-system', selector) == system
        assert uids(api, target_ns, selector)['guard-label'] == before['guard-label']
    finally:
        api['core'].delete_namespaced_pod(system_pod, 'kube-system', grace_period_seconds=0)


def test_owner_kinds_picks_daemonset_pods_and_waits_for_the_daemonset(api, namespace, run_module):
    create_daemonset(api, namespace, 'agent', {'app': 'node-agent'})
    create_deployment(api, namespace, 'web', 2, {'app': 'web'})
    nodes = wait_for('the DaemonSet to be scheduled', lambda: api['apps'].read_namespaced_daemon_set(
        'agent', namespace).status.desired_number_scheduled)
    wait_ready(api, namespace, 'app=node-agent', nodes)
    web = wait_ready(api, namespace, 'app=web', 2)

    result = run_module('k8s_pod_chaos', dict(namespace=namespace, allow_all=True, owner_kinds=['DaemonSet'],
                                              count=1, min_healthy=0, wait_for_recovery=True))
    assert not result.get('failed'), result
    assert len(targets(result, 'deleted')) == 1
    assert_recovered(api, result, namespace, 'app=node-agent', nodes, kind='DaemonSet', name='agent')
    assert uids(api, namespace, 'app=web') == web


def test_restricted_service_account_works_in_its_namespace_only(api, make_namespace, run_module):
    own, foreign = make_namespace(), make_namespace()
    create_deployment(api, own, 'web', 3, {'app': 'web'})
    create_deployment(api, foreign, 'web', 2, {'app': 'web'})
    before = wait_ready(api, own, 'app=web', 3)
    foreign_before = wait_ready(api, foreign, 'app=web', 2)
    rules = documented_rules('# k8s_pod_chaos: required')
    assert rules == [('', ['pods'], ['get', 'list', 'delete']), ('', ['pods/eviction'], ['create'])], rules
    token = service_account_token(api, own, 'chaos', rules)
    auth = dict(host=api['host'], api_key=token, validate_certs=api['validate_certs'])
    if api['ca_cert']:
        auth['ca_cert'] = api['ca_cert']

    # In its namespace: it may list and delete pods, but not read ReplicaSets or Deployments. The Deployment is
    # inferred from the pods' ReplicaSet name and pod-template-hash, and recovery falls back to the ready pods it had
    # before.
    result = run_module('k8s_pod_chaos', dict(namespace=own, label_selector='app=web', count=1,
                                              wait_for_recovery=True), auth=auth)
    assert not result.get('failed'), result
    deleted = target_uids(result, 'deleted')
    assert len(deleted) == 1 and deleted <= set(before.values())
    assert not deleted & live_uids(api, own, 'app=web')
    assert any('Could not list ReplicaSets in namespace %s' % own in w for w in result.get('warnings', []))
    # No create on events either: one warning, and the deletion stands.
    assert result['chaos']['events'] == dict(result['chaos']['events'], recorded=0, not_recorded_in=[own])
    assert any('creating an Event in namespace %s' % own in w for w in result.get('warnings', []))
    assert_recovered(api, result, own, 'app=web', 3, kind='Deployment', name='web')
    (target,) = [t for t in result['chaos']['targets'] if t['result'] == 'deleted']
    assert (target['owner']['kind'], target['owner']['name']) == ('Deployment', 'web'), target

    # Eviction is allowed too.
    result = run_module('k8s_pod_chaos', dict(namespace=own, label_selector='app=web', count=1, action='evict'),
                        auth=auth)
    assert not result.get('failed'), result
    assert len(targets(result, 'evicted')) == 1

    # Anywhere else: a clear permission error, and nothing touched.
    result = run_module('k8s_pod_chaos', dict(namespace=foreign, label_selector='app=web', count=1), auth=auth)
    assert result['failed'] is True
    assert result['msg'].startswith('Permission denied listing pods in namespace %s (403 Forbidden)' % foreign)
    assert 'system:serviceaccount:%s:chaos' % own in result['msg']
    result = run_module('k8s_pod_chaos', dict(label_selector='app=web', count=1), auth=auth)
    assert result['failed'] is True
    assert 'Permission denied listing pods in all namespaces (403 Forbidden)' in result['msg']
    assert 'at the cluster scope. Give namespace or namespaces' in result['msg'], result['msg']
    assert uids(api, foreign, 'app=web') == foreign_before


def test_check_mode_is_a_server_side_dry_run_that_checks_permissions(api, namespace, run_module):
    create_deployment(api, namespace, 'web', 2, {'app': 'web'})
    before = wait_ready(api, namespace, 'app=web', 2)
    token = service_account_token(api, namespace, 'viewer', [('', ['pods'], ['get', 'list'])])
    auth = dict(host=api['host'], api_key=token, validate_certs=api['validate_certs'])
    if api['ca_cert']:
        auth['ca_cert'] = api['ca_cert']
    result = run_module('k8s_pod_chaos', dict(namespace=namespace, label_selector='app=web', count=1),
                        check=True, auth=auth)
    assert result['failed'] is True
    assert 'Permission denied deleting pod (403 Forbidden)' in result['msg']
    assert result['chaos']['dry_run'] is True
    assert uids(api, namespace, 'app=web') == before


@pytest.mark.parametrize('args, message', [
    (dict(namespace='chaos-it-no-such-namespace', allow_all=True),
     "Namespace 'chaos-it-no-such-namespace' does not exist"),
    (dict(label_selector='app in (web'), "The Kubernetes API rejected the pod selector label_selector='app in (web' "
                                         "(HTTP 400)"),
    (dict(field_selector='spec.bogus=1'), "The Kubernetes API rejected the pod selector field_selector='spec.bogus=1' "
                                          "(HTTP 400)"),
    (dict(label_selector='app=web', percent=150), 'percent must be greater than 0 and at most 100, got 150.0'),
])
def test_bad_input_fails_with_a_clear_message(api, namespace, run_module, args, message):
    create_deployment(api, namespace, 'web', 2, {'app': 'web'})
    before = wait_ready(api, namespace, 'app=web', 2)
    args = dict(args)
    args.setdefault('namespace', namespace)
    result = run_module('k8s_pod_chaos', args)
    assert result['failed'] is True
    assert message in result['msg'], result['msg']
    # A clear fail_json, never a crash: no traceback anywhere (ansible-core 2.19 puts a placeholder in
    # 'exception' when the module gave none).
    assert 'module_stderr' not in result and 'Traceback' not in json.dumps(result)
    assert uids(api, namespace, 'app=web') == before


def test_ready_pods_helper_agrees_with_the_api(api, namespace):
    """Guard against a vacuous pass: the readiness the tests rely on is really reported by this cluster."""
    create_pod(api, namespace, 'probe', {'app': 'probe'})
    ready = wait_for('pod probe to be ready', lambda: ready_pods(api, namespace, 'app=probe'))
    assert pod_ready(ready[0]) and ready[0].status.phase == 'Running'
