"""The container modules on a "minikube host": the real node's own dockerd as docker_host, pod containers as targets.

The kubelet replaces a killed container with a new one: recovery is the replacement running (checked here against
the pod's status and the engine's events), and the old container is never started again. Pause and netem are
reverted by their deadline; kube-system and the pod sandboxes are never touched.
"""
import json
import os
import subprocess
import time
import uuid

from kubernetes import client

from helpers import ROOT, ansible_playbook_argv, kill_controller, parse_iso, playbook_env, run_module_play, write
from k8s_helpers import pod_ready, wait_for
from node_helpers import docker_on_node, hello_deployment, taint_of

NETHELPER_BUILDER = os.path.join(ROOT, 'roles', 'nethelper_image', 'files', 'nethelper-image.sh')


def _run(tmp_path, cfg, module, args, check=False):
    return run_module_play(tmp_path, module, args, 'docker', dict(docker_host=cfg['CHAOS_NODE_DOCKER_HOST']),
                           check=check)


def _hello(api, cfg, namespace, replicas=1):
    """A Ready hello Deployment on the node; returns its pods."""
    api['apps'].create_namespaced_deployment(namespace, hello_deployment('hello', cfg, replicas))

    def ready():
        pods = api['core'].list_namespaced_pod(namespace, label_selector='app=hello').items
        return pods if len(pods) == replicas and all(pod_ready(p) for p in pods) else None
    return wait_for('hello pods Ready', ready, timeout=120)


def _containers(cfg, namespace, name='hello'):
    """The node's containers (all states) of ``name`` in the pods of ``namespace``: dicts with id, name, state."""
    out = docker_on_node(cfg, 'ps', '-a', '--no-trunc', '--filter', 'label=io.kubernetes.pod.namespace=' + namespace,
                         '--filter', 'label=io.kubernetes.container.name=' + name,
                         '--format', '{{.ID}} {{.Names}} {{.State}}')
    return [dict(zip(('id', 'name', 'state'), line.split())) for line in out.splitlines() if line.strip()]


def _events(cfg, container_id, since, action):
    """The engine's own ``action`` events (start, die, pause, unpause) for a container since then, in epoch s."""
    out = docker_on_node(cfg, 'events', '--since', '%.3f' % (since - 1), '--until', '%.3f' % (time.time() + 0.5),
                         '--filter', 'container=' + container_id, '--filter', 'event=' + action,
                         '--format', '{{.TimeNano}}')
    return [int(line) / 1e9 for line in out.split() if int(line) / 1e9 >= since]


def _done(ledger_dir, target_id):
    directory = os.path.join(ledger_dir, 'done')
    found = []
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        if name.endswith('.json'):
            with open(os.path.join(directory, name)) as handle:
                entry = json.load(handle)
            if entry['target']['id'] == target_id:
                found.append(entry)
    return found


