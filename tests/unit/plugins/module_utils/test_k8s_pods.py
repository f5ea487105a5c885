"""_k8s pod logic with a fake API: candidates, owners, selection, min_healthy, PDBs and recovery."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from fake_clock import Clock
from k8s_fakes import FakeCluster, deployment_pods, forbidden, pod, ref, replicaset

from ansible_collections.chaos.engineering.plugins.module_utils import _k8s_client, _k8s_pods, _k8s_selection
from ansible_collections.chaos.engineering.plugins.module_utils._selection import PROTECTED_LABEL, SelectionError


def params(**overrides):
    base = dict((key, spec.get('default')) for key, spec in _k8s_selection.K8S_POD_SELECTION_ARGUMENT_SPEC.items())
    base['exclude_namespaces'] = list(_k8s_selection.DEFAULT_EXCLUDED_NAMESPACES)
    base.update(overrides)
    return base


def names(selection):
    return sorted(t['name'] for t in selection['selected'])


# --- candidates


def test_only_running_pods_not_being_deleted_are_candidates():
    assert _k8s_pods.pod_is_candidate(pod('a', 'p'))
    assert not _k8s_pods.pod_is_candidate(pod('a', 'p', phase='Pending'))
    assert not _k8s_pods.pod_is_candidate(pod('a', 'p', phase='Succeeded'))
    assert not _k8s_pods.pod_is_candidate(pod('a', 'p', terminating=True))


def test_ready_means_ready_condition_and_not_terminating():
    assert _k8s_pods.pod_is_ready(pod('a', 'p'))
    assert not _k8s_pods.pod_is_ready(pod('a', 'p', ready=False))
    assert not _k8s_pods.pod_is_ready(pod('a', 'p', terminating=True))
    assert not _k8s_pods.pod_is_ready({'metadata': {}, 'status': {'phase': 'Running'}})


def test_candidate_is_named_namespace_slash_name_and_matched_by_its_own_name():
    cand = _k8s_selection.pod_candidate(pod('shop', 'web-1', labels={'app': 'web'}, annotations={'x': 'y'}, node='n2'))
    assert cand['id'] == 'uid-shop-web-1'
    assert cand['name'] == 'shop/web-1'
    assert cand['match_name'] == 'web-1'
    assert (cand['namespace'], cand['pod'], cand['node']) == ('shop', 'web-1', 'n2')
    assert cand['labels'] == {'app': 'web'} and cand['annotations'] == {'x': 'y'}
    assert cand['ready'] is True


# --- owners


def test_deployment_is_resolved_through_its_replicaset_listing_each_namespace_once():
    rs, pods = deployment_pods('shop', 'web', 3)
    cluster = FakeCluster(pods, [rs])
    resolver = _k8s_pods.OwnerResolver(cluster)
    workloads = [resolver.resolve(p) for p in pods]
    assert all(w['kind'] == 'Deployment' and w['name'] == 'web' and w['namespace'] == 'shop' for w in workloads)
    assert workloads[0]['chain'] == ['ReplicaSet', 'Deployment']
    assert cluster.calls == [('list_replicasets', 'shop')]


def test_other_controllers_are_the_workload_and_bare_pods_have_none():
    resolver = _k8s_pods.OwnerResolver(FakeCluster())
    sts = resolver.resolve(pod('db', 'pg-0', owner=ref('StatefulSet', 'pg')))
    assert (sts['kind'], sts['name'], sts['chain']) == ('StatefulSet', 'pg', ['StatefulSet'])
    assert resolver.resolve(pod('db', 'lone')) is None
    # A non-controller owner reference is not an owner.
    assert resolver.resolve(pod('db', 'x', owner=ref('ConfigMap', 'c', controller=False))) is None


def test_a_replicaset_without_a_deployment_is_its_own_workload():
    rs = replicaset('shop', 'bare-rs')
    resolver = _k8s_pods.OwnerResolver(FakeCluster(replicasets=[rs]))
    workload = resolver.resolve(pod('shop', 'bare-rs-1', owner=ref('ReplicaSet', 'bare-rs')))
    assert (workload['kind'], workload['name'], workload['chain']) == ('ReplicaSet', 'bare-rs', ['ReplicaSet'])


def test_forbidden_replicasets_infer_the_deployment_from_the_pod_and_say_so():
    rs, pods = deployment_pods('shop', 'web', 2)
    old_rs, old_pods = deployment_pods('shop', 'web', 1, rs_hash='f00d')  # mid-rollout: a second ReplicaSet
    resolver = _k8s_pods.OwnerResolver(FakeCluster(pods + old_pods, [rs, old_rs], forbid_replicasets=True))
    workloads = [resolver.resolve(p) for p in pods + old_pods]
    assert all((w['kind'], w['name'], w['inferred']) == ('Deployment', 'web', True) for w in workloads), workloads
    assert workloads[0]['chain'] == ['ReplicaSet', 'Deployment']
    assert resolver.unresolved_namespaces == ['shop']
    # Both ReplicaSets' ready pods count for the one Deployment.
    assert _k8s_pods.ready_counts(pods + old_pods, resolver.resolve) == {'Deployment/shop/web': 3}


def test_forbidden_replicasets_whose_name_does_not_fit_are_the_workload():
    rs, pods = deployment_pods('shop', 'web', 1)
    pods[0]['metadata']['labels'].pop('pod-template-hash')
    resolver = _k8s_pods.OwnerResolver(FakeCluster(pods, [rs], forbid_replicasets=True))
    workload = resolver.resolve(pods[0])
    assert (workload['kind'], workload['name']) == ('ReplicaSet', 'web-abc')


def test_owner_kinds_match_any_kind_of_the_chain_case_insensitively():
    deploy = dict(kind='Deployment', namespace='a', name='w', uid='u', chain=['ReplicaSet', 'Deployment'])
    assert _k8s_selection.owner_kinds_match(deploy, ['deployment'])
    assert _k8s_selection.owner_kinds_match(deploy, ['ReplicaSet'])
    assert not _k8s_selection.owner_kinds_match(deploy, ['StatefulSet'])
    assert not _k8s_selection.owner_kinds_match(None, ['Deployment'])
    assert _k8s_selection.owner_kinds_match(None, None)


# --- selection


def shop_cluster():
    rs, web = deployment_pods('shop', 'web', 3)
    rs_api, api = deployment_pods('shop', 'api', 2)
    extra = [
        pod('shop', 'guard', labels={'app': 'web', PROTECTED_LABEL: 'true'}),
        pod('shop', 'shy', labels={'app': 'web'}, annotations={PROTECTED_LABEL: 'true'}),
        pod('shop', 'pending', labels={'app': 'web'}, phase='Pending'),
        pod('shop', 'dying', labels={'app': 'web'}, terminating=True),
        pod('db', 'pg-0', owner=ref('StatefulSet', 'pg'), labels={'app': 'pg'}),
        pod('kube-system', 'coredns-1', labels={'app': 'web'}),
        pod(_k8s_selection.AGENT_NAMESPACE, 'agent-1', labels={'app': 'web'}),
    ]
    return FakeCluster(web + api + extra, [rs, rs_api])


def test_label_selector_spares_protected_pods_by_label_or_annotation_and_non_running_ones():
    cluster = shop_cluster()
    selection, dummy, dummy = _k8s_selection.select_pods(cluster, params(namespace='shop', label_selector='app=web'))
    assert names(selection) == ['shop/web-abc-0', 'shop/web-abc-1', 'shop/web-abc-2']
    assert selection['protected'] == ['shop/guard', 'shop/shy']


def test_all_namespaces_skip_system_and_agent_namespaces_server_and_client_side():
    cluster = shop_cluster()
    selection, dummy, dummy = _k8s_selection.select_pods(cluster, params(label_selector='app=web'))
    assert not [t for t in selection['selected'] if t['namespace'] in ('kube-system', _k8s_selection.AGENT_NAMESPACE)]
    field = cluster.calls_named('list_pods')[0][3]
    assert 'metadata.namespace!=kube-system' in field and 'metadata.namespace!=chaos-engineering' in field
    assert 'status.phase=Running' in field


def test_names_match_pod_name_or_namespace_slash_name_and_pattern_ignores_the_namespace():
    cluster = shop_cluster()
    selection, dummy, dummy = _k8s_selection.select_pods(
        cluster, params(namespaces=['shop', 'db'], names=['web-abc-1', 'db/pg-0', 'nope']))
    assert names(selection) == ['db/pg-0', 'shop/web-abc-1']
    assert selection['missing'] == ['nope']
    selection, dummy, dummy = _k8s_selection.select_pods(cluster, params(namespaces=['shop', 'db'], name_pattern='^api-'))
    assert names(selection) == ['shop/api-abc-0', 'shop/api-abc-1']
    with pytest.raises(SelectionError, match='No running pod matched'):
        _k8s_selection.select_pods(cluster, params(namespace='shop', name_pattern='^shop/'))


def test_owner_kinds_that_match_nothing_say_which_pods_they_left_out():
    cluster = shop_cluster()
    with pytest.raises(SelectionError) as err:
        _k8s_selection.select_pods(cluster, params(namespace='db', allow_all=True, owner_kinds=['Job']))
    message = str(err.value)
    assert 'owned by no kind in owner_kinds (Job): db/pg-0 (StatefulSet pg)' in message, message


def test_owner_kinds_filter_before_count():
    cluster = shop_cluster()
    selection, dummy, dummy = _k8s_selection.select_pods(
        cluster, params(namespaces=['shop', 'db'], allow_all=True, owner_kinds=['StatefulSet']))
    assert names(selection) == ['db/pg-0']
    selection, dummy, dummy = _k8s_selection.select_pods(
        cluster, params(namespace='shop', allow_all=True, owner_kinds=['Deployment'], count=5, seed=1))
    assert len(selection['selected']) == 5
    assert all(t['workload']['kind'] == 'Deployment' for t in selection['selected'])


def test_targets_get_their_workload_even_without_owner_kinds():
    selection, dummy, dummy = _k8s_selection.select_pods(shop_cluster(), params(namespace='shop', label_selector='app=api'))
    assert [t['workload']['name'] for t in selection['selected']] == ['api', 'api']


def test_count_with_seed_is_reproducible():
    first = _k8s_selection.select_pods(shop_cluster(), params(namespace='shop', label_selector='app=web', count=2, seed=9))[0]
    again = _k8s_selection.select_pods(shop_cluster(), params(namespace='shop', label_selector='app=web', count=2, seed=9))[0]
    assert names(first) == names(again) and len(names(first)) == 2
    assert first['seed'] == 9


def test_a_namespace_alone_is_not_a_selector_but_a_label_selector_is():
    with pytest.raises(SelectionError, match='label_selector or field_selector'):
        _k8s_selection.validate_pod_selection(params(namespace='shop'))
    _k8s_selection.validate_pod_selection(params(namespace='shop', label_selector='app=web'))
    _k8s_selection.validate_pod_selection(params(field_selector='spec.nodeName=n1'))
    _k8s_selection.validate_pod_selection(params(namespace='shop', allow_all=True))


def test_percent_over_100_and_excluded_namespaces_are_refused_before_any_call():
    with pytest.raises(SelectionError, match='at most 100, got 150'):
        _k8s_selection.validate_pod_selection(params(namespace='shop', label_selector='a=b', percent=150.0))
    with pytest.raises(SelectionError, match='kube-system is in exclude_namespaces'):
        _k8s_selection.validate_pod_selection(params(namespaces=['shop', 'kube-system'], allow_all=True))
    _k8s_selection.validate_pod_selection(params(namespace='kube-system', allow_all=True, exclude_namespaces=[]))


def test_unknown_namespace_is_a_clear_error():
    with pytest.raises(_k8s_client.K8sError, match="Namespace 'nowhere' does not exist on the cluster at https://fake:6443"):
        _k8s_selection.select_pods(shop_cluster(), params(namespace='nowhere', allow_all=True))


def test_bad_selector_syntax_names_the_selector():
    with pytest.raises(_k8s_client.K8sError) as err:
        _k8s_selection.select_pods(shop_cluster(), params(namespace='shop', label_selector='app in (web'))
    assert "rejected the pod selector label_selector='app in (web' (HTTP 400): unable to parse" in str(err.value)


def test_forbidden_namespace_is_a_permission_error_even_when_namespaces_cannot_be_read():
    cluster = shop_cluster()
    cluster.forbidden_namespaces.add('db')
    with pytest.raises(_k8s_client.K8sError) as err:
        _k8s_selection.select_pods(cluster, params(namespace='db', allow_all=True))
    assert str(err.value).startswith('Permission denied listing pods in namespace db (403 Forbidden)')


def test_forbidden_cluster_wide_listing_suggests_a_namespace():
    class NoClusterList(FakeCluster):
        def list_pods(self, namespace=None, label_selector=None, field_selector=None):
            if namespace is None:
                raise forbidden('pods')
            return FakeCluster.list_pods(self, namespace, label_selector, field_selector)

    with pytest.raises(_k8s_client.K8sError, match='Give namespace or namespaces'):
        _k8s_selection.select_pods(NoClusterList(), params(label_selector='app=web'))


# --- min_healthy


def targets_of(cluster, **kw):
    return _k8s_selection.select_pods(cluster, params(**kw))


def counts_for(cluster, resolver):
    return _k8s_pods.ready_counts(cluster.list_pods(), resolver.resolve)


def test_min_healthy_keeps_the_last_ready_replica_and_says_why():
    cluster = shop_cluster()
    selection, dummy, resolver = targets_of(cluster, namespace='shop', label_selector='app=web')
    counts = counts_for(cluster, resolver)
    assert counts['Deployment/shop/web'] == 3
    plan = _k8s_pods.plan_min_healthy(selection['selected'], counts, 1)
    skipped = [(t['name'], reason) for t, reason in plan if reason]
    assert [t['name'] for t, reason in plan if not reason] == ['shop/web-abc-0', 'shop/web-abc-1']
    assert skipped == [('shop/web-abc-2', 'min_healthy: Deployment shop/web has 1 ready pod left; harming this one '
                                          'would leave 0, below min_healthy=1')]


def test_min_healthy_counts_per_workload_and_can_be_turned_off():
    cluster = shop_cluster()
    selection, dummy, resolver = targets_of(cluster, namespace='shop', allow_all=True)
    counts = counts_for(cluster, resolver)
    plan = _k8s_pods.plan_min_healthy(selection['selected'], counts, 2)
    acted = sorted(t['name'] for t, reason in plan if not reason)
    # web: 3 ready, min 2: the first in selection order may go. api: 2 ready, min 2: none may go.
    assert acted == ['shop/web-abc-0']
    assert len([t for t, reason in _k8s_pods.plan_min_healthy(selection['selected'], counts, 0) if reason]) == 0


def test_unready_pods_cost_nothing_and_bare_pods_are_not_guarded():
    rs, pods = deployment_pods('a', 'web', 2)
    pods[1]['status']['conditions'][0]['status'] = 'False'
    lone = pod('a', 'lone')
    cluster = FakeCluster(pods + [lone], [rs])
    selection, dummy, resolver = targets_of(cluster, namespace='a', allow_all=True)
    counts = counts_for(cluster, resolver)
    assert counts == {'Deployment/a/web': 1}
    plan = dict((t['name'], reason) for t, reason in _k8s_pods.plan_min_healthy(selection['selected'], counts, 1))
    assert plan['a/web-abc-1'] is None        # not ready: harming it costs no ready replica
    assert plan['a/lone'] is None             # no workload to protect
    assert plan['a/web-abc-0'].startswith('min_healthy: Deployment a/web has 1 ready pod left')


def test_ready_counts_ignore_harmed_and_terminating_pods():
    rs, pods = deployment_pods('a', 'web', 3)
    pods[2]['metadata']['deletionTimestamp'] = '2026-01-01T00:00:00Z'
    resolver = _k8s_pods.OwnerResolver(FakeCluster(pods, [rs]))
    assert _k8s_pods.ready_counts(pods, resolver.resolve, ignore_uids=[pods[0]['metadata']['uid']]) == {
        'Deployment/a/web': 1}


# --- PDBs


@pytest.mark.parametrize('selector, labels, expected', [
    ({}, {'a': '1'}, True),
    (None, {'a': '1'}, False),
    ({'matchLabels': {'app': 'web'}}, {'app': 'web', 'x': 'y'}, True),
    ({'matchLabels': {'app': 'web'}}, {'app': 'api'}, False),
    ({'matchExpressions': [{'key': 'tier', 'operator': 'In', 'values': ['a', 'b']}]}, {'tier': 'b'}, True),
    ({'matchExpressions': [{'key': 'tier', 'operator': 'NotIn', 'values': ['a']}]}, {'tier': 'a'}, False),
    ({'matchExpressions': [{'key': 'tier', 'operator': 'NotIn', 'values': ['a']}]}, {}, True),
    ({'matchExpressions': [{'key': 'tier', 'operator': 'Exists'}]}, {}, False),
    ({'matchExpressions': [{'key': 'tier', 'operator': 'DoesNotExist'}]}, {}, True),
])
def test_label_selector_matching(selector, labels, expected):
    assert _k8s_pods.label_selector_matches(selector, labels) is expected


def test_pdb_block_is_recognised_by_cause_or_message_only_on_429():
    assert _k8s_pods.is_pdb_block(_k8s_client.K8sApiError(429, 'Too Many Requests', 'x', {'causes': [
        {'reason': 'DisruptionBudget'}]}))
    assert _k8s_pods.is_pdb_block(_k8s_client.K8sApiError(
        429, 'Too Many Requests', "Cannot evict pod as it would violate the pod's disruption budget."))
    assert not _k8s_pods.is_pdb_block(_k8s_client.K8sApiError(429, 'Too Many Requests', 'rate limited'))
    assert not _k8s_pods.is_pdb_block(_k8s_client.K8sApiError(403, 'Forbidden', 'disruption budget'))


def test_pdb_predictor_counts_disruptions_allowed_across_a_run():
    rs, pods = deployment_pods('a', 'web', 3)
    pdb = {'metadata': {'name': 'web'}, 'spec': {'selector': {'matchLabels': {'app': 'web'}}},
           'status': {'disruptionsAllowed': 1}}
    predictor = _k8s_pods.PdbPredictor(FakeCluster(pods, [rs], pdbs={'a': [pdb]}))
    candidates = [_k8s_selection.pod_candidate(p) for p in pods]
    assert predictor.consume(candidates[0]) is None
    reason = predictor.consume(candidates[1])
    assert 'disruption budget a/web (disruptionsAllowed=1, 1 already evicted in this run)' in reason
    other = _k8s_selection.pod_candidate(pod('a', 'other', labels={'app': 'other'}))
    assert predictor.consume(other) is None


# --- recovery


def test_recovery_measures_seconds_until_desired_ready_pods_are_back():
    rs, pods = deployment_pods('a', 'web', 3)
    harmed = pods[0]
    cluster = FakeCluster(pods[1:], [rs])
    resolver = _k8s_pods.OwnerResolver(cluster)
    clock = Clock()
    workload = resolver.resolve(pods[1])
    polls = []

    def sleep(seconds):
        clock.sleep(seconds)
        polls.append(clock.now)
        if len(polls) == 4:   # the controller's replacement turns ready
            cluster.pods.append(pod('a', 'web-abc-new', owner=ref('ReplicaSet', 'web-abc'), labels={'app': 'web'}))

    entries = [dict(workload=workload, since=clock.now - 0.5, desired=3)]
    _k8s_pods.wait_for_recovery(cluster, entries, 10, resolver.resolve, ignore_uids=[harmed['metadata']['uid']],
                                poll=0.25, first_poll=0.25, clock=clock, sleep=sleep)
    assert entries[0]['recovered'] is True
    assert entries[0]['seconds'] == 1.5
    assert entries[0]['ready'] == 3


def test_the_harmed_pod_never_counts_as_recovered_and_a_timeout_keeps_partial_data():
    rs, pods = deployment_pods('a', 'web', 2)
    cluster = FakeCluster(pods, [rs])   # the harmed pod is still listed (for example, still shutting down)
    resolver = _k8s_pods.OwnerResolver(cluster)
    clock = Clock()
    entries = [dict(workload=resolver.resolve(pods[0]), since=clock.now, desired=2)]
    _k8s_pods.wait_for_recovery(cluster, entries, 2, resolver.resolve, ignore_uids=[pods[0]['metadata']['uid']],
                                poll=0.25, clock=clock, sleep=clock.sleep)
    assert entries[0]['recovered'] is False
    assert entries[0]['seconds'] is None
    assert entries[0]['ready'] == 1
    assert clock.now >= 1002.0


def test_desired_replicas_per_kind():
    assert _k8s_pods.desired_replicas('Deployment', {'spec': {'replicas': 4}}) == 4
    assert _k8s_pods.desired_replicas('StatefulSet', {'spec': {}}) == 1
    assert _k8s_pods.desired_replicas('DaemonSet', {'status': {'desiredNumberScheduled': 3}}) == 3
    assert _k8s_pods.desired_replicas('Job', {'spec': {'parallelism': 2}}) is None
    assert _k8s_pods.desired_replicas('Deployment', None) is None
