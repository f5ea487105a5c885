"""The agent's expiry, enforced by the cluster itself, and its least-privilege pod spec, against a real control plane.

The expiry Job (parallelism 0, activeDeadlineSeconds, ttlSecondsAfterFinished 0) owns the DaemonSet: once the
ansible-playbook process that deployed it is gone, kube-controller-manager alone fails the Job at the deadline,
deletes it, and garbage-collects the DaemonSet and its pods. The fixtures (run_role, agent_ns, deploy_vars) are those
of test_k8s_agent.py.
"""
import datetime
import time

import pytest
from kubernetes.client.rest import ApiException

from k8s_helpers import wait_for
import test_k8s_agent
from test_k8s_agent import (
    EXPIRES,
    agent_pods,
    assert_ready_on_every_node,
    deploy_vars,
    parse_iso,
    schedulable_nodes,
    target_of,
)

pytestmark = [pytest.mark.integration, pytest.mark.k8s]

# The fixtures of test_k8s_agent.py, shared.
agent_ns = test_k8s_agent.agent_ns
run_role = test_k8s_agent.run_role

PINNED = 'ghcr.io/alexei-led/pumba:1.1.2'
RESTRICTED = dict(privileged=False, allow_privilege_escalation=False, read_only_root_filesystem=True, run_as_user=0)
# How long after its expiry the cluster may take to remove an agent: the job controller's sync, the TTL controller,
# then the garbage collector for the DaemonSet and for its pods. Seconds, generous: never a measured bound.
GRACE = 120