def test_kill_measures_the_kubelets_replacement_and_never_starts_the_old_container(real_node, api, namespace,
                                                                                   tmp_path):
    cfg = real_node
    _hello(api, cfg, namespace)
    old = _containers(cfg, namespace)[0]
    ledger = str(tmp_path / 'ledger')
    # The kubelet restarts its own containers: wait_for_recovery needs no restart_after for them (but does for others).
    preview = _run(tmp_path, cfg, 'container_kill', dict(
        labels={'io.kubernetes.pod.namespace': namespace, 'io.kubernetes.container.name': 'hello'},
        wait_for_recovery=True), check=True)
    assert not preview.get('failed'), preview.get('msg')
    assert [t['id'] for t in preview['chaos']['targets']] == [old['id']]
    since = time.time()
    # restart_after far longer than the kubelet's replacement takes: a recovery measured on the old container
    # (started again at restart_after) cannot pass for the replacement's.
    result = _run(tmp_path, cfg, 'container_kill', dict(
        name_pattern='^k8s_hello_', labels={'io.kubernetes.pod.namespace': namespace}, count=1, restart_after=8,
        wait_for_recovery=True, recovery_timeout=90, ledger_dir=ledger))
    assert not result.get('failed'), result.get('msg')
    # The old container was never started again (its replacement holds its ports; the kubelet owns it).
    assert _events(cfg, old['id'], since, 'start') == []
    target, = result['chaos']['targets']
    assert target['id'] == old['id'] and target['restarted_by'] == 'kubelet'
    assert target['kubelet']['namespace'] == namespace and target['kubelet']['container'] == 'hello'
    recovery, = result['chaos']['recovery']
    assert recovery['recovered'] is True and recovery['measured_by'] == 'replacement', recovery
    replacement = recovery['replacement']['id']
    assert replacement != old['id']

    # Independently: the pod's status names the replacement as its running container, and it is Ready again.
    def pod_on_replacement():
        pod, = api['core'].list_namespaced_pod(namespace, label_selector='app=hello').items
        status, = pod.status.container_statuses
        return pod if status.container_id == 'docker://' + replacement and pod_ready(pod) else None
    pod = wait_for('the pod Ready on the replacement', pod_on_replacement, timeout=60)
    assert pod.status.container_statuses[0].restart_count >= 1
    # The seconds are the engine's: from the old container's death to the replacement's start (generous bound:
    # the module polls, and confirms the replacement stayed up).
    died, = _events(cfg, old['id'], since, 'die')
    started = parse_iso(json.loads(docker_on_node(cfg, 'inspect', replacement))[0]['State']['StartedAt'])
    assert abs(recovery['seconds'] - (started - died)) < 1.5, (recovery, started - died)
    assert recovery['seconds'] < 8

    # The restart's deadline passes: the reverter closes it as the kubelet's, and never starts the old one.
    entries = wait_for('the restart entry closed', lambda: _done(ledger, old['id']), timeout=60)
    assert [e['status'] for e in entries] == ['kubelet-owned'], entries
    assert entries[0]['details']['replacement']['id'] == replacement
    assert _events(cfg, old['id'], since, 'start') == []
    assert [c['id'] for c in _containers(cfg, namespace) if c['state'] == 'running'] == [replacement]


def _nethelper_on_node(cfg):
    """Build the helper image into the node's dockerd, from this host's own binaries (as the role does)."""
    proc = subprocess.run(['bash', NETHELPER_BUILDER, 'import', 'chaos-nethelper:latest'], capture_output=True,
                          text=True, check=False, timeout=300,
                          env=dict(os.environ, DOCKER_HOST=cfg['CHAOS_NODE_DOCKER_HOST']))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _netns_rules(pid):
    return subprocess.run(['nsenter', '-t', str(pid), '-n', '--', 'iptables', '-S'], capture_output=True, text=True,
                          check=True).stdout


def test_netem_on_a_pod_container_hits_the_pods_namespace_and_is_reverted(real_node, api, namespace, tmp_path):
    cfg = real_node
    _nethelper_on_node(cfg)
    _hello(api, cfg, namespace)
    old = _containers(cfg, namespace)[0]
    sandbox = json.loads(docker_on_node(cfg, 'inspect', old['id']))[0]['HostConfig']['NetworkMode']
    assert sandbox.startswith('container:')  # the pod's network namespace is its sandbox's
    pid = json.loads(docker_on_node(cfg, 'inspect', old['id']))[0]['State']['Pid']
    result = _run(tmp_path, cfg, 'container_netem', dict(
        names=[old['name']], drop=dict(probability=0.5), ports=[8080], duration=6,
        ledger_dir=str(tmp_path / 'ledger')))
    assert not result.get('failed'), result.get('msg')
    target, = result['chaos']['targets']
    assert any(name.startswith('k8s_POD_') for name in target['shares_network_with']), target
    # In the pod's namespace (the sandbox's, which the container shares) until the deadline, then gone.
    assert 'chaos.engineering:netem:' in _netns_rules(pid)
    wait_for('the rules gone', lambda: 'chaos.engineering:netem:' not in _netns_rules(pid), timeout=60)
    wait_for('no helper left', lambda: not docker_on_node(
        cfg, 'ps', '-aq', '--filter', 'label=chaos.engineering/target=' + old['id']).strip(), timeout=60)


def _kube_system_pod(api, cfg, name):
    taint = taint_of(cfg)
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            containers=[client.V1Container(name='hello', image=cfg['CHAOS_NODE_IMAGE_HELLO'],
                                           image_pull_policy='Never')],
            node_selector={'kubernetes.io/hostname': cfg['CHAOS_NODE_NAME']},
            tolerations=[client.V1Toleration(key=taint[0], operator='Equal', value=taint[1], effect=taint[2])]
            if taint else None,
            automount_service_account_token=False, enable_service_links=False,
            termination_grace_period_seconds=1))
    api['core'].create_namespaced_pod('kube-system', pod)
    return wait_for('the kube-system pod Ready', lambda: pod_ready(
        api['core'].read_namespaced_pod(name, 'kube-system')), timeout=120)


