"""The agent DaemonSet's pure parts: options -> manifest and Pumba args, runtime sockets, expiry, readiness."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import (
    _k8s_agent_expiry,
    _k8s_agent_manifest,
    _k8s_agent_options,
    _k8s_agent_rollout,
)
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_selection import (
    DEFAULT_EXCLUDED_NAMESPACES,
    K8S_POD_SELECTION_ARGUMENT_SPEC,
)
from ansible_collections.chaos.engineering.plugins.module_utils._selection import is_protected

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


def params(**kwargs):
    """Module params as AnsibleModule hands them over: every option, defaults applied."""
    values = dict((key, spec.get('default')) for key, spec in _k8s_agent_options.AGENT_ARGUMENT_SPEC.items())
    values.update(kwargs)
    return values


def container(manifest):
    return manifest['spec']['template']['spec']['containers'][0]


def test_default_manifest_is_the_pumba_kill_loop_with_our_labels():
    manifest = _k8s_agent_manifest.daemonset_manifest(params())
    assert manifest['apiVersion'] == 'apps/v1' and manifest['kind'] == 'DaemonSet'
    assert manifest['metadata']['name'] == 'chaos-agent'
    assert manifest['metadata']['namespace'] == 'chaos-engineering'
    assert 'annotations' not in manifest['metadata']
    ours = {'app.kubernetes.io/managed-by': 'chaos.engineering', 'chaos.engineering/agent': 'chaos-agent',
            'chaos.engineering/protected': 'true', 'app.kubernetes.io/name': 'chaos-agent'}
    assert manifest['metadata']['labels'] == ours
    pod_labels = manifest['spec']['template']['metadata']['labels']
    assert pod_labels == dict(ours, **{'com.gaiaadm.pumba': 'true'})
    assert manifest['spec']['selector'] == {'matchLabels': {'chaos.engineering/agent': 'chaos-agent'}}
    # The selector must match the template, or the API server refuses the DaemonSet.
    assert all(pod_labels[k] == v for k, v in manifest['spec']['selector']['matchLabels'].items())

    main = container(manifest)
    assert main['image'] == 'ghcr.io/alexei-led/pumba:1.1.2'
    assert main['args'] == ['--random', '--interval', '30s', 'kill', '--signal', 'SIGKILL',
                            're2:^k8s_[a-z0-9-]+_[^_]+_default_']
    assert main['resources'] == _k8s_agent_manifest.DEFAULT_RESOURCES
    assert main['volumeMounts'] == [{'name': 'runtime-socket', 'mountPath': '/var/run/docker.sock',
                                     'readOnly': True}]
    spec = manifest['spec']['template']['spec']
    assert spec['volumes'] == [{'name': 'runtime-socket',
                                'hostPath': {'path': '/var/run/docker.sock', 'type': 'Socket'}}]
    assert spec['automountServiceAccountToken'] is False
    assert 'nodeSelector' not in spec and 'tolerations' not in spec
    assert 'ownerReferences' not in manifest['metadata']


def test_the_agent_runs_with_no_capability_no_escalation_and_a_read_only_root():
    main = container(_k8s_agent_manifest.daemonset_manifest(params()))
    assert main['securityContext'] == {
        'privileged': False, 'allowPrivilegeEscalation': False, 'readOnlyRootFilesystem': True, 'runAsUser': 0,
        'capabilities': {'drop': ['ALL']}, 'seccompProfile': {'type': 'RuntimeDefault'}}
    spec = _k8s_agent_manifest.daemonset_manifest(params())['spec']['template']['spec']
    assert spec['securityContext'] == {'seccompProfile': {'type': 'RuntimeDefault'}}
    assert spec['enableServiceLinks'] is False
    for host in ('hostNetwork', 'hostPID', 'hostIPC'):
        assert host not in spec
    assert main['resources']['limits'] == {'cpu': '100m', 'memory': '64Mi'}
    # Each manifest has its own copy: a caller changing one never changes the next.
    main['securityContext']['capabilities']['drop'].append('x')
    assert container(_k8s_agent_manifest.daemonset_manifest(params()))['securityContext']['capabilities'] == {'drop': ['ALL']}


def test_privileged_is_the_escape_hatch_without_the_contradicting_fields():
    context = container(_k8s_agent_manifest.daemonset_manifest(params(privileged=True)))['securityContext']
    # The API server refuses privileged with allowPrivilegeEscalation=false; capabilities are moot then.
    assert context == {'privileged': True, 'readOnlyRootFilesystem': True, 'runAsUser': 0}


@pytest.mark.parametrize('image, pinned', [
    ('ghcr.io/alexei-led/pumba:1.1.2', True),
    ('ghcr.io/alexei-led/pumba@sha256:' + 'a' * 64, True),
    ('registry.local:5000/pumba:1.1.2', True),
    ('ghcr.io/alexei-led/pumba', False),
    ('registry.local:5000/pumba', False),
    ('pumba:latest', False),
    ('ghcr.io/alexei-led/pumba:latest', False),
])
def test_image_warning_for_an_untagged_or_latest_image(image, pinned):
    warning = _k8s_agent_manifest.image_warning(image)
    assert (warning is None) is pinned, warning
    if not pinned:
        assert image in warning and 'pin a version (ghcr.io/alexei-led/pumba:1.1.2)' in warning


def test_default_image_is_pinned():
    assert _k8s_agent_manifest.image_warning(_k8s_agent_options.DEFAULT_IMAGE) is None
    assert _k8s_agent_options.AGENT_ARGUMENT_SPEC['image']['default'] == 'ghcr.io/alexei-led/pumba:%s' % _k8s_agent_options.PUMBA_VERSION


def test_expiry_job_creates_no_pod_fails_at_the_deadline_and_is_deleted_at_once():
    job = _k8s_agent_manifest.expiry_job_manifest(params(name='a1', namespace='ns'), '2026-11-27T12:10:00.000Z', 600)
    assert job['apiVersion'] == 'batch/v1' and job['kind'] == 'Job'
    assert job['metadata']['name'] == 'a1' and job['metadata']['namespace'] == 'ns'
    assert job['metadata']['annotations'] == {'chaos.engineering/expires': '2026-11-27T12:10:00.000Z'}
    assert _k8s_agent_manifest.is_ours(job) and job['metadata']['labels']['app.kubernetes.io/component'] == 'expiry'
    spec = job['spec']
    assert (spec['parallelism'], spec['activeDeadlineSeconds'], spec['ttlSecondsAfterFinished']) == (0, 600, 0)
    pod = spec['template']['spec']
    assert pod['nodeSelector'] == _k8s_agent_manifest.NEVER_SCHEDULED and pod['restartPolicy'] == 'Never'
    assert pod['automountServiceAccountToken'] is False
    assert pod['containers'][0]['securityContext'] == _k8s_agent_manifest.RESTRICTED_SECURITY_CONTEXT
    labels = spec['template']['metadata']['labels']
    # Never an agent pod (the agent's pods are listed by chaos.engineering/agent), always protected.
    assert 'chaos.engineering/agent' not in labels and is_protected({'labels': labels})


def test_the_daemonset_is_owned_by_its_expiry_job():
    job = {'metadata': {'name': 'a1', 'uid': 'u-1'}}
    manifest = _k8s_agent_manifest.daemonset_manifest(params(name='a1'), '2026-11-27T12:10:00.000Z', 600, owner=job)
    assert manifest['metadata']['ownerReferences'] == [{
        'apiVersion': 'batch/v1', 'kind': 'Job', 'name': 'a1', 'uid': 'u-1', 'controller': False,
        'blockOwnerDeletion': True}]
    assert _k8s_agent_expiry.owned_by(manifest, job) and not _k8s_agent_expiry.owned_by(manifest, {'metadata': {'uid': 'u-2'}})


@pytest.mark.parametrize('expires, start, seconds', [
    (NOW + datetime.timedelta(seconds=600), NOW, 600),
    (NOW + datetime.timedelta(seconds=600.2), NOW, 601),
    (NOW + datetime.timedelta(seconds=20), NOW - datetime.timedelta(seconds=100), 120),
    (NOW, NOW, 1),
])
def test_deadline_seconds_counts_from_the_jobs_start_rounded_up(expires, start, seconds):
    assert _k8s_agent_expiry.deadline_seconds(expires, start) == seconds


def test_job_start_and_finished():
    job = {'metadata': {'creationTimestamp': '2026-11-27T11:59:00Z'}, 'status': {}}
    assert _k8s_agent_expiry.job_start(job) == NOW - datetime.timedelta(seconds=60)
    job['status']['startTime'] = '2026-11-27T11:59:30Z'
    assert _k8s_agent_expiry.job_start(job) == NOW - datetime.timedelta(seconds=30)
    assert not _k8s_agent_expiry.job_finished(job)
    for kind in ('Failed', 'FailureTarget', 'Complete'):
        assert _k8s_agent_expiry.job_finished({'status': {'conditions': [{'type': kind, 'status': 'True'}]}})
    assert not _k8s_agent_expiry.job_finished({'status': {'conditions': [{'type': 'Failed', 'status': 'False'}]}})
    assert _k8s_agent_expiry.job_finished({'metadata': {'deletionTimestamp': '2026-11-27T12:00:00Z'}})


@pytest.mark.parametrize('expires_at, refused', [
    ('2026-11-27T11:00:00Z', True),
    ('2026-11-27T12:00:00Z', True),
    ('2026-11-27T12:00:01Z', False),
    ('2026-11-27T13:00:00+00:00', False),
    (None, False),
    ('garbage', False),   # validate_params names it
])
def test_an_expiry_in_the_past_is_refused(expires_at, refused):
    message = _k8s_agent_options.expiry_in_the_past(params(expires_at=expires_at), NOW)
    assert (message is not None) is refused
    if refused:
        assert 'is not in the future' in message and expires_at in message
    assert _k8s_agent_options.expiry_in_the_past(params(expires_at=expires_at, state='absent'), NOW) is None


def test_agent_pods_are_protected_from_pod_chaos():
    manifest = _k8s_agent_manifest.daemonset_manifest(params())
    assert is_protected({'labels': manifest['spec']['template']['metadata']['labels']})
    # ...and the default namespace is one k8s_pod_chaos never selects in unless told to.
    assert manifest['metadata']['namespace'] in DEFAULT_EXCLUDED_NAMESPACES
    assert K8S_POD_SELECTION_ARGUMENT_SPEC['exclude_namespaces']['default'] == DEFAULT_EXCLUDED_NAMESPACES


def test_default_pattern_matches_only_the_target_namespace_containers():
    pattern = re.compile(_k8s_agent_manifest.default_pattern('docker'))
    assert pattern.search('k8s_web_web-7f9c5d8b4-x2k8p_default_0b6f2c1e-4d0a_0')
    # the sandbox is not an app container: killing it rebuilds the whole pod (kill_sandboxes opts in)
    assert not pattern.search('k8s_POD_web-7f9c5d8b4-x2k8p_default_0b6f2c1e-4d0a_0')
    assert not pattern.search('k8s_coredns_coredns-5d78c9869d-abcde_kube-system_1234_0')
    assert not pattern.search('k8s_agent_chaos-agent-x2k8p_chaos-engineering_1234_0')
    assert not pattern.search('k8s_web_web-1_default-extra_1234_0')
    shop = re.compile(_k8s_agent_manifest.default_pattern('containerd', 'shop'))
    assert shop.search('shop/web-1/web') and not shop.search('default/web-1/web')
    args = _k8s_agent_manifest.build_args(params(target_namespace='shop'))
    assert args[-1] == 're2:^k8s_[a-z0-9-]+_[^_]+_shop_'


def test_kill_sandboxes_widens_the_default_pattern_to_the_sandboxes_of_the_namespace_only():
    args = _k8s_agent_manifest.build_args(params(target_namespace='shop', kill_sandboxes=True))
    pattern = re.compile(args[-1][len('re2:'):])
    assert pattern.search('k8s_POD_web-1_shop_0b6f_0') and pattern.search('k8s_web_web-1_shop_0b6f_0')
    assert not pattern.search('k8s_POD_coredns-1_kube-system_1234_0')
    assert not pattern.search('k8s_POD_chaos-agent-x2k8p_chaos-engineering_1234_0')


def test_kill_sandboxes_is_refused_where_it_cannot_work():
    assert any('docker runtime only' in e for e in _k8s_agent_options.validate_params(
        params(kill_sandboxes=True, runtime_socket='containerd')))
    assert any('whole command' in e for e in _k8s_agent_options.validate_params(params(kill_sandboxes=True, args=['--help'])))
    assert any('write the sandboxes into it' in e for e in _k8s_agent_options.validate_params(
        params(kill_sandboxes=True, pattern='^k8s_web_')))
    assert not _k8s_agent_options.validate_params(params(kill_sandboxes=True))


def test_containerd_socket_adds_pumbas_containerd_options():
    manifest = _k8s_agent_manifest.daemonset_manifest(params(runtime_socket='containerd', privileged=True))
    main = container(manifest)
    assert main['args'] == ['--random', '--interval', '30s', '--runtime', 'containerd', '--containerd-socket',
                            '/run/containerd/containerd.sock', '--containerd-namespace', 'k8s.io',
                            'kill', '--signal', 'SIGKILL', 're2:^default/']
    assert main['volumeMounts'][0]['mountPath'] == '/run/containerd/containerd.sock'
    assert manifest['spec']['template']['spec']['volumes'][0]['hostPath']['path'] == '/run/containerd/containerd.sock'
    assert main['securityContext'] == _k8s_agent_manifest.PRIVILEGED_SECURITY_CONTEXT


@pytest.mark.parametrize('socket, runtime, expected', [
    ('docker', None, ('docker', '/var/run/docker.sock', '/var/run/docker.sock')),
    ('containerd', None, ('containerd', '/run/containerd/containerd.sock', '/run/containerd/containerd.sock')),
    ('/run/k3s/containerd/containerd.sock', None,
     ('containerd', '/run/k3s/containerd/containerd.sock', '/run/containerd/containerd.sock')),
    ('/run/docker.sock', None, ('docker', '/run/docker.sock', '/var/run/docker.sock')),
    ('/run/cri.sock', 'containerd', ('containerd', '/run/cri.sock', '/run/containerd/containerd.sock')),
    ('containerd', 'containerd', ('containerd', '/run/containerd/containerd.sock', '/run/containerd/containerd.sock')),
])
def test_runtime_socket_resolves_to_node_path_and_mount(socket, runtime, expected):
    assert _k8s_agent_options.resolve_runtime(socket, runtime) == expected


@pytest.mark.parametrize('socket, runtime, message', [
    ('var/run/docker.sock', None, 'absolute path'),
    ('podman', None, 'absolute path'),
    ('docker', 'containerd', 'contradicts'),
])
def test_bad_runtime_socket_is_refused(socket, runtime, message):
    with pytest.raises(_k8s_agent_options.AgentError, match=message):
        _k8s_agent_options.resolve_runtime(socket, runtime)


def test_custom_path_mounts_where_pumba_looks():
    manifest = _k8s_agent_manifest.daemonset_manifest(params(runtime_socket='/run/docker.sock'))
    assert manifest['spec']['template']['spec']['volumes'][0]['hostPath'] == {'path': '/run/docker.sock',
                                                                              'type': 'Socket'}
    assert container(manifest)['volumeMounts'][0]['mountPath'] == '/var/run/docker.sock'


def test_args_replace_the_built_command_and_options_fill_the_pod_spec():
    tolerations = [{'operator': 'Exists'}]
    manifest = _k8s_agent_manifest.daemonset_manifest(params(
        name='netem', namespace='tools', args=['--interval', '5m', 'netem', 'delay'], image='example/pumba:1.0',
        image_pull_policy='Always', node_selector={'pool': 'chaos', 'zone': 1}, tolerations=tolerations,
        resources={'limits': {'memory': '32Mi'}}))
    main = container(manifest)
    assert main['args'] == ['--interval', '5m', 'netem', 'delay']
    assert main['image'] == 'example/pumba:1.0' and main['imagePullPolicy'] == 'Always'
    assert main['resources'] == {'limits': {'memory': '32Mi'}}
    spec = manifest['spec']['template']['spec']
    assert spec['nodeSelector'] == {'pool': 'chaos', 'zone': '1'}
    assert spec['tolerations'] == tolerations and spec['tolerations'] is not tolerations
    assert manifest['metadata']['labels']['chaos.engineering/agent'] == 'netem'
    assert manifest['metadata']['namespace'] == 'tools'


def test_interval_signal_and_random_build_the_args():
    assert _k8s_agent_manifest.build_args(params(interval='90', signal='SIGTERM', random=False, pattern='^k8s_web_')) == [
        '--interval', '90s', 'kill', '--signal', 'SIGTERM', 're2:^k8s_web_']


@pytest.mark.parametrize('value, expected', [('30s', '30s'), ('1m30s', '1m30s'), ('45', '45s'), (5, '5s'),
                                             ('1.5h', '1.5h'), ('250ms', '250ms')])
def test_interval_normalizes_to_a_go_duration(value, expected):
    assert _k8s_agent_options.normalize_interval(value) == expected


@pytest.mark.parametrize('value', ['0s', '0', '30 sec', 's', '-5s', '1d', ''])
def test_bad_interval_is_refused(value):
    with pytest.raises(_k8s_agent_options.AgentError, match='positive Go duration'):
        _k8s_agent_options.normalize_interval(value)


def test_expiry_annotations():
    manifest = _k8s_agent_manifest.daemonset_manifest(params(), expires_at='2026-11-27T13:00:00.000Z', duration=3600)
    assert manifest['metadata']['annotations'] == {'chaos.engineering/expires': '2026-11-27T13:00:00.000Z',
                                                   'chaos.engineering/duration': '3600'}
    # Never on the pod template: a new deadline must not restart the agent's pods.
    assert 'annotations' not in manifest['spec']['template']['metadata']


def existing_with(expires, duration):
    return {'metadata': {'annotations': {'chaos.engineering/expires': expires,
                                         'chaos.engineering/duration': str(duration)}}}


def test_plan_expiry_counts_from_the_first_deploy_with_that_duration():
    assert _k8s_agent_expiry.plan_expiry(params(), None, NOW) == (None, None)
    assert _k8s_agent_expiry.plan_expiry(params(duration=600), None, NOW) == ('2026-11-27T12:10:00.000Z', 600)
    # An identical re-run keeps the deadline (so it is idempotent)...
    kept = existing_with('2026-11-27T12:05:00.000Z', 600)
    assert _k8s_agent_expiry.plan_expiry(params(duration=600), kept, NOW) == ('2026-11-27T12:05:00.000Z', 600)
    # ...another duration, or a deadline already passed, start a new one.
    assert _k8s_agent_expiry.plan_expiry(params(duration=60), kept, NOW) == ('2026-11-27T12:01:00.000Z', 60)
    passed = existing_with('2026-11-27T11:59:00.000Z', 600)
    assert _k8s_agent_expiry.plan_expiry(params(duration=600), passed, NOW) == ('2026-11-27T12:10:00.000Z', 600)
    assert _k8s_agent_expiry.plan_expiry(params(expires_at='2026-11-28T01:00:00+01:00'), kept, NOW) == (
        '2026-11-28T00:00:00.000Z', None)


def test_is_expired_reads_the_annotation():
    assert _k8s_agent_expiry.is_expired(existing_with('2026-11-27T11:59:59Z', 1), NOW)
    assert _k8s_agent_expiry.is_expired(existing_with('2026-11-27T12:00:00Z', 1), NOW)
    assert not _k8s_agent_expiry.is_expired(existing_with('2026-11-27T12:00:01Z', 1), NOW)
    assert not _k8s_agent_expiry.is_expired({'metadata': {}}, NOW)
    assert not _k8s_agent_expiry.is_expired(existing_with('not a time', 1), NOW)


@pytest.mark.parametrize('text, expected', [
    ('2026-11-27T12:00:00Z', NOW),
    ('2026-11-27T12:00:00.000Z', NOW),
    ('2026-11-27T13:00:00+01:00', NOW),
    ('2026-11-27T12:00:00', NOW),
])
def test_parse_time(text, expected):
    assert _k8s_agent_options.parse_time(text) == expected


def test_parse_time_refuses_garbage():
    with pytest.raises(ValueError, match='ISO-8601'):
        _k8s_agent_options.parse_time('tomorrow')


def ds(generation=2, observed=2, desired=3, updated=3, ready=3, available=3):
    return {'metadata': {'generation': generation},
            'status': {'observedGeneration': observed, 'desiredNumberScheduled': desired,
                       'updatedNumberScheduled': updated, 'numberReady': ready, 'numberAvailable': available}}


@pytest.mark.parametrize('obj, ready', [
    (ds(), True),
    (ds(observed=1), False),              # the controller has not seen the new spec yet
    (ds(updated=2), False),               # an old pod still runs somewhere
    (ds(ready=2), False),
    (ds(available=2), False),
    (ds(desired=0, updated=0, ready=0, available=0), True),
    ({'metadata': {'generation': 1}}, False),   # no status yet
])
def test_rollout_is_ready_only_on_every_node(obj, ready):
    assert _k8s_agent_rollout.rollout(obj)[0] is ready


def test_describe_rollout_names_every_count():
    text = _k8s_agent_rollout.describe_rollout(_k8s_agent_rollout.rollout(ds(observed=1, ready=1))[1])
    assert text == 'desired 3, updated 3, ready 1, available 3 (generation 2 observed 1)'


def test_comparable_ignores_server_annotations_and_status():
    one = {'metadata': {'labels': {'a': '1'}, 'annotations': {'deprecated.daemonset.template.generation': '1'},
                        'resourceVersion': '1', 'generation': 1}, 'spec': {'x': 1}, 'status': {'numberReady': 0}}
    two = {'metadata': {'labels': {'a': '1'}, 'annotations': {'deprecated.daemonset.template.generation': '2'},
                        'resourceVersion': '9', 'generation': 2}, 'spec': {'x': 1}, 'status': {'numberReady': 3}}
    assert not _k8s_agent_manifest.differs(one, two)
    assert _k8s_agent_manifest.differs(one, dict(two, spec={'x': 2}))
    assert _k8s_agent_manifest.differs(one, {'metadata': {'labels': {'a': '1'}, 'annotations': {'chaos.engineering/expires': 'x'}},
                                             'spec': {'x': 1}})
    assert _k8s_agent_manifest.comparable(None) == {}
    owned = dict(two, metadata=dict(two['metadata'], ownerReferences=[{'uid': 'u-1'}]))
    assert _k8s_agent_manifest.differs(one, owned)


def test_is_ours_needs_both_labels():
    assert _k8s_agent_manifest.is_ours({'metadata': {'labels': _k8s_agent_manifest.agent_labels('x')}})
    assert not _k8s_agent_manifest.is_ours({'metadata': {'labels': {'chaos.engineering/agent': 'x'}}})
    assert not _k8s_agent_manifest.is_ours({'metadata': {'labels': {'app.kubernetes.io/managed-by': 'chaos.engineering'}}})
    assert not _k8s_agent_manifest.is_ours({'metadata': {}})


def test_namespace_manifest_is_labelled_ours_and_protected():
    assert _k8s_agent_manifest.namespace_manifest('chaos-engineering')['metadata'] == {
        'name': 'chaos-engineering',
        'labels': {'app.kubernetes.io/managed-by': 'chaos.engineering', 'chaos.engineering/protected': 'true'}}


def test_pod_summary_gives_the_reason_a_pod_is_not_ready():
    waiting = {'metadata': {'name': 'a-1'}, 'spec': {'nodeName': 'n1'},
               'status': {'phase': 'Pending', 'conditions': [{'type': 'Ready', 'status': 'False'}],
                          'containerStatuses': [{'state': {'waiting': {'reason': 'ImagePullBackOff',
                                                                       'message': 'Back-off pulling image'}}}]}}
    assert _k8s_agent_rollout.pod_summary(waiting) == dict(name='a-1', node='n1', phase='Pending', ready=False, terminating=False,
                                                           reason='ImagePullBackOff: Back-off pulling image')
    unscheduled = {'metadata': {'name': 'a-2'}, 'spec': {},
                   'status': {'phase': 'Pending', 'conditions': [
                       {'type': 'PodScheduled', 'status': 'False', 'reason': 'Unschedulable',
                        'message': '0/3 nodes are available'}]}}
    assert _k8s_agent_rollout.pod_summary(unscheduled)['reason'] == 'Unschedulable: 0/3 nodes are available'
    ready = {'metadata': {'name': 'a-3'}, 'spec': {'nodeName': 'n3'},
             'status': {'phase': 'Running', 'conditions': [{'type': 'Ready', 'status': 'True'}]}}
    assert _k8s_agent_rollout.pod_summary(ready) == dict(name='a-3', node='n3', phase='Running', ready=True, terminating=False)


@pytest.mark.parametrize('kwargs, message', [
    (dict(all=True), 'needs state=absent'),
    (dict(expired_only=True), 'applies to state=absent'),
    (dict(name='Chaos_Agent'), 'name must be a DNS label'),
    (dict(name='a' * 64), 'name must be a DNS label'),
    (dict(namespace='Bad'), 'namespace must be a DNS label'),
    (dict(target_namespace='a b'), 'target_namespace must be a DNS label'),
    (dict(wait_timeout=0), 'wait_timeout must be at least 1'),
    (dict(duration=0), 'duration must be at least 1'),
    (dict(expires_at='soon'), 'ISO-8601'),
    (dict(image=' '), 'image must not be empty'),
    (dict(args=[]), 'args is empty'),
    (dict(signal='KILL'), 'signal must be a signal name'),
    (dict(pattern=''), 'pattern must not be empty'),
    (dict(runtime_socket='sock'), 'absolute path'),
    (dict(interval='often'), 'positive Go duration'),
    (dict(tolerations=[{'operator': 'Exists', 'effects': 'NoSchedule'}]), r'tolerations\[0\] has unknown keys effects'),
    (dict(resources={'request': {}}), 'resources has unknown keys request'),
])
def test_validate_params_explains_what_cannot_work(kwargs, message):
    errors = _k8s_agent_options.validate_params(params(**kwargs))
    assert any(re.search(message, e) for e in errors), errors


def test_validate_params_accepts_the_defaults_and_a_teardown():
    assert _k8s_agent_options.validate_params(params()) == []
    assert _k8s_agent_options.validate_params(params(state='absent', all=True, expired_only=True)) == []
    # With args, the interval is not Pumba's concern of ours.
    assert _k8s_agent_options.validate_params(params(args=['--help'], interval=None)) == []
