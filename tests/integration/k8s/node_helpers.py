"""The real node of tests/infra/node-bed.sh, for the k8s tests that need real containers: how to drive the bed,
read its settings, and write pods that land on it (it is tainted, so only pods that tolerate the taint do)."""
import os
import shlex
import subprocess

from kubernetes import client

from helpers import ROOT

NODE_BED = os.path.join(ROOT, 'tests', 'infra', 'node-bed.sh')
K8S_BED = os.path.join(ROOT, 'tests', 'infra', 'k8s-bed.sh')


def node_bed(*args, timeout=600):
    return subprocess.run(['bash', NODE_BED] + list(args), capture_output=True, text=True, check=False,
                          timeout=timeout)


def node_env():
    """node-bed.sh env as a dict: CHAOS_NODE_NAME, CHAOS_NODE_IP, CHAOS_NODE_DOCKER_HOST, CHAOS_NODE_TAINT, ..."""
    env = {}
    for line in node_bed('env').stdout.splitlines():
        if line.startswith('export '):
            key, dummy, value = line[len('export '):].partition('=')
            words = shlex.split(value)
            env[key] = words[0] if words else ''
    return env


def k8s_bed_kubeconfig():
    out = subprocess.run(['bash', K8S_BED, 'env'], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        if line.startswith('export KUBECONFIG='):
            return shlex.split(line[len('export KUBECONFIG='):])[0]
    return None


def taint_of(cfg):
    """CHAOS_NODE_TAINT (KEY=VALUE:EFFECT) as (key, value, effect), or None."""
    if not cfg.get('CHAOS_NODE_TAINT'):
        return None
    key, dummy, rest = cfg['CHAOS_NODE_TAINT'].partition('=')
    value, dummy, effect = rest.rpartition(':')
    return key, value, effect


def tolerations(cfg):
    """The node's taint as a toleration (dict form, for playbooks and role variables), or []."""
    taint = taint_of(cfg)
    return [dict(key=taint[0], operator='Equal', value=taint[1], effect=taint[2])] if taint else []


def hello_deployment(name, cfg, replicas, labels=None, ready_period=2):
    """A Deployment of the node's hello image (HTTP on 8080: /cgi-bin/host answers the pod's name), pinned to the
    real node; readiness is probed every ``ready_period`` seconds and lost at the first failure."""
    labels = dict(labels or {}, app=name)
    taint = taint_of(cfg)
    node_tolerations = [client.V1Toleration(key=taint[0], operator='Equal', value=taint[1], effect=taint[2])] \
        if taint else None
    container = client.V1Container(
        name='hello', image=cfg['CHAOS_NODE_IMAGE_HELLO'], image_pull_policy='Never',
        ports=[client.V1ContainerPort(container_port=8080)],
        readiness_probe=client.V1Probe(http_get=client.V1HTTPGetAction(path='/', port=8080),
                                       period_seconds=ready_period, failure_threshold=1))
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas, selector=client.V1LabelSelector(match_labels={'app': name}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    containers=[container], node_selector={'kubernetes.io/hostname': cfg['CHAOS_NODE_NAME']},
                    tolerations=node_tolerations,
                    automount_service_account_token=False, enable_service_links=False,
                    termination_grace_period_seconds=2))))


def docker_on_node(cfg, *args):
    """The docker CLI against the node's own dockerd; returns stdout (asserts success)."""
    proc = subprocess.run(['docker', '-H', cfg['CHAOS_NODE_DOCKER_HOST']] + list(args), capture_output=True,
                          text=True, check=False, timeout=60)
    assert proc.returncode == 0, (args, proc.stderr)
    return proc.stdout


def node_docker_socket(cfg):
    """The path of the node's dockerd socket (CHAOS_NODE_DOCKER_HOST without unix://): the agent's runtime_socket."""
    return cfg['CHAOS_NODE_DOCKER_HOST'][len('unix://'):]


def sandboxes_on_node(cfg, namespace):
    """{pod name: sorted ids of every sandbox container (k8s_POD_..., running or not)} of a namespace's pods on the
    node: a killed sandbox is replaced by a new one, so an untouched pod keeps exactly the one it had."""
    out = docker_on_node(cfg, 'ps', '-a', '--no-trunc', '--filter', 'label=io.kubernetes.pod.namespace=%s' % namespace,
                         '--filter', 'label=io.kubernetes.docker.type=podsandbox',
                         '--format', '{{.ID}} {{.Label "io.kubernetes.pod.name"}}')
    found = {}
    for line in out.split('\n'):
        if line.strip():
            cid, pod = line.split()
            found.setdefault(pod, []).append(cid)
    return dict((pod, sorted(ids)) for pod, ids in found.items())


def restarts(pod):
    return sum(c.restart_count for c in pod.status.container_statuses or [])