def test_kube_system_and_sandboxes_are_refused(real_node, api, namespace, tmp_path):
    cfg = real_node
    _hello(api, cfg, namespace)
    name = 'chaos-it-%s' % uuid.uuid4().hex[:6]
    try:
        _kube_system_pod(api, cfg, name)
        system, = [c for c in _containers(cfg, 'kube-system') if name in c['name']]
        since = time.time()
        refused = _run(tmp_path, cfg, 'container_kill', dict(
            labels={'io.kubernetes.pod.namespace': 'kube-system', 'io.kubernetes.pod.name': name}))
        assert refused.get('failed') and 'namespace kube-system is protected' in refused['msg'], refused
        sandboxes = _run(tmp_path, cfg, 'container_pause', dict(
            name_pattern='^k8s_POD_', labels={'io.kubernetes.pod.namespace': namespace}, duration=5))
        assert sandboxes.get('failed') and 'sandbox' in sandboxes['msg'], sandboxes
        # A wide selection skips them and names them protected.
        wide = _run(tmp_path, cfg, 'container_kill', dict(name_pattern='^k8s_'), check=True)
        assert not wide.get('failed'), wide.get('msg')
        picked = [t['name'] for t in wide['chaos']['targets']]
        assert picked and all(p.startswith('k8s_hello_') and '_kube-system_' not in p for p in picked), picked
        protected = wide['chaos']['selection']['protected']
        assert system['name'] in protected and any(p.startswith('k8s_POD_hello') for p in protected)
        for container in [system] + _containers(cfg, namespace, 'POD'):
            assert _events(cfg, container['id'], since, 'die') == []
            assert _events(cfg, container['id'], since, 'pause') == []
    finally:
        api['core'].delete_namespaced_pod(name, 'kube-system', grace_period_seconds=0)


def test_pause_of_a_pod_container_is_reverted_in_place_even_if_the_controller_is_sigkilled(real_node, api,
                                                                                           namespace, tmp_path):
    """The reverter holds for a kubelet's container: the controller dies the moment the pause shows, and the same
    container is unpaused at the deadline (the kubelet neither replaced nor restarted it)."""
    cfg = real_node
    _hello(api, cfg, namespace)
    old = _containers(cfg, namespace)[0]
    ledger = str(tmp_path / 'ledger')
    playbook = write(str(tmp_path / 'sigkill.yml'), '''\
        - name: A pause whose controller is SIGKILLed the moment it shows
          hosts: localhost
          gather_facts: false
          tasks:
            - name: The fault
              chaos.engineering.container_pause: "{{ fault_args }}"
            - name: Wait far past the deadline (never reached)
              ansible.builtin.pause:
                seconds: 300
        ''')
    extra = str(tmp_path / 'sigkill-vars.json')
    with open(extra, 'w') as handle:
        json.dump(dict(fault_args=dict(docker_host=cfg['CHAOS_NODE_DOCKER_HOST'], names=[old['name']], duration=3,
                                       ledger_dir=ledger)), handle)
    since = time.time()
    proc = subprocess.Popen(ansible_playbook_argv(playbook, extra), env=playbook_env(), cwd=str(tmp_path),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_for('the pause', lambda: proc.poll() is None and json.loads(docker_on_node(
            cfg, 'inspect', old['id']))[0]['State']['Paused'], timeout=120, interval=0.05)
        kill_controller(proc.pid)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    unpaused = wait_for('the unpause', lambda: _events(cfg, old['id'], since, 'unpause'), timeout=60)
    paused, = _events(cfg, old['id'], since, 'pause')
    assert unpaused[0] - paused < 3 + 10
    assert [e['status'] for e in wait_for('the entry', lambda: _done(ledger, old['id']), timeout=30)] == ['reverted']
    assert 2.5 < unpaused[0] - paused
    assert not json.loads(docker_on_node(cfg, 'inspect', old['id']))[0]['State']['Paused']
    assert [c['id'] for c in _containers(cfg, namespace) if c['state'] == 'running'] == [old['id']]
    assert _events(cfg, old['id'], since, 'start') == []
