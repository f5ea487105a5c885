"""The chaos.engineering.agent role (and k8s_agent under it) against a real Kubernetes API server.

Each test deploys its own agent (agent-<run>) in a namespace of its own (chaos-it-<run>-agent, created by the role
itself), checks what the role says against what the API server says (official client), and deletes both afterwards.
The agent runs the test image (the pause image: harmless on a real cluster, and any name works on KWOK nodes), with
the default Pumba arguments, so that nothing is ever killed by the agent under test.
"""
import datetime
import json
import os
import tempfile
import time
import uuid

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from helpers import ansible_playbook_argv, playbook_env, write
from k8s_helpers import IMAGE, PROTECTED, create_deployment, pod_ready, pods, uids, wait_for, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.k8s]

AGENT = 'chaos.engineering/agent'
MANAGED_BY = 'app.kubernetes.io/managed-by'
EXPIRES = 'chaos.engineering/expires'
DEFAULT_ARGS = ['--random', '--interval', '30s', 'kill', '--signal', 'SIGKILL', 're2:^k8s_[a-z0-9-]+_[^_]+_default_']


def schedulable_nodes(api):
    """Nodes a DaemonSet without tolerations runs on: schedulable, no NoSchedule/NoExecute taint."""
    names = set()
    for node in api['core'].list_node().items:
        taints = [t for t in node.spec.taints or [] if t.effect in ('NoSchedule', 'NoExecute')]
        if not node.spec.unschedulable and not taints:
            names.add(node.metadata.name)
    return names


def parse_iso(text):
    return datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))


@pytest.fixture
def agent_ns(api, run_id):
    """A namespace name for the role to create; deleted afterwards (with whatever is left in it)."""
    made = []

    def name(suffix='agent'):
        value = 'chaos-it-%s-%s' % (run_id, suffix)
        made.append(value)
        return value
    yield name
    for value in made:
        try:
            api['core'].delete_namespace(value)
        except ApiException:
            pass


