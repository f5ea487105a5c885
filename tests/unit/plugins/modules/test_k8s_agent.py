"""k8s_agent end to end against an in-memory fake of the API calls it makes (the real API is in
tests/integration/k8s/test_k8s_agent.py)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import json

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import _k8s_fault
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_client import K8sApiError
from ansible_collections.chaos.engineering.plugins.modules import k8s_agent

NODES = ('node-0', 'node-1', 'node-2')


def parse_iso(text):
    return datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))


def not_found(what):
    return K8sApiError(404, 'Not Found', '%s not found' % what)


class FakeApi:
    """Namespaces, DaemonSets and their pods. A DaemonSet write applies 'defaults' (as the API server would) and,
    unless ``stuck``, its controller makes one ready pod per node at once; deleting it deletes its pods."""

    host = 'https://fake:6443'

    def __init__(self, namespaces=('default',), stuck=False):
        self.namespaces = set(namespaces)
        self.daemonsets = {}     # (ns, name) -> object
        self.jobs = {}           # (ns, name) -> object
        self.pods = {}           # (ns, name) -> list of pods
        self.stuck = stuck
        self.calls = []
        self.uid = 0
        self.job_uid = 0
        self.events = []

    # --- what the module calls

    def create_event(self, namespace, body):
        self.calls.append(('EVENT', namespace, body['reason']))
        self.events.append(body)
        return body

    def request(self, method, path, query=None, body=None):
        dry_run = ('dryRun', 'All') in (query or [])
        self.calls.append((method, path, dry_run))
        parts = path.strip('/').split('/')
        if parts[:2] == ['api', 'v1'] and parts[2] == 'namespaces':
            return self._namespace(method, parts[3:], body, dry_run)
        if parts[:3] == ['apis', 'apps', 'v1'] and parts[5] == 'daemonsets':
            return self._daemonset(method, parts[4], parts[6] if len(parts) > 6 else None, body, dry_run)
        if parts[:3] == ['apis', 'batch', 'v1'] and parts[5] == 'jobs':
            return self._job(method, parts[4], parts[6] if len(parts) > 6 else None, body, dry_run)
        raise AssertionError('unexpected call %s %s' % (method, path))

    def list(self, path, label_selector=None, field_selector=None):
        self.calls.append(('LIST', path, label_selector))
        wanted = dict(term.split('=') if '=' in term else (term, None) for term in label_selector.split(','))
        namespace = path.split('/')[5] if '/namespaces/' in path else None
        found = []
        store = self.jobs if '/batch/' in path else self.daemonsets
        for (ns, dummy), obj in sorted(store.items()):
            labels = obj['metadata'].get('labels') or {}
            if (namespace is None or ns == namespace) and all(
                    key in labels and (value is None or labels[key] == value) for key, value in wanted.items()):
                found.append(copy.deepcopy(obj))
        return found

    def list_pods(self, namespace=None, label_selector=None, field_selector=None):
        name = label_selector.split('=', 1)[1]
        return copy.deepcopy(self.pods.get((namespace, name), []))

    # --- the fake server

    def _namespace(self, method, rest, body, dry_run):
        if method == 'GET':
            if rest[0] not in self.namespaces:
                raise not_found('namespaces "%s"' % rest[0])
            return {'metadata': {'name': rest[0]}}
        assert method == 'POST' and not rest
        if not dry_run:
            self.namespaces.add(body['metadata']['name'])
            self.namespace_labels = body['metadata']['labels']
        return body

    def _defaulted(self, body, existing=None):
        obj = copy.deepcopy(body)
        obj['spec'].setdefault('revisionHistoryLimit', 10)
        obj['spec']['template']['spec'].setdefault('dnsPolicy', 'ClusterFirst')
        meta = obj['metadata']
        if existing is None:
            self.uid += 1
            meta.update(uid='uid-%d' % self.uid, generation=1, resourceVersion='1')
        else:
            old = existing['metadata']
            changed = obj['spec'] != existing['spec']
            meta.update(uid=old['uid'], generation=old['generation'] + (1 if changed else 0),
                        resourceVersion=str(int(old['resourceVersion']) + 1))
            obj['status'] = existing.get('status', {})
        return obj

    def _run_controller(self, key):
        obj = self.daemonsets[key]
        if self.stuck:
            obj['status'] = {'observedGeneration': obj['metadata']['generation'], 'desiredNumberScheduled': 3,
                             'updatedNumberScheduled': 3, 'numberReady': 1, 'numberAvailable': 1}
            self.pods[key] = [self._pod(key, 0, True), self._pod(key, 1, False), self._pod(key, 2, False)]
            return
        obj['status'] = {'observedGeneration': obj['metadata']['generation'], 'desiredNumberScheduled': 3,
                         'currentNumberScheduled': 3, 'updatedNumberScheduled': 3, 'numberReady': 3,
                         'numberAvailable': 3}
        self.pods[key] = [self._pod(key, i, True) for i in range(3)]

    def _pod(self, key, index, ready):
        pod = {'metadata': {'namespace': key[0], 'name': '%s-%d' % (key[1], index)}, 'spec': {'nodeName': NODES[index]},
               'status': {'phase': 'Running' if ready else 'Pending',
                          'conditions': [{'type': 'Ready', 'status': 'True' if ready else 'False'}]}}
        if not ready:
            pod['status']['containerStatuses'] = [{'state': {'waiting': {'reason': 'ImagePullBackOff'}}}]
        return pod

    def _daemonset(self, method, namespace, name, body, dry_run):
        key = (namespace, name or (body or {}).get('metadata', {}).get('name'))
        existing = self.daemonsets.get(key)
        if method == 'GET':
            if existing is None:
                raise not_found('daemonsets.apps "%s"' % name)
            return copy.deepcopy(existing)
        if namespace not in self.namespaces:
            raise not_found('namespaces "%s"' % namespace)
        if method == 'POST':
            if existing is not None:
                raise K8sApiError(409, 'Conflict', 'already exists')
            obj = self._defaulted(body)
        elif method == 'PUT':
            if existing is None:
                raise not_found('daemonsets.apps "%s"' % name)
            if body['metadata'].get('resourceVersion') != existing['metadata']['resourceVersion']:
                raise K8sApiError(409, 'Conflict', 'the object has been modified')
            obj = self._defaulted(body, existing)
        else:
            assert method == 'DELETE'
            if existing is None:
                raise not_found('daemonsets.apps "%s"' % name)
            assert body['preconditions']['uid'] == existing['metadata']['uid']
            if not dry_run:
                del self.daemonsets[key]
                self.pods.pop(key, None)
            return {'kind': 'Status', 'status': 'Success'}
        if dry_run:
            return obj
        self.daemonsets[key] = obj
        self._run_controller(key)
        return copy.deepcopy(obj)

    def _job(self, method, namespace, name, body, dry_run):
        key = (namespace, name or (body or {}).get('metadata', {}).get('name'))
        existing = self.jobs.get(key)
        if method == 'GET':
            if existing is None:
                raise not_found('jobs.batch "%s"' % name)
            return copy.deepcopy(existing)
        if namespace not in self.namespaces:
            raise not_found('namespaces "%s"' % namespace)
        if method == 'POST':
            if existing is not None:
                raise K8sApiError(409, 'Conflict', 'already exists')
            obj = copy.deepcopy(body)
            self.job_uid += 1
            now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
            obj['metadata'].update(uid='job-uid-%d' % self.job_uid, resourceVersion='1', creationTimestamp=now)
            obj['status'] = {'startTime': now}
        elif method == 'PUT':
            if existing is None:
                raise not_found('jobs.batch "%s"' % name)
            if body['metadata'].get('resourceVersion') != existing['metadata']['resourceVersion']:
                raise K8sApiError(409, 'Conflict', 'the object has been modified')
            obj = copy.deepcopy(body)
            obj['metadata']['resourceVersion'] = str(int(existing['metadata']['resourceVersion']) + 1)
            obj['status'] = existing.get('status', {})
        else:
            assert method == 'DELETE'
            if existing is None:
                raise not_found('jobs.batch "%s"' % name)
            assert body['preconditions']['uid'] == existing['metadata']['uid']
            if not dry_run:
                del self.jobs[key]
                uid = existing['metadata']['uid']
                for ds_key, ds in list(self.daemonsets.items()):   # the garbage collector
                    refs = ds['metadata'].get('ownerReferences') or []
                    if any(r['uid'] == uid for r in refs):
                        if body['propagationPolicy'] == 'Orphan':
                            ds['metadata']['ownerReferences'] = [r for r in refs if r['uid'] != uid]
                        else:
                            del self.daemonsets[ds_key]
                            self.pods.pop(ds_key, None)
            return {'kind': 'Status', 'status': 'Success'}
        if dry_run:
            return obj
        self.jobs[key] = obj
        return copy.deepcopy(obj)

    def expire(self, namespace, name):
        """What kube-controller-manager does at the deadline: the Job fails, is deleted, and so is what it owns."""
        job = self.jobs[(namespace, name)]
        self.request('DELETE', '/apis/batch/v1/namespaces/%s/jobs/%s' % (namespace, name),
                     body={'propagationPolicy': 'Background', 'preconditions': {'uid': job['metadata']['uid']}})

    def writes(self):
        return [c for c in self.calls if c[0] in ('POST', 'PUT', 'DELETE') and not c[2]]

    def add_foreign(self, namespace, name, labels=None):
        self.namespaces.add(namespace)
        self.daemonsets[(namespace, name)] = {
            'metadata': {'namespace': namespace, 'name': name, 'uid': 'foreign', 'labels': labels or {'app': 'x'},
                         'generation': 1, 'resourceVersion': '1'},
            'spec': {'template': {'spec': {'containers': [{'image': 'x'}]}}}}


@pytest.fixture
def run(monkeypatch, run_module):
    monkeypatch.setattr(k8s_agent, 'POLL', 0.01)

    def runner(api, **args):
        monkeypatch.setattr(_k8s_fault, 'make_client', lambda auth, pool_size=10: api)
        return run_module(k8s_agent, **args)
    return runner


def only_target(result):
    assert len(result['chaos']['targets']) == 1, result
    return result['chaos']['targets'][0]


def test_deploy_creates_namespace_and_daemonset_then_is_idempotent(run):
    api = FakeApi()
    result = run(api, name='a1', namespace='chaos-x', duration=600)
    assert result['changed'] is True and not result.get('failed'), result
    assert result['chaos']['namespace_created'] is True
    assert api.namespace_labels == {'app.kubernetes.io/managed-by': 'chaos.engineering',
                                    'chaos.engineering/protected': 'true'}
    target = only_target(result)
    assert target['result'] == 'created' and target['action'] == 'deploy'
    assert target['name'] == 'chaos-x/a1' and target['id'] == 'uid-1'
    assert (target['desired'], target['updated'], target['ready'], target['available']) == (3, 3, 3, 3)
    assert sorted(p['node'] for p in target['pods'] if p['ready']) == list(NODES)
    assert result['chaos']['expires_at'] == target['expires_at']
    revert = result['chaos']['revert']
    assert revert['armed'] is True and revert['method'] == 'cluster' and 'expiry Job chaos-x/a1' in revert['how']
    assert 'all=true' in revert['teardown']
    # The expiry Job, created first, owns the DaemonSet.
    job = api.jobs[('chaos-x', 'a1')]
    assert job['spec']['parallelism'] == 0 and job['spec']['ttlSecondsAfterFinished'] == 0
    assert 599 <= job['spec']['activeDeadlineSeconds'] <= 601
    assert job['metadata']['annotations']['chaos.engineering/expires'] == target['expires_at']
    assert api.daemonsets[('chaos-x', 'a1')]['metadata']['ownerReferences'][0]['uid'] == 'job-uid-1'
    assert target['expiry_job'] == dict(name='chaos-x/a1', id='job-uid-1', result='created',
                                        expires_at=target['expires_at'],
                                        active_deadline_seconds=job['spec']['activeDeadlineSeconds'])
    assert [c[1].split('/')[-1] for c in api.writes()] == ['namespaces', 'jobs', 'daemonsets']

    again = run(api, name='a1', namespace='chaos-x', duration=600)
    assert again['changed'] is False, again
    assert only_target(again)['result'] == 'unchanged'
    assert only_target(again)['expires_at'] == target['expires_at']
    assert only_target(again)['expiry_job']['result'] == 'unchanged'
    # The second run wrote nothing: one namespace, Job and DaemonSet create, then only dry runs.
    assert [c[0] for c in api.writes()] == ['POST', 'POST', 'POST']


def test_changed_options_update_and_check_mode_only_dry_runs(run):
    api = FakeApi(namespaces=('chaos-engineering',))
    run(api)
    before = copy.deepcopy(api.daemonsets[('chaos-engineering', 'chaos-agent')])
    preview = run(api, check_mode=True, diff=True, interval='10s')
    assert preview['changed'] is True and only_target(preview)['result'] == 'updated'
    assert preview['chaos']['dry_run'] is True
    assert api.daemonsets[('chaos-engineering', 'chaos-agent')] == before
    before_args = preview['diff']['before']['spec']['template']['spec']['containers'][0]['args']
    after_args = preview['diff']['after']['spec']['template']['spec']['containers'][0]['args']
    assert before_args[:3] == ['--random', '--interval', '30s'] and after_args[:3] == ['--random', '--interval', '10s']

    result = run(api, interval='10s')
    assert result['changed'] is True and only_target(result)['result'] == 'updated'
    stored = api.daemonsets[('chaos-engineering', 'chaos-agent')]
    assert stored['spec']['template']['spec']['containers'][0]['args'][2] == '10s'
    assert stored['metadata']['generation'] == 2
    assert run(api, interval='10s')['changed'] is False


def test_check_mode_with_a_missing_namespace_creates_nothing(run):
    api = FakeApi()
    result = run(api, check_mode=True, namespace='new-ns')
    assert result['changed'] is True and result['chaos']['namespace_created'] is True
    assert only_target(result)['result'] == 'created'
    assert api.writes() == [] and 'new-ns' not in api.namespaces


def test_a_daemonset_that_is_not_ours_is_never_replaced_nor_deleted(run):
    api = FakeApi()
    api.add_foreign('chaos-engineering', 'chaos-agent')
    result = run(api)
    assert result['failed'] is True and 'is not a chaos.engineering agent' in result['msg']
    result = run(api, state='absent')
    assert result['failed'] is True and 'refusing to delete it' in result['msg']
    assert api.writes() == []


def test_wait_timeout_names_the_pods_that_are_not_ready(run):
    api = FakeApi(stuck=True)
    result = run(api, name='slow', wait_timeout=1)
    assert result['failed'] is True
    assert 'DaemonSet chaos-engineering/slow is not ready on every node after 1 s' in result['msg']
    assert 'desired 3, updated 3, ready 1, available 1' in result['msg']
    assert 'slow-1 on node-1: Pending (ImagePullBackOff)' in result['msg']
    assert only_target(result)['result'] == 'unready'


def test_absent_deletes_and_waits_then_reports_absent(run):
    api = FakeApi()
    run(api, name='gone')
    result = run(api, state='absent', name='gone', diff=True)
    assert result['changed'] is True and only_target(result)['result'] == 'deleted'
    assert list(result['diff']['before']) == ['chaos-engineering/gone'] and result['diff']['after'] == {}
    assert result['diff']['before']['chaos-engineering/gone']['metadata']['labels']['chaos.engineering/agent'] == 'gone'
    assert ('chaos-engineering', 'gone') not in api.daemonsets and not api.pods.get(('chaos-engineering', 'gone'))
    again = run(api, state='absent', name='gone')
    assert again['changed'] is False and only_target(again)['result'] == 'absent'


def left_behind(api, namespace, name):
    """An agent whose expiry has passed and that nothing in the cluster removes (an older release's, or one whose
    Job was orphan-deleted)."""
    api.jobs.pop((namespace, name), None)
    meta = api.daemonsets[(namespace, name)]['metadata']
    meta.pop('ownerReferences', None)
    meta['annotations']['chaos.engineering/expires'] = '2020-01-01T00:00:00.000Z'


def test_teardown_removes_every_agent_of_ours_or_only_the_expired(run):
    api = FakeApi()
    run(api, name='old', namespace='ns-a', duration=60)
    left_behind(api, 'ns-a', 'old')
    run(api, name='fresh', namespace='ns-b', duration=3600)
    run(api, name='forever', namespace='ns-b')
    api.add_foreign('ns-c', 'lookalike', labels={'app.kubernetes.io/managed-by': 'chaos.engineering'})

    preview = run(api, check_mode=True, state='absent', all=True, expired_only=True)
    assert dict((t['name'], t['result']) for t in preview['chaos']['targets']) == {
        'ns-a/old': 'deleted', 'ns-b/forever': 'kept', 'ns-b/fresh': 'kept'}
    assert len(api.daemonsets) == 4

    result = run(api, state='absent', all=True, expired_only=True)
    assert result['changed'] is True
    assert [t['name'] for t in result['chaos']['targets'] if t['result'] == 'deleted'] == ['ns-a/old']
    assert [t['expired'] for t in result['chaos']['targets']] == [True, False, False]
    assert sorted(api.daemonsets) == [('ns-b', 'forever'), ('ns-b', 'fresh'), ('ns-c', 'lookalike')]

    only_b = run(api, state='absent', all=True, namespace='ns-b')
    assert sorted(t['name'] for t in only_b['chaos']['targets']) == ['ns-b/forever', 'ns-b/fresh']
    assert sorted(api.daemonsets) == [('ns-c', 'lookalike')]
    assert api.jobs == {}   # fresh's expiry Job went with it
    assert run(api, state='absent', all=True)['changed'] is False


def test_teardown_removes_an_expiry_job_whose_agent_is_gone(run):
    api = FakeApi()
    run(api, name='a1', duration=600)
    del api.daemonsets[('chaos-engineering', 'a1')]
    api.pods.pop(('chaos-engineering', 'a1'))
    kept = run(api, state='absent', all=True, expired_only=True)
    assert kept['changed'] is False and only_target(kept)['expiry_job']['result'] == 'kept'
    result = run(api, state='absent', all=True)
    assert result['changed'] is True and only_target(result)['result'] == 'absent'
    assert only_target(result)['expiry_job']['result'] == 'deleted' and api.jobs == {}


def test_an_expiry_in_the_past_is_refused_before_any_call(run):
    api = FakeApi()
    result = run(api, expires_at='2020-01-01T00:00:00Z')
    assert result['failed'] is True and 'expires_at 2020-01-01T00:00:00Z is not in the future' in result['msg']
    assert api.calls == []


def test_check_mode_tells_the_job_it_would_create_and_writes_nothing(run):
    api = FakeApi(namespaces=('chaos-engineering',))
    result = run(api, check_mode=True, duration=600)
    target = only_target(result)
    assert result['changed'] is True and target['result'] == 'created'
    assert target['expiry_job']['result'] == 'created' and target['expiry_job']['id'] is None
    assert 599 <= target['expiry_job']['active_deadline_seconds'] <= 601
    assert result['chaos']['revert']['armed'] is False   # nothing is armed by a dry run
    assert api.writes() == [] and api.jobs == {} and api.daemonsets == {}
    # A namespace still to be created: the Job is described, not dry-run.
    fresh = run(FakeApi(), check_mode=True, duration=600, namespace='new-ns')
    assert only_target(fresh)['expiry_job']['result'] == 'created'


def test_a_new_expiry_moves_the_jobs_deadline_and_no_expiry_removes_the_job(run):
    api = FakeApi()
    run(api, name='a1', expires_at='2099-01-01T00:00:00Z')
    job = api.jobs[('chaos-engineering', 'a1')]
    start = parse_iso(job['status']['startTime'])
    assert abs(job['spec']['activeDeadlineSeconds'] - (parse_iso('2099-01-01T00:00:00Z') - start).total_seconds()) < 2
    later = run(api, name='a1', expires_at='2099-01-01T01:00:00Z')
    assert later['changed'] is True and only_target(later)['expiry_job']['result'] == 'updated'
    moved = api.jobs[('chaos-engineering', 'a1')]
    assert moved['metadata']['uid'] == job['metadata']['uid']     # the same Job, its deadline moved
    # Counted from the Job's start, as the job controller counts it.
    assert moved['spec']['activeDeadlineSeconds'] == (parse_iso('2099-01-01T01:00:00Z') - start).total_seconds()
    assert run(api, name='a1', expires_at='2099-01-01T01:00:00Z')['changed'] is False

    forever = run(api, name='a1')
    assert forever['changed'] is True and only_target(forever)['expiry_job']['result'] == 'deleted'
    assert api.jobs == {} and ('chaos-engineering', 'a1') in api.daemonsets   # orphaned, not collected
    assert 'ownerReferences' not in api.daemonsets[('chaos-engineering', 'a1')]['metadata']
    assert run(api, name='a1')['changed'] is False


def test_absent_deletes_the_daemonset_and_its_expiry_job(run):
    api = FakeApi()
    run(api, name='a1', duration=600)
    result = run(api, state='absent', name='a1')
    assert result['changed'] is True and only_target(result)['result'] == 'deleted'
    assert only_target(result)['expiry_job']['result'] == 'deleted'
    assert api.jobs == {} and api.daemonsets == {}
    deletes = [c[1].split('/')[-2] for c in api.writes() if c[0] == 'DELETE']
    assert deletes == ['daemonsets', 'jobs']   # the DaemonSet first: the Job's collection never races it


def test_after_the_cluster_expired_the_agent_a_rerun_deploys_it_again(run):
    api = FakeApi()
    run(api, name='a1', duration=600)
    api.expire('chaos-engineering', 'a1')
    assert api.daemonsets == {}
    again = run(api, name='a1', duration=600)
    assert again['changed'] is True and only_target(again)['result'] == 'created'
    assert only_target(again)['expiry_job']['result'] == 'created'


def test_a_job_of_that_name_that_is_not_ours_is_refused(run):
    api = FakeApi(namespaces=('chaos-engineering',))
    api.jobs[('chaos-engineering', 'chaos-agent')] = {'metadata': {'name': 'chaos-agent', 'uid': 'x', 'labels': {}}}
    result = run(api, duration=60)
    assert result['failed'] is True and 'is not the expiry Job of a chaos.engineering agent' in result['msg']
    assert api.writes() == []


def test_an_unpinned_image_is_deployed_with_a_warning(run):
    result = run(FakeApi(), image='ghcr.io/alexei-led/pumba:latest')
    assert not result.get('failed') and only_target(result)['image'] == 'ghcr.io/alexei-led/pumba:latest'
    assert 'floating latest tag' in json.dumps(result['warnings']), result


@pytest.mark.parametrize('args, message', [
    (dict(args=['kill'], interval='10s'), 'mutually exclusive'),
    (dict(all=True, name='x', state='absent'), 'it takes no name'),
    (dict(args=['kill'], random=False), 'random=false has no effect with args'),
    (dict(duration=10, expires_at='2030-01-01T00:00:00Z'), 'mutually exclusive'),
    (dict(all=True), 'needs state=absent'),
    (dict(runtime_socket='docker', runtime='containerd'), 'contradicts'),
])
def test_bad_options_fail_before_any_call(run, args, message):
    api = FakeApi()
    result = run(api, **args)
    assert result['failed'] is True and message in result['msg'], result
    assert api.calls == []


def test_a_conflict_while_moving_the_deadline_reads_the_job_again(run, monkeypatch):
    api = FakeApi()
    run(api, name='a1', expires_at='2099-01-01T00:00:00Z')
    real = api.request

    def status_written_meanwhile(method, path, query=None, body=None):
        if method == 'PUT' and '/jobs/' in path and not getattr(api, 'bumped', False):
            api.bumped = True   # the job controller writes the Job's status between our GET and PUT
            api.jobs[('chaos-engineering', 'a1')]['metadata']['resourceVersion'] = '7'
        return real(method, path, query=query, body=body)
    monkeypatch.setattr(api, 'request', status_written_meanwhile)
    result = run(api, name='a1', expires_at='2099-01-01T01:00:00Z')
    assert not result.get('failed') and only_target(result)['expiry_job']['result'] == 'updated', result
    assert api.jobs[('chaos-engineering', 'a1')]['metadata']['annotations']['chaos.engineering/expires'] == \
        '2099-01-01T01:00:00.000Z'
    assert api.bumped


def test_deploying_updating_and_removing_each_record_an_event_on_the_daemonset(run):
    api = FakeApi()
    run(api, check_mode=True, name='ev', run_id='exp-7')
    assert api.events == []
    result = run(api, name='ev', run_id='exp-7')
    run(api, name='ev', run_id='exp-7')  # unchanged: nothing to record
    run(api, name='ev', run_id='exp-7', args=['--interval', '45s', 'kill', 're2:^web'])
    removed = run(api, state='absent', name='ev', run_id='exp-7')
    assert [e['reason'] for e in api.events] == ['ChaosAgentDeployed', 'ChaosAgentUpdated', 'ChaosAgentRemoved']
    uid = api.events[0]['involvedObject']['uid']
    assert uid and all(e['involvedObject'] == dict(apiVersion='apps/v1', kind='DaemonSet',
                                                   namespace='chaos-engineering', name='ev', uid=uid)
                       for e in api.events)
    fault_id = result['chaos']['events']['fault_id']
    assert api.events[0]['message'].startswith('chaos.engineering created this chaos agent (')
    assert api.events[0]['message'].endswith('(fault %s, run exp-7)' % fault_id)
    assert result['chaos']['events']['recorded'] == 1 and removed['chaos']['events']['recorded'] == 1
