"""A real node in the k8s bed (tests/infra/node-bed.sh): its pods run real containers, and it leaves the host as it
found it.

Opt-in (the session's `real_node`, conftest.py): runs when CHAOS_NODE_BED=1 is set (the first run builds kubelet, cri-dockerd and the CNI plugins: minutes
with the bed's Go build cache warm, 15-25 min cold) or when the node bed is already up. It skips, with the reason,
on a machine that cannot run the node (`node-bed.sh check`: e.g. no shared folder with cri-dockerd's source, as in
a user's clone) and when KUBECONFIG points at another cluster (the node joins the k8s bed's control plane only).

The module's tests run in order: the node comes up (unless it was up), a Deployment's pods answer HTTP from the
host while the host's firewall, sysctls and mount table are unchanged, and the node goes down again (only if this
module started it), after which nothing of it is left on the host; then once more after every daemon of the node
was SIGKILLed under a running pod.
"""
import glob
import os
import subprocess
import urllib.request

import pytest

from k8s_helpers import pod_ready, wait_for
import node_helpers
from node_helpers import docker_on_node, hello_deployment, node_env, taint_of

SYSCTLS = ('vm/overcommit_memory', 'kernel/panic', 'kernel/panic_on_oops', 'net/ipv4/ip_forward')
# mount points the kubelet and libcni hard-code; node-bed.sh only ever bind-mounts them inside its namespace
HARD_CODED_DIRS = ('/var/lib/kubelet', '/var/lib/cni')

pytestmark = [pytest.mark.integration, pytest.mark.k8s, pytest.mark.node_bed]