def read_or_none(reader, name, namespace):
    try:
        return reader(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def job_of(api, namespace, name):
    return read_or_none(api['batch'].read_namespaced_job, name, namespace)


def ds_of(api, namespace, name):
    return read_or_none(api['apps'].read_namespaced_daemon_set, name, namespace)


def job_pods(api, namespace, name):
    """Pods the expiry Job made: there must never be any."""
    return api['core'].list_namespaced_pod(namespace, label_selector='batch.kubernetes.io/job-name=%s' % name).items


@pytest.fixture
def batch(api):
    from kubernetes import client
    api.setdefault('batch', client.BatchV1Api(api['client']))
    return api


def test_the_cluster_removes_an_expired_agent_with_no_controller_running(batch, run_id, agent_ns, run_role):
    api = batch
    nodes = schedulable_nodes(api)
    name, namespace = 'agent-%s' % run_id, agent_ns()
    result = run_role(deploy_vars(name, namespace, agent_duration=20))
    # The ansible-playbook process has exited: nothing of ours runs from here on.
    target = target_of(result)
    assert result['chaos']['revert']['method'] == 'cluster' and result['chaos']['revert']['armed'] is True
    expires = parse_iso(result['chaos']['expires_at'])

    job = job_of(api, namespace, name)
    assert job is not None and job.metadata.uid == target['expiry_job']['id']
    assert (job.spec.parallelism, job.spec.ttl_seconds_after_finished) == (0, 0)
    assert 1 <= job.spec.active_deadline_seconds <= 21   # counted from the start of the second it was created in
    ds, live = assert_ready_on_every_node(api, namespace, name, nodes)
    refs = ds.metadata.owner_references
    assert [(r.kind, r.name, r.uid, r.block_owner_deletion, r.controller) for r in refs] == [
        ('Job', name, job.metadata.uid, True, False)]
    assert ds.metadata.annotations[EXPIRES] == job.metadata.annotations[EXPIRES] == result['chaos']['expires_at']

    def gone():
        # The job controller counts the deadline from startTime, which it sets although the Job makes no pod.
        current = job_of(api, namespace, name)
        if current is not None:
            assert not job_pods(api, namespace, name)
        return current is None and ds_of(api, namespace, name) is None and \
            agent_pods(api, namespace, name, live=False) == []
    wait_for('the cluster to remove the expired agent', gone,
             timeout=max(0.0, (expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) + GRACE,
             interval=1)
    # For the record (-s), not asserted: how long after the expiry the cluster had removed everything.
    print('agent removed %.1f s after its expiry' % (
        datetime.datetime.now(datetime.timezone.utc) - expires).total_seconds())
    # The teardown then finds nothing: the cluster did it all.
    teardown = run_role(dict(agent_state='absent', agent_all=True, agent_all_namespace=namespace))
    assert teardown['changed'] is False and teardown['chaos']['targets'] == []


def test_the_agent_pods_run_with_least_privilege_and_the_default_image_is_pinned(batch, run_id, agent_ns, run_role):
    api = batch
    nodes = schedulable_nodes(api)
    name, namespace = 'agent-%s' % run_id, agent_ns()
    # The default image, through the API server's dry run: pinned, never :latest.
    preview = run_role(dict(agent_name=name, agent_namespace=namespace), check=True)
    assert target_of(preview)['image'] == PINNED

    target_of(run_role(deploy_vars(name, namespace, agent_duration=600)))
    ds, live = assert_ready_on_every_node(api, namespace, name, nodes)
    # The pods as the API server admitted them (and the DaemonSet controller made them).
    for pod in live:
        spec = pod.spec
        main = spec.containers[0]
        context = main.security_context
        for field, value in RESTRICTED.items():
            assert getattr(context, field) == value, (field, context)
        assert context.capabilities.drop == ['ALL'] and not context.capabilities.add
        assert context.seccomp_profile.type == 'RuntimeDefault'
        assert spec.security_context.seccomp_profile.type == 'RuntimeDefault'
        assert not spec.host_network and not spec.host_pid and not spec.host_ipc
        assert spec.automount_service_account_token is False and spec.enable_service_links is False
        assert [(m.mount_path, m.read_only) for m in main.volume_mounts] == [('/var/run/docker.sock', True)]
        assert spec.volumes[0].host_path.path == '/var/run/docker.sock'
        assert main.resources.limits == {'cpu': '100m', 'memory': '64Mi'}
    target_of(run_role(deploy_vars(name, namespace, agent_state='absent')))


def test_an_expiry_in_the_past_is_refused_and_creates_nothing(batch, run_id, agent_ns, run_role):
    api = batch
    name, namespace = 'agent-%s' % run_id, agent_ns()
    result = run_role(deploy_vars(name, namespace, agent_expires_at='2020-01-01T00:00:00Z'))
    assert result.get('failed') and 'expires_at 2020-01-01T00:00:00Z is not in the future' in result['msg'], result
    with pytest.raises(ApiException) as missing:
        api['core'].read_namespace(namespace)
    assert missing.value.status == 404


def test_check_mode_idempotence_and_absent_with_the_expiry_job(batch, run_id, agent_ns, run_role):
    api = batch
    name, namespace = 'agent-%s' % run_id, agent_ns()
    api['core'].create_namespace({'metadata': {'name': namespace}})
    preview = run_role(deploy_vars(name, namespace, agent_duration=600), check=True)
    job_preview = target_of(preview)['expiry_job']
    assert preview['changed'] is True and job_preview['result'] == 'created' and job_preview['id'] is None
    assert 599 <= job_preview["active_deadline_seconds"] <= 601
    assert job_of(api, namespace, name) is None and ds_of(api, namespace, name) is None

    first = run_role(deploy_vars(name, namespace, agent_duration=600))
    assert target_of(first)['expiry_job']['result'] == 'created'
    job = job_of(api, namespace, name)
    ds = ds_of(api, namespace, name)
    again = run_role(deploy_vars(name, namespace, agent_duration=600))
    assert again['changed'] is False and target_of(again)['expiry_job']['result'] == 'unchanged'
    assert job_of(api, namespace, name).metadata.resource_version == job.metadata.resource_version
    assert ds_of(api, namespace, name).metadata.resource_version == ds.metadata.resource_version

    # A later expiry moves the same Job's deadline; the job controller re-arms it.
    later = (parse_iso(first['chaos']['expires_at']) + datetime.timedelta(seconds=300)).strftime(
        '%Y-%m-%dT%H:%M:%SZ')
    moved = run_role(deploy_vars(name, namespace, agent_expires_at=later))
    assert moved['changed'] is True and target_of(moved)['expiry_job']['result'] == 'updated'
    now_job = job_of(api, namespace, name)
    assert now_job.metadata.uid == job.metadata.uid
    # The deadline the job controller counts (startTime + activeDeadlineSeconds) is the new expiry, to the second.
    deadline = now_job.status.start_time + datetime.timedelta(seconds=now_job.spec.active_deadline_seconds)
    assert parse_iso(later) <= deadline < parse_iso(later) + datetime.timedelta(seconds=1)
    assert now_job.metadata.annotations[EXPIRES] == target_of(moved)['expires_at']

    gone = run_role(deploy_vars(name, namespace, agent_state='absent'))
    assert gone['changed'] is True and target_of(gone)['result'] == 'deleted'
    assert target_of(gone)['expiry_job']['result'] == 'deleted'
    # Gone when the role returns: the DaemonSet, its pods and the Job.
    assert ds_of(api, namespace, name) is None and job_of(api, namespace, name) is None
    assert agent_pods(api, namespace, name, live=False) == []
    assert run_role(deploy_vars(name, namespace, agent_state='absent'))['changed'] is False


def test_an_agent_left_without_its_job_is_still_found_by_the_teardown(batch, run_id, agent_ns, run_role):
    """An older release's agent (no Job), or one whose Job was orphan-deleted: the annotation still serves."""
    api = batch
    name, namespace = 'agent-%s' % run_id, agent_ns()
    target_of(run_role(deploy_vars(name, namespace, agent_duration=600)))
    api['batch'].delete_namespaced_job(name, namespace, propagation_policy='Orphan')
    wait_for('the garbage collector to orphan the DaemonSet',
             lambda: not ds_of(api, namespace, name).metadata.owner_references, interval=0.5)
    time.sleep(0.5)
    assert ds_of(api, namespace, name) is not None   # orphaned, not collected
    teardown = run_role(dict(agent_state='absent', agent_all=True, agent_all_namespace=namespace))
    assert [(t['name'], t['result'], t['expiry_job']) for t in teardown['chaos']['targets']] == [
        ('%s/%s' % (namespace, name), 'deleted', None)]
    assert ds_of(api, namespace, name) is None and agent_pods(api, namespace, name, live=False) == []
