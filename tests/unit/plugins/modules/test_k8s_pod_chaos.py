"""k8s_pod_chaos end to end against the in-memory fake API (the real API is in tests/integration/k8s)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

import pytest


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'module_utils'))

from k8s_fakes import FakeCluster, deployment_pdb_blocked, deployment_pods, forbidden, pod  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.chaos.engineering.plugins.module_utils import _k8s_fault  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.chaos.engineering.plugins.modules import k8s_pod_chaos  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture
def run(monkeypatch, run_module):
    def runner(cluster, **args):
        monkeypatch.setattr(_k8s_fault, 'make_client', lambda auth, pool_size=10: cluster)
        return run_module(k8s_pod_chaos, **args)
    return runner


def web(count=3, namespace='shop'):
    rs, pods = deployment_pods(namespace, 'web', count)
    return FakeCluster(pods + [pod(namespace, 'lone', labels={'app': 'lone'})], [rs],
                       workloads={('Deployment', namespace, 'web'): {'spec': {'replicas': count}}})


def test_delete_by_label_keeps_the_last_ready_replica(run):
    cluster = web()
    result = run(cluster, namespace='shop', label_selector='app=web')
    assert result['changed'] is True and not result.get('failed')
    by_result = dict((t['name'], t['result']) for t in result['chaos']['targets'])
    assert by_result == {'shop/web-abc-0': 'deleted', 'shop/web-abc-1': 'deleted', 'shop/web-abc-2': 'skipped'}
    skipped = [t for t in result['chaos']['targets'] if t['result'] == 'skipped'][0]
    assert 'below min_healthy=1' in skipped['reason']
    assert skipped['owner'] == {'kind': 'Deployment', 'namespace': 'shop', 'name': 'web'}
    assert sorted(c[2] for c in cluster.calls_named('delete_pod')) == ['web-abc-0', 'web-abc-1']
    # Deleted with their UID as precondition, and not as a dry run.
    assert all(c[3] == 'uid-shop-%s' % c[2] and c[5] is False for c in cluster.calls_named('delete_pod'))


def test_check_mode_sends_server_side_dry_runs_and_changes_nothing(run):
    cluster = web()
    before = [p['metadata']['uid'] for p in cluster.pods]
    result = run(cluster, check_mode=True, namespace='shop', label_selector='app=web', count=1, seed=3)
    assert result['chaos']['dry_run'] is True and result['changed'] is True
    assert [c[5] for c in cluster.calls_named('delete_pod')] == [True]
    assert [p['metadata']['uid'] for p in cluster.pods] == before
    real = run(cluster, namespace='shop', label_selector='app=web', count=1, seed=3)
    assert [t['name'] for t in real['chaos']['targets']] == [t['name'] for t in result['chaos']['targets']]


def test_force_deletes_with_grace_period_zero(run):
    cluster = web()
    run(cluster, namespace='shop', names=['lone'], force=True)
    assert cluster.calls_named('delete_pod')[0][4] == 0


def test_blocked_eviction_is_reported_not_failed_unless_asked(run):
    cluster = deployment_pdb_blocked()
    result = run(cluster, namespace='shop', label_selector='app=web', action='evict', min_healthy=0)
    assert not result.get('failed')
    results = dict((t['name'], t['result']) for t in result['chaos']['targets'])
    assert results == {'shop/web-abc-0': 'evicted', 'shop/web-abc-1': 'blocked', 'shop/web-abc-2': 'blocked'}
    blocked = [t for t in result['chaos']['targets'] if t['result'] == 'blocked']
    assert all("disruption budget" in t['reason'] for t in blocked)

    cluster = deployment_pdb_blocked()
    result = run(cluster, namespace='shop', label_selector='app=web', action='evict', min_healthy=0,
                 fail_on_blocked=True)
    assert result['failed'] is True
    assert '2 evictions blocked by a PodDisruptionBudget (fail_on_blocked=true)' in result['msg']
    assert len(result['chaos']['targets']) == 3


def test_recovery_is_reported_per_workload(run, monkeypatch):
    cluster = web()

    def recovered(client, entries, timeout, resolve, ignore_uids=(), **kw):
        assert sorted(ignore_uids) == ['uid-shop-web-abc-0', 'uid-shop-web-abc-1']
        for entry in entries:
            entry.update(recovered=True, seconds=1.25, ready=entry['desired'])
        return entries

    monkeypatch.setattr(k8s_pod_chaos, 'wait_for_recovery', recovered)
    result = run(cluster, namespace='shop', label_selector='app=web', wait_for_recovery=True)
    assert result['chaos']['recovery'] == [{'what': 'Deployment shop/web',
                                            'owner': {'kind': 'Deployment', 'namespace': 'shop', 'name': 'web'},
                                            'recovered': True, 'seconds': 1.25, 'desired': 3, 'ready': 3}]


def test_recovery_timeout_fails_and_keeps_the_partial_data(run):
    cluster = web()   # nothing recreates the pods in the fake
    result = run(cluster, namespace='shop', label_selector='app=web', wait_for_recovery=True, recovery_timeout=1)
    assert result['failed'] is True
    assert result['msg'] == 'Recovery timed out after 1 s: Deployment shop/web has 1 of 3 desired ready pods.'
    assert result['chaos']['recovery'][0]['recovered'] is False
    assert result['chaos']['recovery'][0]['seconds'] is None
    assert result['changed'] is True


@pytest.mark.parametrize('args, message', [
    (dict(namespace='shop', label_selector='app=web', percent=150), 'percent must be greater than 0 and at most 100'),
    (dict(namespace='shop'), 'No selector given'),
    (dict(namespace='shop', allow_all=True, action='evict', force=True), 'force applies to action=delete only'),
    (dict(namespace='shop', allow_all=True, force=True, grace_period=5), 'grace_period must be unset or 0'),
    (dict(namespace='kube-system', allow_all=True), 'kube-system is in exclude_namespaces'),
    (dict(namespace='nowhere', allow_all=True), "Namespace 'nowhere' does not exist"),
    (dict(namespace='shop', label_selector='app=nothing'), 'No running pod matched the selection'),
    (dict(namespace='shop', allow_all=True, min_healthy=-1), 'min_healthy must be 0 or more'),
])
def test_bad_input_fails_with_a_clear_message(run, args, message):
    cluster = web()
    result = run(cluster, **args)
    assert result['failed'] is True
    assert message in result['msg']
    assert not cluster.calls_named('delete_pod')


def test_allow_no_targets_succeeds_unchanged(run):
    result = run(web(), namespace='shop', label_selector='app=nothing', allow_no_targets=True)
    assert result['changed'] is False and result['chaos']['targets'] == []


def test_a_forbidden_delete_fails_the_pod_and_the_task_with_the_servers_message(run):
    cluster = web()

    def refuse(*args, **kwargs):
        raise forbidden('pods "lone"')

    cluster.delete_pod = refuse
    result = run(cluster, namespace='shop', names=['lone'])
    assert result['failed'] is True
    assert result['msg'].startswith('1 of 1 pods failed: shop/lone: Permission denied deleting pod (403 Forbidden)')
    assert result['chaos']['targets'][0]['result'] == 'failed'


def test_an_event_on_each_deleted_pod_names_the_fault_and_the_run(run):
    cluster = web()
    result = run(cluster, namespace='shop', label_selector='app=web', run_id='exp-1')
    events = result['chaos']['events']
    assert events['recorded'] == 2 and events['run_id'] == 'exp-1' and events['not_recorded_in'] == []
    assert sorted(e['involvedObject']['name'] for e in cluster.events) == ['web-abc-0', 'web-abc-1']
    for event in cluster.events:
        assert event['reason'] == 'ChaosPodDeleted' and event['type'] == 'Normal'
        assert event['involvedObject']['kind'] == 'Pod' and event['involvedObject']['uid'].startswith('uid-shop-')
        assert event['message'] == 'chaos.engineering deleted this pod (fault %s, run exp-1)' % events['fault_id']


def test_check_mode_and_record_events_false_record_none(run):
    cluster = web()
    assert run(cluster, check_mode=True, namespace='shop', label_selector='app=web')['chaos']['events']['recorded'] == 0
    assert run(cluster, namespace='shop', label_selector='app=web', record_events=False)['chaos']['events'][
        'recorded'] == 0
    assert cluster.events == [] and not cluster.calls_named('create_event')


def test_no_permission_for_events_is_one_warning_and_the_fault_stands(run):
    cluster = web()
    cluster.forbid_events.add('shop')
    result = run(cluster, namespace='shop', label_selector='app=web')
    assert not result.get('failed') and result['changed'] is True
    assert len([t for t in result['chaos']['targets'] if t['result'] == 'deleted']) == 2
    assert result['chaos']['events']['not_recorded_in'] == ['shop'] and result['chaos']['events']['recorded'] == 0
    warnings = [str(w) for w in result.get('warnings', []) if 'an Event' in str(w)]
    assert len(warnings) == 1 and 'grant create on events' in warnings[0], result.get('warnings')