def _firewall_lines(cfg):
    """Every iptables/ip6tables line of the host that a kubelet, CNI or our dockerd would have written."""
    marks = ('KUBE-', 'CNI-', cfg['CHAOS_NODE_NET'] + '.', cfg['CHAOS_NODE_BRIDGE'])
    lines = []
    for tool in ('iptables-save', 'ip6tables-save'):
        proc = subprocess.run([tool], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, '%s failed: %s' % (tool, proc.stderr)
        lines += ['%s: %s' % (tool, line) for line in proc.stdout.splitlines()
                  if any(mark in line for mark in marks)]
    return lines


def _host_mounts_of(state):
    with open('/proc/self/mountinfo') as handle:
        return [line for line in handle
                if state in line or any(' %s ' % d in line for d in HARD_CODED_DIRS)]


def _sysctls():
    values = {}
    for name in SYSCTLS:
        with open('/proc/sys/' + name) as handle:
            values[name] = handle.read().strip()
    return values


def _processes_naming(state):
    found = []
    for path in glob.glob('/proc/[0-9]*/cmdline'):
        try:
            with open(path, 'rb') as handle:
                cmdline = handle.read().replace(b'\0', b' ').decode(errors='replace')
        except OSError:
            continue
        if state + '/' in cmdline and path.split('/')[2] != str(os.getpid()):
            found.append('%s: %s' % (path.split('/')[2], cmdline[:200]))
    return found


def _host_snapshot(cfg):
    return dict(
        firewall=_firewall_lines(cfg),
        mounts=_host_mounts_of(cfg['CHAOS_NODE_BED_DIR']),
        sysctls=_sysctls(),
        dirs=dict((d, os.path.exists(d)) for d in HARD_CODED_DIRS),
    )


@pytest.fixture(scope='module')
def node_bed(real_node_session):
    """The node, started here with the host recorded before; when the session's real node is already up (another
    module's tests started it), it is taken down first, so the host is recorded without it. A node that was up
    before the session is not ours: used as found, and the down tests skip."""
    session = real_node_session
    reason = session.check()
    if reason:
        pytest.skip(reason)
    up_before = node_helpers.node_bed('status').returncode == 0
    if up_before and session.started:
        down = node_helpers.node_bed('down')
        assert down.returncode == 0, down.stdout + down.stderr
    ours = not up_before or session.started
    cfg = node_env()
    before = _host_snapshot(cfg) if ours else None
    cfg = session.ensure_up()
    session.started = session.started or ours
    state = dict(cfg=cfg, before=before, started=ours, down=False)
    yield state


def test_node_is_ready_and_real(node_bed, api):
    node = api['core'].read_node(node_bed['cfg']['CHAOS_NODE_NAME'])
    conditions = dict((c.type, c.status) for c in node.status.conditions)
    assert conditions.get('Ready') == 'True', conditions
    assert node.status.node_info.container_runtime_version.startswith('docker://'), node.status.node_info
    assert node.status.node_info.kubelet_version.startswith('v1.'), node.status.node_info
    assert node.metadata.labels.get('chaos.engineering/real-node') == 'true', node.metadata.labels
    taint = taint_of(node_bed['cfg'])
    if taint:  # pods written for the KWOK nodes must stay off the real node
        assert taint in [(t.key, t.value or '', t.effect) for t in node.spec.taints or []], node.spec.taints
    # a KWOK node is annotated as fake; this one must not be
    assert 'kwok.x-k8s.io/node' not in (node.metadata.annotations or {})


def test_pods_run_real_containers_and_answer_http(node_bed, api, namespace):
    cfg = node_bed['cfg']
    replicas = 2
    api['apps'].create_namespaced_deployment(namespace, hello_deployment('hello', cfg, replicas))

    def ready_pods():
        pods = api['core'].list_namespaced_pod(namespace, label_selector='app=hello').items
        ready = [p for p in pods if pod_ready(p)]
        return ready if len(ready) == replicas else None
    pods = wait_for('%d hello pods Ready on the real node' % replicas, ready_pods, timeout=180)

    for pod in pods:
        assert pod.spec.node_name == cfg['CHAOS_NODE_NAME']
        assert pod.status.pod_ip.startswith(cfg['CHAOS_NODE_NET'] + '.'), pod.status.pod_ip
        container_id = pod.status.container_statuses[0].container_id
        assert container_id.startswith('docker://'), container_id
        # the container is real: the node's dockerd runs it, under the kubelet's name
        inspect = docker_on_node(cfg, 'inspect', '-f', '{{.State.Running}} {{.Name}}',
                                 container_id[len('docker://'):])
        assert inspect.strip().startswith('true /k8s_hello_%s_%s_' % (pod.metadata.name, namespace)), inspect
        # and it answers HTTP from the host, over the node's bridge
        with urllib.request.urlopen('http://%s:8080/cgi-bin/host' % pod.status.pod_ip, timeout=10) as reply:
            assert reply.status == 200
            assert reply.read().decode().strip() == pod.metadata.name

    # while the node runs, the host is as it was (only checkable when this module started the node)
    if node_bed['before'] is not None:
        now = _host_snapshot(cfg)
        assert now['firewall'] == node_bed['before']['firewall'], 'the node changed the host firewall'
        assert now['sysctls'] == node_bed['before']['sysctls'], 'the node changed host sysctls'
        assert now['mounts'] == node_bed['before']['mounts'], 'the node mounted on the host'


def _assert_nothing_left(cfg, before, api):
    state = cfg['CHAOS_NODE_BED_DIR']
    assert node_helpers.node_bed('status').returncode != 0
    assert not os.path.exists(state), 'state dir left: %s' % state
    assert _processes_naming(state) == [], 'processes left'
    assert subprocess.run(['ip', 'link', 'show', cfg['CHAOS_NODE_BRIDGE']], capture_output=True,
                          check=False).returncode != 0, 'bridge %s left' % cfg['CHAOS_NODE_BRIDGE']
    assert glob.glob('/sys/fs/cgroup/*/%s' % cfg['CHAOS_NODE_CGROUP']) == [], 'cgroups left'
    after = _host_snapshot(cfg)
    assert [line for line in after['mounts'] if state in line] == [], 'mounts left'
    assert after['mounts'] == before['mounts'], 'mounts left'
    assert after['dirs'] == before['dirs'], 'hard-coded mount points left'
    assert after['firewall'] == before['firewall'], 'firewall changed'
    assert after['sysctls'] == before['sysctls'], 'sysctls changed'
    names = [n.metadata.name for n in api['core'].list_node().items]
    assert cfg['CHAOS_NODE_NAME'] not in names, names


def test_down_leaves_nothing_on_the_host(node_bed, api):
    if not node_bed['started']:
        pytest.skip('the node bed was up before this module; not ours to take down')
    down = node_helpers.node_bed('down', timeout=600)
    node_bed['down'] = True
    assert down.returncode == 0, down.stdout + down.stderr
    _assert_nothing_left(node_bed['cfg'], node_bed['before'], api)


def _alive(pid):
    """The process exists and is no zombie (a zombie is dead, only not yet reaped by its parent)."""
    try:
        with open('/proc/%d/status' % pid) as handle:
            states = [line.split()[1] for line in handle if line.startswith('State:')]
    except OSError:
        return False
    return states != ['Z']


def test_down_after_a_crash_leaves_nothing(node_bed, api, namespace):
    """Every daemon of the node SIGKILLed (a CI job killed mid-run): down still finds and removes all of it,
    the pods' containers too, which outlive their dockerd."""
    if not node_bed['started']:
        pytest.skip('the node bed was up before this module; not ours to take down')
    cfg = node_bed['cfg']
    up = node_helpers.node_bed('up', timeout=600)
    node_bed['down'] = False
    assert up.returncode == 0, up.stdout + up.stderr
    api['apps'].create_namespaced_deployment(namespace, hello_deployment('hello', cfg, 1))
    wait_for('a hello pod Ready on the real node', lambda: [
        p for p in api['core'].list_namespaced_pod(namespace, label_selector='app=hello').items if pod_ready(p)],
        timeout=180)
    pids = set()
    for path in glob.glob('/sys/fs/cgroup/pids/%s/**/cgroup.procs' % cfg['CHAOS_NODE_CGROUP'], recursive=True):
        with open(path) as handle:
            pids.update(int(line) for line in handle if line.strip())
    assert pids, 'no process in the node\'s cgroup while a pod runs'
    for name in ('kubelet', 'cri-dockerd', 'dockerd', 'holder'):
        with open(os.path.join(cfg['CHAOS_NODE_BED_DIR'], 'pids', name + '.pid')) as handle:
            os.kill(int(handle.read().strip()), 9)
    assert any(_alive(pid) for pid in pids), 'the containers died with their daemons: nothing left to test'

    down = node_helpers.node_bed('down', timeout=600)
    node_bed['down'] = True
    assert down.returncode == 0, down.stdout + down.stderr
    assert [pid for pid in pids if _alive(pid)] == [], 'pod processes left'
    _assert_nothing_left(cfg, node_bed['before'], api)
