"""k8s integration tests: ansible-playbook against a real Kubernetes API server.

- With KUBECONFIG set, the tests use that cluster unchanged (minikube, kind, ...): nothing is started or stopped.
- Otherwise they use the control plane of tests/infra/k8s-bed.sh (real kube-apiserver, controller-manager and
  scheduler, KWOK nodes), starting it when `status` says it is not up. The session stops it again only if it
  started it, and not when CHAOS_BED_KEEP is set.

Every test works in namespaces of its own (chaos-it-<random>), deleted afterwards.

Tests that need real containers take the `real_node` fixture: the real node of tests/infra/node-bed.sh, started
once for the session (with CHAOS_NODE_BED=1, as hack/test-all.sh sets when `node-bed.sh check` passes) or used as
found when it is up. Without it they skip, with the reason.
"""
import base64
import os
import shlex
import subprocess
import tempfile
import uuid
import warnings

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from helpers import ROOT, playbook_env, run_module_play
from k8s_helpers import TEST_LABEL
from node_helpers import k8s_bed_kubeconfig, node_bed, node_env

K8S_BED = os.path.join(ROOT, 'tests', 'infra', 'k8s-bed.sh')


def pytest_configure(config):  # pylint: disable=redefined-outer-name
    config.addinivalue_line('markers', 'k8s: needs a Kubernetes API (KUBECONFIG, or tests/infra/k8s-bed.sh)')
    config.addinivalue_line('markers',
                            'node_bed: needs a real node (tests/infra/node-bed.sh; CHAOS_NODE_BED=1 starts it)')


def _bed(*args, check=True):
    return subprocess.run(['bash', K8S_BED] + list(args), capture_output=True, text=True, check=check)


def _bed_kubeconfig():
    for line in _bed('env').stdout.splitlines():
        line = line.strip()
        if line.startswith('export KUBECONFIG='):
            return shlex.split(line[len('export KUBECONFIG='):])[0]
    raise RuntimeError('k8s-bed.sh env printed no KUBECONFIG')


@pytest.fixture(scope='session')
def kubeconfig():
    """The kubeconfig of the cluster under test."""
    if os.environ.get('KUBECONFIG'):
        yield os.environ['KUBECONFIG']
        return
    started = False
    if _bed('status', check=False).returncode != 0:
        proc = subprocess.run(['bash', K8S_BED, 'up'], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            # A half-started bed must not outlive the session: stop what did start.
            _bed('down', check=False)
            raise RuntimeError('k8s-bed.sh up failed:\n%s%s' % (proc.stdout, proc.stderr[-4000:]))
        started = True
    yield _bed_kubeconfig()
    if started and not os.environ.get('CHAOS_BED_KEEP'):
        _bed('down', check=False)


def _cluster_of(path):
    """Server URL and TLS material of the kubeconfig's current context (a merged KUBECONFIG: the first file)."""
    with open(path.split(os.pathsep)[0]) as handle:
        data = yaml.safe_load(handle)
    context_name = data.get('current-context')
    context = [c['context'] for c in data['contexts'] if c['name'] == context_name][0]
    cluster = [c['cluster'] for c in data['clusters'] if c['name'] == context['cluster']][0]
    return cluster


@pytest.fixture(scope='session')
def api(kubeconfig, tmp_path_factory):
    """The official client's APIs for set-up and checks, and how a token user reaches the same API server."""
    api_client = config.new_client_from_config(config_file=kubeconfig)
    cluster = _cluster_of(kubeconfig)
    ca_cert = cluster.get('certificate-authority')
    if cluster.get('certificate-authority-data'):
        ca_cert = str(tmp_path_factory.mktemp('k8s-ca') / 'ca.crt')
        with open(ca_cert, 'wb') as handle:
            handle.write(base64.b64decode(cluster['certificate-authority-data']))
    return dict(
        client=api_client,
        core=client.CoreV1Api(api_client),
        apps=client.AppsV1Api(api_client),
        policy=client.PolicyV1Api(api_client),
        rbac=client.RbacAuthorizationV1Api(api_client),
        kubeconfig=kubeconfig,
        host=cluster['server'],
        ca_cert=ca_cert,
        validate_certs=not cluster.get('insecure-skip-tls-verify', False),
    )


@pytest.fixture
def run_id():
    return uuid.uuid4().hex[:8]


@pytest.fixture
def make_namespace(api, run_id):
    """Create namespaces for this test (chaos-it-<run>-<n>); all are deleted afterwards."""
    made = []

    def make():
        name = 'chaos-it-%s-%d' % (run_id, len(made) + 1)
        api['core'].create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
            name=name, labels={TEST_LABEL: run_id})))
        made.append(name)
        return name
    yield make
    for name in made:
        try:
            api['core'].delete_namespace(name)
        except ApiException:
            pass


