"""The real node of tests/infra/node-bed.sh, for the k8s tests that need real containers: how to drive the bed,
read its settings, and write pods that land on it (it is tainted, so only pods that tolerate the taint do)."""
import os
import shlex
import subprocess
import threading
import time

from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

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


def pod_logs(api, namespace, name, tail_lines=40):
    """The last lines of a pod's log through the API server (kubelet logs), for assertion messages; the error's
    text when they cannot be read, so a message never hides the test's own failure."""
    try:
        return api['core'].read_namespaced_pod_log(name, namespace, tail_lines=tail_lines) or '(empty log)'
    except ApiException as exc:
        return '(no log of %s/%s: %s %s)' % (namespace, name, exc.status, (exc.body or '')[:300])


def pod_exec(api, namespace, name, argv, timeout=30):
    """Run ``argv`` in the pod's first container through the API server (exec); returns (stdout, stderr)."""
    resp = stream(api['core'].connect_get_namespaced_pod_exec, name, namespace, command=list(argv),
                  stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False)
    resp.run_forever(timeout=timeout)
    out, err = resp.read_stdout(), resp.read_stderr()
    resp.close()
    return out, err


def _ready_condition(pod):
    for condition in (pod.status and pod.status.conditions) or []:
        if condition.type == 'Ready':
            return condition
    return None


class ReadyWatch:
    """An independent measurement of pod readiness: the official client lists the pods every ``interval``
    seconds in a thread of the test and keeps, per pod UID, when it was first seen, first seen bound to a node,
    first seen terminating
    (deletionTimestamp set), first seen Ready and not terminating (the test's clock), its Ready condition's
    lastTransitionTime (the kubelet's, whole seconds), whether it was ever Ready while terminating, and when a
    pod once Ready was first seen not Ready while not terminating (a readiness probe lost)."""

    def __init__(self, api, namespace, selector, interval=0.1):
        self.api, self.namespace, self.selector, self.interval = api, namespace, selector, interval
        self.pods = {}
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._look()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                self._look()
            except Exception as exc:  # pylint: disable=broad-except
                self.errors.append(repr(exc))

    def _look(self):
        items = self.api['core'].list_namespaced_pod(self.namespace, label_selector=self.selector).items
        seen = time.time()
        for pod in items:
            rec = self.pods.setdefault(pod.metadata.uid, dict(
                name=pod.metadata.name, created=pod.metadata.creation_timestamp.timestamp(), first_seen=seen,
                scheduled_seen=None, terminating_seen=None, ready_seen=None, ready_transition=None,
                ready_while_terminating=False, unready_seen=None))
            if pod.spec.node_name and rec['scheduled_seen'] is None:
                rec['scheduled_seen'] = seen
            ready = _ready_condition(pod)
            is_ready = ready is not None and ready.status == 'True'
            if pod.metadata.deletion_timestamp is not None:
                if rec['terminating_seen'] is None:
                    rec['terminating_seen'] = seen
                rec['ready_while_terminating'] = rec['ready_while_terminating'] or is_ready
            elif is_ready and rec['ready_seen'] is None:
                rec['ready_seen'] = seen
                rec['ready_transition'] = ready.last_transition_time.timestamp()
            elif not is_ready and rec['ready_seen'] is not None and rec['unready_seen'] is None:
                rec['unready_seen'] = seen

    def replacements(self, after):
        """Pods created at or after ``after`` (epoch seconds; creationTimestamp has whole seconds)."""
        return [rec for rec in self.pods.values() if rec['created'] >= int(after)]
