from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.chaos.engineering.plugins.module_utils import (
    _k8s_selection,
    _kubelet,
    _ledger_store,
    _revert_client,
    _reverter,
)
from ansible_collections.chaos.engineering.plugins.module_utils._selection import (
    SelectionError,
    require_targets,
    select_targets,
)

UID = '76e0d0fb-2667-432b-bbda-29682e1c2e70'


def pod_labels(namespace='web', pod='hello-1', container='hello', uid=UID, kind='container'):
    return {_kubelet.POD_NAMESPACE: namespace, _kubelet.POD_NAME: pod, _kubelet.POD_UID: uid,
            _kubelet.CONTAINER_NAME: container, _kubelet.DOCKER_TYPE: kind}


def candidate(name, labels, cid=None):
    return dict(id=cid or name, name=name, labels=labels)


class Engine:
    """Just enough of docker.APIClient: containers (label filters) and inspect_container; records start calls."""

    def __init__(self, containers):
        self.by_id = dict((c['Id'], c) for c in containers)
        self.started = []

    def containers(self, filters=None, **kwargs):
        listed_all = kwargs.get('all', False)
        wanted = (filters or {}).get('label') or []
        wanted = [wanted] if isinstance(wanted, str) else wanted
        return [dict(Id=c['Id'], Created=c.get('Created', 0), Labels=c['Config']['Labels'])
                for c in self.by_id.values()
                if listed_all or c['State'].get('Running')
                if all(c['Config']['Labels'].get(k) == v for k, v in (w.split('=', 1) for w in wanted))]

    def inspect_container(self, cid):
        return self.by_id[cid]

    def start(self, cid):
        self.started.append(cid)


def engine_container(cid, labels, running=True, created=0, started_at='t1'):
    return dict(Id=cid, Name='/' + cid, Created=created, Config=dict(Labels=labels),
                State=dict(Running=running, Status='running' if running else 'exited', StartedAt=started_at))


def test_protected_namespaces_are_the_k8s_modules_excluded_namespaces():
    assert sorted(_kubelet.PROTECTED_NAMESPACES) == sorted(_k8s_selection.DEFAULT_EXCLUDED_NAMESPACES)


def test_pod_of_reads_the_kubelets_labels_and_ignores_other_containers():
    assert _kubelet.pod_of(pod_labels()) == dict(namespace='web', pod='hello-1', uid=UID, container='hello',
                                                 sandbox=False)
    assert _kubelet.pod_of(pod_labels(kind='podsandbox'))['sandbox'] is True
    assert _kubelet.pod_of({'app': 'web'}) is None
    assert _kubelet.pod_of(None) is None


def test_sandboxes_kube_system_the_agent_and_marked_pods_are_protected():
    sandboxes = {'u-marked': {'annotation.chaos.engineering/protected': 'true'}}
    reason = _kubelet.protection_reason
    assert 'sandbox' in reason(candidate('k8s_POD_hello', pod_labels(container='POD', kind='podsandbox')), {})
    assert 'sandbox' in reason(candidate('k8s_POD_x_y', {}), {})  # by its name alone
    assert 'namespace kube-system is protected' in reason(candidate('k8s_dns', pod_labels('kube-system')), {})
    assert 'chaos-engineering' in reason(candidate('k8s_pumba', pod_labels('chaos-engineering')), {})
    assert 'marked chaos.engineering/protected' in reason(candidate('k8s_m', pod_labels(uid='u-marked')), sandboxes)
    assert reason(candidate('k8s_hello', pod_labels()), sandboxes) is None
    assert reason(candidate('web-1', {'app': 'web'}), sandboxes) is None


def test_selection_skips_protected_candidates_and_says_why():
    engine = Engine([engine_container('sandbox', pod_labels(container='POD', kind='podsandbox'))])
    candidates = _kubelet.mark_protected(engine, [
        candidate('k8s_POD_hello', pod_labels(container='POD', kind='podsandbox')),
        candidate('k8s_coredns', pod_labels('kube-system', uid='u2')),
        candidate('k8s_hello', pod_labels())])
    selection = select_targets(candidates, dict(name_pattern='^k8s_'))
    assert [c['name'] for c in selection['selected']] == ['k8s_hello']
    assert selection['protected'] == ['k8s_POD_hello', 'k8s_coredns']
    nothing = select_targets(candidates, dict(name_pattern='^k8s_coredns'))
    reasons = dict((c['name'], c['protected_reason']) for c in candidates if c.get('protected_reason'))
    try:
        require_targets(nothing, False, reasons=reasons)
    except SelectionError as exc:
        assert 'k8s_coredns (a container of pod kube-system/hello-1: namespace kube-system is protected)' in str(exc)
    else:
        raise AssertionError('an empty selection passed')


def test_a_replacement_is_back_only_once_it_stayed_up():
    now = [100.0]
    engine = Engine([engine_container('old', pod_labels(), running=False, created=1)])
    entry = dict(id='old', pod=_kubelet.pod_of(pod_labels()))
    assert not _kubelet.replacement_back(engine, entry, clock=lambda: now[0])
    assert entry['state'] == 'no replacement yet'
    engine.by_id['new'] = engine_container('new', pod_labels(), created=2)
    now[0] = 101.0
    assert not _kubelet.replacement_back(engine, entry, clock=lambda: now[0])  # first seen running
    now[0] = 101.5
    assert not _kubelet.replacement_back(engine, entry, clock=lambda: now[0])
    # It died and the kubelet started it again (a crash loop): the wait starts over.
    engine.by_id['new']['State']['StartedAt'] = 't2'
    now[0] = 102.2
    assert not _kubelet.replacement_back(engine, entry, clock=lambda: now[0])
    now[0] = 103.3
    assert _kubelet.replacement_back(engine, entry, clock=lambda: now[0])
    assert entry['back_at'] == 102.2 and entry['replacement'] == dict(id='new', name='new')


def test_the_reverter_never_starts_a_kubelets_container(monkeypatch):
    engine = Engine([engine_container('old', pod_labels(), running=False, created=1),
                     engine_container('new', pod_labels(), created=2),
                     engine_container('plain', {'app': 'web'}, running=False)])
    monkeypatch.setattr(_revert_client, 'docker_client', lambda conn: engine)
    written = _ledger_store.new_entry('container_kill', 'start', dict(id='old', name='old'), {}, 0,
                                      pod=_kubelet.describe(_kubelet.pod_of(pod_labels())))
    assert _reverter.perform(written) == ('kubelet-owned', None)
    assert written['details']['replacement'] == dict(id='new', name='new', running=True)
    # An entry from before the pod was recorded: the reverter reads the labels itself.
    legacy = _ledger_store.new_entry('container_kill', 'start', dict(id='old', name='old'), {}, 0)
    assert _reverter.perform(legacy)[0] == 'kubelet-owned'
    plain = _ledger_store.new_entry('container_kill', 'start', dict(id='plain', name='plain'), {}, 0, pod=None)
    assert _reverter.perform(plain) == ('reverted', None)
    assert engine.started == ['plain']