@pytest.fixture
def namespace(make_namespace):
    return make_namespace()


@pytest.fixture
def agent_ns(api, run_id):
    """The name of a namespace for the agent (the role or k8s_agent creates it); deleted afterwards."""
    name = 'chaos-it-%s-agent' % run_id
    yield name
    try:
        api['core'].delete_namespace(name)
    except ApiException:
        pass


@pytest.fixture
def run_module(api, tmp_path):
    """Run chaos.engineering.<module> in a playbook; the connection comes from group/chaos.engineering.k8s.

    ``auth`` replaces the kubeconfig in module_defaults (for example host + api_key). KUBECONFIG and K8S_AUTH_*
    are cleared for the run, so the connection can only come from the play.
    """
    def run(module, args, check=False, auth=None):
        env = dict((k, v) for k, v in playbook_env().items() if not k.startswith('K8S_AUTH_'))
        env['KUBECONFIG'] = os.path.join(tempfile.gettempdir(), 'no-such-kubeconfig-%s' % uuid.uuid4().hex)
        return run_module_play(tmp_path, module, args, 'k8s', auth or dict(kubeconfig=api['kubeconfig']),
                               check=check, env=env, timeout=900)
    return run


def _node_logs(lines=20):
    """The last lines of every log of the node bed (its state dir is removed by the down that follows)."""
    logs = os.path.join(node_env().get('CHAOS_NODE_BED_DIR', ''), 'logs')
    found = []
    for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
        with open(os.path.join(logs, name), errors='replace') as handle:
            found.append('--- %s\n%s' % (name, ''.join(handle.readlines()[-lines:])))
    return '\n'.join(found) or '(no node logs)'


class RealNode:
    """The session's real node: brought up at the first test that needs it (again if a test took it down), and
    down at the end of the session if the session started it."""

    def __init__(self, kubeconfig):
        self.kubeconfig = kubeconfig
        self.skip_reason = None
        self.started = False
        self.cfg = None
        self.before = None  # set by the node bed's own tests: the host as it was before the node

    def check(self):
        check = node_bed('check')
        if check.returncode != 0:
            return ('node-bed.sh check: this machine cannot run a real node: %s'
                    % '; '.join((check.stdout + check.stderr).split('\n')).strip('; '))
        if os.path.realpath(self.kubeconfig) != os.path.realpath(k8s_bed_kubeconfig() or '/nonexistent'):
            return 'KUBECONFIG is another cluster; the node bed joins the k8s bed (tests/infra/k8s-bed.sh) only'
        if node_bed('status').returncode != 0 and os.environ.get('CHAOS_NODE_BED') != '1':
            return ('the node bed is not up; set CHAOS_NODE_BED=1 to start it (the first run builds kubelet, '
                    'cri-dockerd and the CNI plugins)')
        return None

    def ensure_up(self):
        """The node's settings (node-bed.sh env), once it is Ready; skips the test when it cannot be."""
        if self.skip_reason is None and self.cfg is None:
            self.skip_reason = self.check()
        if self.skip_reason:
            pytest.skip(self.skip_reason)
        if node_bed('status').returncode != 0:
            # One more try after a failed start, which is kept as a warning with the node's logs: the bed is what
            # these tests stand on, not what they test (tests/integration/k8s/test_node_bed.py tests it).
            failures = []
            for dummy in range(2):
                up = node_bed('up', timeout=3600)
                if up.returncode == 0:
                    break
                failures.append('node-bed.sh up failed (rc %d):\n%s%s\n%s' % (
                    up.returncode, up.stdout, up.stderr[-4000:], _node_logs()))
                node_bed('down')
            else:
                pytest.fail('\n'.join(failures))
            if failures:
                warnings.warn('the real node started at the second try; the first:\n' + failures[0])
            self.started = True
        self.cfg = node_env()
        return self.cfg


@pytest.fixture(scope='session')
def real_node_session(kubeconfig):
    node = RealNode(kubeconfig)
    yield node
    if node.started and not os.environ.get('CHAOS_BED_KEEP'):
        node_bed('down')


@pytest.fixture
def real_node(real_node_session):
    """node-bed.sh env of the session's real node (CHAOS_NODE_NAME, CHAOS_NODE_DOCKER_HOST, CHAOS_NODE_TAINT...),
    Ready; the test skips when this machine cannot run it."""
    return real_node_session.ensure_up()
