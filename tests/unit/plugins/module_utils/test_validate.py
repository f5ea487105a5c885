"""The shared option checks, and the bad inputs the fuzzer (tests/integration/test_fuzz.py) found tracebacks for.

Every module here fails before it connects: the engine and the API addresses are ones where nothing answers.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils import _timefmt, _validate

NOWHERE = 'unix:///nonexistent/chaos-test/docker.sock'
K8S_NOWHERE = 'https://127.0.0.1:1'


@pytest.mark.parametrize('value, message', [
    (0, 'duration must be from 1 to 604800 seconds, got 0.'),
    (10 ** 20, 'duration must be from 1 to 604800 seconds, got 100000000000000000000.'),
    (1.5, 'duration must be an integer, got 1.5.'),
    (float('nan'), 'duration must be an integer'),
    ('5', "duration must be an integer, got '5'."),
    ([5], 'duration must be an integer'),
])
def test_check_seconds(value, message):
    with pytest.raises(_validate.ValidationError) as caught:
        _validate.check_seconds('duration', value, *_validate.DURATION)
    assert message in str(caught.value)


def test_check_number_bounds_and_non_finite_floats():
    assert _validate.check_number('x', 5.5, 0, 10) == 5.5
    assert _validate.check_number('x', None, 0, 10) is None
    for bad in (float('inf'), float('nan'), -0.1, 10.5, True):
        with pytest.raises(_validate.ValidationError):
            _validate.check_number('x', bad, 0, 10)
    with pytest.raises(_validate.ValidationError, match='more than 0'):
        _validate.check_number('interval', 0.0, 0, 10, exclusive_minimum=True)
    with pytest.raises(_validate.ValidationError, match='must be 0 or more, got -1'):
        _validate.check_number('min_healthy', -1, 0)


def test_validate_params_defaults_nulls_bounds_lists_types_and_required_if():
    spec = dict(state=dict(type='str', default='paused'), parallelism=dict(type='int', default=8),
                duration=dict(type='int'), ports=dict(type='list', elements='int'), kubeconfig=dict(type='raw'),
                api_version=dict(type='str', default='auto'),
                drop=dict(type='dict', options=dict(direction=dict(type='str', default='ingress'))))
    params = dict(state=None, parallelism=None, duration=None, ports=[80, 70000], kubeconfig=5, api_version='x',
                  drop=dict(direction=None))
    errors = _validate.validate_params(params, spec, dict(ports=_validate.bound(1, 65535, unit=None, elements=True)),
                                       types=_validate.K8S_AUTH_TYPES, api_versions=('api_version',),
                                       required_if=[('state', 'paused', ['duration'])])
    assert params['state'] == 'paused' and params['parallelism'] == 8 and params['drop'] == dict(direction='ingress')
    assert errors == [
        'state is paused but some of the following is null or missing: duration.',
        'ports must be from 1 to 65535, got 70000.',
        'kubeconfig must be a path or a dictionary (the kubeconfig itself), got 5.',
        "api_version must be auto or an API version such as 1.41, got 'x'.",
    ]


DOCKER = dict(docker_host=NOWHERE, labels={'app': 'none'})


@pytest.mark.parametrize('name, args, message', [
    ('container_pause', dict(duration=10 ** 20), 'duration must be from 1 to 604800 seconds'),
    ('container_pause', dict(duration=None), 'state is paused but some of the following is null or missing: duration'),
    ('container_pause', dict(duration=5, parallelism=0), 'parallelism must be from 1 to 256, got 0.'),
    ('container_pause', dict(duration=5, parallelism=-5), 'parallelism must be from 1 to 256, got -5.'),
    ('container_pause', dict(duration=5, api_version='x'), "api_version must be auto or an API version"),
    ('container_pause', dict(duration=5, timeout=10 ** 20), 'timeout must be from 1 to 86400 seconds'),
    ('container_kill', dict(restart_after=10 ** 20), 'restart_after must be from 1 to 604800 seconds'),
    ('container_kill', dict(stop_timeout=10 ** 20), 'stop_timeout must be from 0 to 86400 seconds'),
    ('container_kill', dict(restart_after=5, wait_for_recovery=True, recovery_timeout=10 ** 20),
     'recovery_timeout must be from 1 to 86400 seconds'),
    ('container_netem', dict(duration=10 ** 20, bandwidth=dict(rate='1mbit')), 'duration must be from 1 to 604800'),
    ('container_netem', dict(ports=[0], bandwidth=dict(rate='1mbit')), 'ports must be at least 1, got 0.'),
    ('container_netem', dict(ports=[70000], bandwidth=dict(rate='1mbit')), 'ports must be between 1 and 65535'),
    ('probe', dict(probes=[dict(name='a', type='http', url='http://127.0.0.1:1/', timeout=1e20)]),
     "probe 'a': timeout must be at most 86400"),
    ('probe', dict(probes=[dict(name='a', type='http', url='http://127.0.0.1:1/')], duration=1e20),
     'duration must be from 0 to 604800 seconds'),
    ('probe', dict(probes=[dict(name='a', type='http', url='http://127.0.0.1:1/')], interval=float('nan')),
     'interval must be a finite number'),
    ('probe', dict(probes=[dict(name='a', type='containers', selection=dict(name_pattern=['x']))]),
     "probe 'a': selection.name_pattern must be a string"),
    ('probe', dict(probes=[dict(name='a', type='pods')], kubeconfig=5, host=K8S_NOWHERE),
     'kubeconfig must be a path or a dictionary'),
    ('k8s_pod_chaos', dict(label_selector='a=b', kubeconfig=['x'], host=K8S_NOWHERE),
     'kubeconfig must be a path or a dictionary'),
    ('k8s_pod_chaos', dict(label_selector='a=b', parallelism=0, host=K8S_NOWHERE), 'parallelism must be from 1 to 256'),
    ('k8s_pod_chaos', dict(label_selector='a=b', grace_period=10 ** 20, host=K8S_NOWHERE),
     'grace_period must be from 0 to 86400 seconds'),
    ('k8s_agent', dict(duration=10 ** 20, host=K8S_NOWHERE), 'duration must be from 1 to 604800 seconds'),
    ('k8s_agent', dict(kubeconfig=3, host=K8S_NOWHERE), 'kubeconfig must be a path or a dictionary'),
    ('k8s_agent', dict(tolerations=[dict(key=['x'])], host=K8S_NOWHERE), 'tolerations[0]: key must be strings'),
    ('k8s_agent', dict(resources=dict(limits='x'), host=K8S_NOWHERE), 'resources.limits must map resource names'),
])
def test_bad_input_fails_clearly_before_connecting(run_module, name, args, message):
    full = dict(DOCKER, **args) if name.startswith('container_') else dict(docker_host=NOWHERE, **args)
    if name.startswith('k8s_'):
        full.pop('docker_host')
    result = run_module(name, **full)
    assert result['failed'] is True
    assert message in result['msg']
    assert 'Cannot reach' not in result['msg']


@pytest.mark.parametrize('record, message', [
    (dict(verdict='passed', started_at=1e300), 'record.started_at must be an ISO-8601 time'),
    (dict(verdict='passed', recovery=[dict(what='x', seconds=float('inf'))]), 'seconds must be a finite number'),
    (dict(verdict='passed', recovery=[dict(what='x', seconds=-1)]), 'seconds must be a finite number'),
])
def test_journal_records_that_cannot_be_shown_fail_and_create_nothing(run_module, tmp_path, record, message):
    target = tmp_path / 'run'
    result = run_module('experiment_journal', path=str(target), run_id='r', host='web-1', record=record)
    assert result['failed'] is True and message in result['msg']
    assert not target.exists(), 'a failed run created the journal directory'


def test_journal_huge_times_in_samples_render(run_module, tmp_path):
    record = dict(verdict='passed', started_at='2026-12-01T10:00:00Z',
                  probes=[dict(probe='a', ok=True, at=1e300, phase='before'), dict(probe=['b'], ok=True, at=5)],
                  recovery=[dict(what='x', seconds=1e11, since='2026-12-01T10:00:01Z')])
    result = run_module('experiment_journal', path=str(tmp_path / 'run'), run_id='r', host='web-1', record=record)
    assert not result.get('failed'), result
    assert _timefmt.to_epoch(1e300) is None and _timefmt.to_epoch(['x']) is None
    assert _timefmt.to_epoch('9999-12-31T23:59:59Z') == _timefmt.TIME_MAX