@pytest.fixture
def run_role(api, tmp_path):
    """Run the chaos.engineering.agent role with ``role_vars`` (as extra vars); return agent_result.

    The connection comes from module_defaults (group/chaos.engineering.k8s), or, with ``via_role=True``, from the
    role's own agent_kubeconfig. KUBECONFIG and K8S_AUTH_* are cleared for the run. A failed role returns its
    result with ``failed`` set (the play itself succeeds).
    """
    def run(role_vars, check=False, via_role=False):
        result_file = str(tmp_path / ('result-%s.json' % uuid.uuid4().hex[:6]))
        playbook = write(str(tmp_path / 'role.yml'), '''\
            - name: Run the chaos.engineering.agent role
              hosts: localhost
              gather_facts: false
              module_defaults:
                group/chaos.engineering.k8s: "{{ connection }}"
              tasks:
                - name: The role under test
                  block:
                    - name: Include the agent role
                      ansible.builtin.include_role:
                        name: chaos.engineering.agent
                  rescue:
                    - name: Keep the failure
                      ansible.builtin.set_fact:
                        role_failure: "{{ ansible_failed_result }}"
                - name: Keep the result for the test
                  ansible.builtin.copy:
                    content: "{{ (role_failure | default(agent_result)) | to_json }}"
                    dest: "{{ result_file }}"
                    mode: "0600"
                  check_mode: false
            ''')
        variables = dict(role_vars)
        if via_role:
            variables['agent_kubeconfig'] = api['kubeconfig']
        variables.update(connection={} if via_role else dict(kubeconfig=api['kubeconfig']), result_file=result_file)
        extra = str(tmp_path / 'role-vars.json')
        with open(extra, 'w') as handle:
            json.dump(variables, handle)
        env = dict((k, v) for k, v in playbook_env().items() if not k.startswith('K8S_AUTH_'))
        env['KUBECONFIG'] = os.path.join(tempfile.gettempdir(), 'no-such-kubeconfig-%s' % uuid.uuid4().hex)
        proc = __import__('subprocess').run(ansible_playbook_argv(playbook, extra, check=check), capture_output=True,
                                            text=True, env=env, cwd=str(tmp_path), timeout=900, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        with open(result_file) as handle:
            return json.load(handle)
    return run


def deploy_vars(name, namespace, **extra):
    values = dict(agent_name=name, agent_namespace=namespace, agent_image=IMAGE, agent_wait_timeout=180)
    values.update(extra)
    return values


def target_of(result):
    assert not result.get('failed'), result
    targets = result['chaos']['targets']
    assert len(targets) == 1, targets
    return targets[0]


def agent_pods(api, namespace, name, live=True):
    found = pods(api, namespace, '%s=%s' % (AGENT, name))
    return [p for p in found if not (live and p.metadata.deletion_timestamp)]


def assert_ready_on_every_node(api, namespace, name, nodes):
    """One Running, Ready, current pod per schedulable node, as the API server reports them."""
    ds = api['apps'].read_namespaced_daemon_set(name, namespace)
    status = ds.status
    assert status.observed_generation == ds.metadata.generation
    assert status.desired_number_scheduled == len(nodes)
    assert status.number_ready == status.updated_number_scheduled == status.desired_number_scheduled
    live = agent_pods(api, namespace, name)
    assert len(live) == len(nodes), [(p.metadata.name, p.spec.node_name) for p in live]
    assert all(pod_ready(p) for p in live)
    assert sorted(p.spec.node_name for p in live) == sorted(nodes)
    return ds, live


def test_role_deploys_agent_ready_on_every_node_idempotent_and_updates(api, run_id, agent_ns, run_role):
    nodes = schedulable_nodes(api)
    assert nodes, 'the cluster has no schedulable node'
    if not os.environ.get('KUBECONFIG'):
        assert len(nodes) == 3, nodes    # the k8s bed: 3 KWOK nodes
    name, namespace = 'agent-%s' % run_id, agent_ns()
    started = datetime.datetime.now(datetime.timezone.utc)
    result = run_role(deploy_vars(name, namespace, agent_duration=600), via_role=True)
    finished = datetime.datetime.now(datetime.timezone.utc)
    target = target_of(result)
    assert result['changed'] is True and target['result'] == 'created'
    assert result['chaos']['namespace_created'] is True

    # The namespace was created, labelled as ours and protected.
    labels = api['core'].read_namespace(namespace).metadata.labels
    assert labels[MANAGED_BY] == 'chaos.engineering' and labels[PROTECTED] == 'true'
    # Ready on every node: the role waited, so this holds the moment it returns.
    ds, live = assert_ready_on_every_node(api, namespace, name, nodes)
    assert sorted(p['node'] for p in target['pods'] if p['ready']) == sorted(nodes)
    assert (target['desired'], target['ready'], target['updated']) == (len(nodes),) * 3
    assert target['id'] == ds.metadata.uid
    # Labels on the DaemonSet and its pods: protected, ours, and Pumba's own skip label on the pods.
    for obj_labels in [ds.metadata.labels] + [p.metadata.labels for p in live]:
        assert obj_labels[PROTECTED] == 'true' and obj_labels[AGENT] == name
        assert obj_labels[MANAGED_BY] == 'chaos.engineering'
    assert all(p.metadata.labels['com.gaiaadm.pumba'] == 'true' for p in live)
    # The default Pumba command, the docker socket, and the expiry annotation.
    spec = ds.spec.template.spec
    assert spec.containers[0].args == DEFAULT_ARGS and spec.containers[0].image == IMAGE
    assert spec.volumes[0].host_path.path == '/var/run/docker.sock' and spec.volumes[0].host_path.type == 'Socket'
    assert spec.containers[0].volume_mounts[0].mount_path == '/var/run/docker.sock'
    expires = parse_iso(ds.metadata.annotations[EXPIRES])
    assert started + datetime.timedelta(seconds=599) <= expires <= finished + datetime.timedelta(seconds=601)
    assert result['chaos']['expires_at'] == ds.metadata.annotations[EXPIRES]

    # Identical second run: ok, nothing written, same pods.
    pods_before = uids(api, namespace, '%s=%s' % (AGENT, name))
    again = run_role(deploy_vars(name, namespace, agent_duration=600))
    assert again['changed'] is False and target_of(again)['result'] == 'unchanged'
    after = api['apps'].read_namespaced_daemon_set(name, namespace)
    assert after.metadata.resource_version == ds.metadata.resource_version
    assert after.metadata.annotations[EXPIRES] == ds.metadata.annotations[EXPIRES]
    assert uids(api, namespace, '%s=%s' % (AGENT, name)) == pods_before

    # Check mode with a new interval: reported as an update, nothing changes.
    preview = run_role(deploy_vars(name, namespace, agent_duration=600, agent_interval='10s'), check=True)
    assert preview['changed'] is True and target_of(preview)['result'] == 'updated'
    assert preview['chaos']['dry_run'] is True
    assert api['apps'].read_namespaced_daemon_set(name, namespace).metadata.resource_version == \
        ds.metadata.resource_version

    # The real update rolls every node to the new spec and waits for it.
    updated = run_role(deploy_vars(name, namespace, agent_duration=600, agent_interval='10s'))
    assert updated['changed'] is True and target_of(updated)['result'] == 'updated'
    now = api['apps'].read_namespaced_daemon_set(name, namespace)
    assert now.metadata.generation == ds.metadata.generation + 1
    assert now.spec.template.spec.containers[0].args[:3] == ['--random', '--interval', '10s']
    assert now.status.observed_generation == now.metadata.generation
    assert now.status.updated_number_scheduled == now.status.number_ready == len(nodes)

    gone = run_role(deploy_vars(name, namespace, agent_state='absent'))
    assert target_of(gone)['result'] == 'deleted'
    # An Event on the DaemonSet for each change, none for the unchanged run or the check-mode preview.
    events = sorted((e for e in api['core'].list_namespaced_event(
        namespace, field_selector='involvedObject.name=%s' % name).items if e.source.component == 'chaos.engineering'),
        key=lambda e: e.metadata.creation_timestamp)
    assert [e.reason for e in events] == ['ChaosAgentDeployed', 'ChaosAgentUpdated', 'ChaosAgentRemoved'], events
    assert all(e.involved_object.kind == 'DaemonSet' and e.involved_object.uid == ds.metadata.uid for e in events)
    assert events[0].message.endswith('(fault %s)' % result['chaos']['events']['fault_id']), events[0].message


def test_pod_chaos_with_allow_all_never_touches_the_agent(api, run_id, agent_ns, namespace, run_role, run_module):
    nodes = schedulable_nodes(api)
    name, agent_namespace = 'agent-%s' % run_id, agent_ns()
    target_of(run_role(deploy_vars(name, agent_namespace)))
    create_deployment(api, namespace, 'decoy', 2, {'app': 'decoy'})
    decoys = wait_ready(api, namespace, 'app=decoy', 2)
    dummy, live = assert_ready_on_every_node(api, agent_namespace, name, nodes)
    agent_uids = set(p.metadata.uid for p in live)

    # The agent's namespace is not excluded here by name: only the protected label keeps its pods safe.
    result = run_module('k8s_pod_chaos', dict(namespaces=[agent_namespace, namespace], exclude_namespaces=[],
                                              allow_all=True, min_healthy=0))
    assert not result.get('failed'), result
    deleted = set(t['id'] for t in result['chaos']['targets'] if t['result'] == 'deleted')
    assert deleted == set(decoys.values())     # not vacuous: the decoy pods were harmed
    assert sorted(result['chaos']['selection']['protected']) == sorted(
        '%s/%s' % (agent_namespace, p.metadata.name) for p in live)
    assert set(p.metadata.uid for p in agent_pods(api, agent_namespace, name)) == agent_uids

    # Aimed at the agent by its own label: still nothing, and the module says why.
    aimed = run_module('k8s_pod_chaos', dict(namespace=agent_namespace, exclude_namespaces=[],
                                             label_selector='%s=%s' % (AGENT, name), min_healthy=0))
    assert aimed.get('failed') and 'Protected or chaos helpers, never touched' in aimed['msg'], aimed
    assert set(p.metadata.uid for p in agent_pods(api, agent_namespace, name)) == agent_uids

    target_of(run_role(deploy_vars(name, agent_namespace, agent_state='absent')))


def test_absent_removes_the_agent_and_waits_until_its_pods_are_gone(api, run_id, agent_ns, run_role):
    nodes = schedulable_nodes(api)
    name, namespace = 'agent-%s' % run_id, agent_ns()
    target_of(run_role(deploy_vars(name, namespace)))
    assert_ready_on_every_node(api, namespace, name, nodes)

    preview = run_role(deploy_vars(name, namespace, agent_state='absent'), check=True)
    assert preview['changed'] is True and target_of(preview)['result'] == 'deleted'
    assert api['apps'].read_namespaced_daemon_set(name, namespace) is not None
    assert len(agent_pods(api, namespace, name)) == len(nodes)

    result = run_role(deploy_vars(name, namespace, agent_state='absent'))
    assert result['changed'] is True and target_of(result)['result'] == 'deleted'
    # Gone the moment the role returns: the DaemonSet, and every pod, terminating ones included.
    with pytest.raises(ApiException) as missing:
        api['apps'].read_namespaced_daemon_set(name, namespace)
    assert missing.value.status == 404
    assert agent_pods(api, namespace, name, live=False) == []

    again = run_role(deploy_vars(name, namespace, agent_state='absent'))
    assert again['changed'] is False and target_of(again)['result'] == 'absent'


def test_expired_agent_left_behind_is_found_and_removed_by_the_teardown(api, run_id, agent_ns, run_role, run_module):
    nodes = schedulable_nodes(api)
    namespace = agent_ns()
    old, fresh = 'old-%s' % run_id, 'fresh-%s' % run_id
    # An expired agent that nothing in the cluster removes: one of an older release (no expiry Job), made here by
    # orphan-deleting its Job and moving its expiry annotation into the past.
    target_of(run_role(deploy_vars(old, namespace, agent_duration=600)))
    client.BatchV1Api(api['client']).delete_namespaced_job(old, namespace, propagation_policy='Orphan')
    wait_for('the garbage collector to orphan the old agent', lambda: not api['apps'].read_namespaced_daemon_set(
        old, namespace).metadata.owner_references)
    api['apps'].patch_namespaced_daemon_set(old, namespace, {'metadata': {'annotations': {
        EXPIRES: (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)).strftime(
            '%Y-%m-%dT%H:%M:%S.000Z')}}})
    target_of(run_role(deploy_vars(fresh, namespace, agent_duration=3600)))
    # A DaemonSet that only looks like ours (no chaos.engineering/agent label) must never be touched.
    foreign_labels = {MANAGED_BY: 'chaos.engineering', 'app': 'foreign-%s' % run_id}
    api['apps'].create_namespaced_daemon_set(namespace, client.V1DaemonSet(
        metadata=client.V1ObjectMeta(name='foreign', labels=foreign_labels),
        spec=client.V1DaemonSetSpec(
            selector=client.V1LabelSelector(match_labels=foreign_labels),
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=foreign_labels), spec=client.V1PodSpec(
                containers=[client.V1Container(name='main', image=IMAGE)], termination_grace_period_seconds=2)))))
    expiry = parse_iso(api['apps'].read_namespaced_daemon_set(old, namespace).metadata.annotations[EXPIRES])
    wait_for('the old agent to expire', lambda: datetime.datetime.now(datetime.timezone.utc) > expiry)
    time.sleep(0.01)

    teardown = dict(agent_state='absent', agent_all=True, agent_all_namespace=namespace, agent_expired_only=True)
    result = run_role(teardown)
    assert not result.get('failed'), result
    outcome = dict((t['name'], (t['result'], t['expired'])) for t in result['chaos']['targets'])
    assert outcome == {'%s/%s' % (namespace, old): ('deleted', True), '%s/%s' % (namespace, fresh): ('kept', False)}
    assert result['changed'] is True
    with pytest.raises(ApiException):
        api['apps'].read_namespaced_daemon_set(old, namespace)
    assert agent_pods(api, namespace, old, live=False) == []
    assert_ready_on_every_node(api, namespace, fresh, nodes)
    assert api['apps'].read_namespaced_daemon_set('foreign', namespace).metadata.deletion_timestamp is None

    # A second teardown finds nothing more to do.
    assert run_role(teardown)['changed'] is False
    # The whole teardown (not only expired agents), through the module and its action group.
    everything = run_module('k8s_agent', dict(state='absent', all=True, namespace=namespace))
    assert [(t['name'], t['result']) for t in everything['chaos']['targets']] == [
        ('%s/%s' % (namespace, fresh), 'deleted')]
    assert agent_pods(api, namespace, fresh, live=False) == []
    assert api['apps'].read_namespaced_daemon_set('foreign', namespace).metadata.deletion_timestamp is None


def test_bad_input_fails_clearly_and_creates_nothing(api, run_id, agent_ns, run_role):
    namespace = agent_ns()
    result = run_role(deploy_vars('agent-%s' % run_id, namespace, agent_interval='often'))
    assert result.get('failed') and 'interval must be a positive Go duration' in result['msg'], result
    result = run_role(deploy_vars('Bad_Name', namespace))
    assert result.get('failed') and 'name must be a DNS label' in result['msg'], result
    with pytest.raises(ApiException) as missing:
        api['core'].read_namespace(namespace)
    assert missing.value.status == 404
