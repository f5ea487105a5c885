"""The TLS options of probe and sampler: a distinct name per connection (docker_*, k8s_*), which the container and
Kubernetes modules take as aliases, and the old ambiguous names, deprecated, which still apply where no distinct
name is set."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.module_utils.common import warnings as module_warnings

from ansible_collections.chaos.engineering.plugins.module_utils import _docker, _k8s_client, _probe_clients
from ansible_collections.chaos.engineering.plugins.module_utils._runtime_select import RUNTIME_ARGUMENT_SPEC
from ansible_collections.chaos.engineering.plugins.modules import probe as probe_module
from ansible_collections.chaos.engineering.plugins.modules import sampler as sampler_module

AMBIGUOUS = ('validate_certs', 'client_cert', 'client_key', 'ca_path', 'ca_cert')
CONTAINERS = dict(name='web', type='containers', selection=dict(labels=dict(app='web')))
PODS = dict(name='pods', type='pods', namespace='shop', label_selector='app=web')


def names(spec):
    """Every name a spec accepts: its options and their aliases."""
    found = set(spec)
    for option in spec.values():
        found.update(option.get('aliases') or [])
    return found


def owner_of(spec, name):
    """The option that ``name`` (an option or an alias) sets in ``spec``."""
    return [key for key, option in spec.items() if name == key or name in (option.get('aliases') or [])]


@pytest.mark.parametrize('module', [probe_module, sampler_module])
def test_every_name_the_groups_take_is_taken_by_the_probing_modules(module):
    # module_defaults of a group reach every member unfiltered: a name the container or Kubernetes modules take
    # in those defaults must not fail probe or sampler.
    spec = module.argument_spec()
    assert names(_docker.DOCKER_ARGUMENT_SPEC) | names(RUNTIME_ARGUMENT_SPEC) <= names(spec)
    assert names(_k8s_client.K8S_AUTH_ARGUMENT_SPEC) <= names(spec)


@pytest.mark.parametrize('module', [probe_module, sampler_module])
def test_each_distinct_name_sets_the_same_option_everywhere(module):
    spec = module.argument_spec()
    for distinct, option in _probe_clients.DOCKER_TLS.items():
        assert owner_of(_docker.DOCKER_ARGUMENT_SPEC, distinct) == [option]
        assert spec[distinct]['type'] == _docker.DOCKER_ARGUMENT_SPEC[option]['type']
        # The container modules' aliases, less the distinct name and the Kubernetes-looking ca_cert.
        expected = set(_docker.DOCKER_ARGUMENT_SPEC[option]['aliases']) - set([distinct, 'ca_cert'])
        assert set(spec[distinct]['aliases']) == expected, distinct
    for distinct, option in _probe_clients.K8S_TLS.items():
        assert owner_of(_k8s_client.K8S_AUTH_ARGUMENT_SPEC, distinct) == [option]
        assert spec[distinct]['type'] == _k8s_client.K8S_AUTH_ARGUMENT_SPEC[option]['type']
        expected = set(_k8s_client.K8S_AUTH_ARGUMENT_SPEC[option]['aliases']) - set([distinct])
        assert set(spec[distinct]['aliases']) == expected, distinct
    for name in AMBIGUOUS:
        assert not spec[name].get('aliases'), name
        assert spec[name].get('default') is None, name
    # Each alias names one option only.
    seen = {}
    for key, option in spec.items():
        for alias in option.get('aliases') or []:
            assert alias not in seen and alias not in spec, (alias, key, seen.get(alias))
            seen[alias] = key


def resolved(params, environ=None):
    """(Docker connection dict, Kubernetes auth dict) as make_samplers would build them from module params."""
    full = dict((key, None) for key in probe_module.argument_spec())
    full.update(params)
    return _probe_clients.docker_connection(full, environ or {}), _probe_clients.k8s_auth(full, environ or {})


def tls_of(conn, ca):
    return (conn['validate_certs'], conn[ca], conn['client_cert'], conn['client_key'])


def test_distinct_names_reach_their_own_connection_only():
    docker, k8s = resolved(dict(
        docker_validate_certs=True, docker_ca_path='/d/ca.pem', docker_client_cert='/d/cert.pem',
        docker_client_key='/d/key.pem', k8s_validate_certs=False, k8s_ca_cert='/k/ca.crt',
        k8s_client_cert='/k/client.crt', k8s_client_key='/k/client.key'))
    assert tls_of(docker, 'ca_path') == (True, '/d/ca.pem', '/d/cert.pem', '/d/key.pem')
    assert tls_of(k8s, 'ca_cert') == (False, '/k/ca.crt', '/k/client.crt', '/k/client.key')


def test_ambiguous_names_apply_as_before():
    docker, k8s = resolved(dict(validate_certs=True, client_cert='/c.pem', client_key='/k.pem',
                                ca_path='/d/ca.pem', ca_cert='/k/ca.crt'))
    assert tls_of(docker, 'ca_path') == (True, '/d/ca.pem', '/c.pem', '/k.pem')
    assert tls_of(k8s, 'ca_cert') == (True, '/k/ca.crt', '/c.pem', '/k.pem')


def test_a_distinct_name_wins_over_the_ambiguous_one():
    docker, k8s = resolved(dict(validate_certs=True, docker_validate_certs=False, client_cert='/old.pem',
                                k8s_client_cert='/k/client.crt', ca_path='/old/ca.pem', docker_ca_path='/d/ca.pem',
                                ca_cert='/old/ca.crt', k8s_ca_cert='/k/ca.crt'))
    assert docker['validate_certs'] is False and k8s['validate_certs'] is True
    assert docker['client_cert'] == '/old.pem' and k8s['client_cert'] == '/k/client.crt'
    assert docker['ca_path'] == '/d/ca.pem' and k8s['ca_cert'] == '/k/ca.crt'
    # False is a value, not "unset": docker_validate_certs=false beats validate_certs=true.
    docker, k8s = resolved(dict(validate_certs=False, k8s_validate_certs=True))
    assert docker['validate_certs'] is False and k8s['validate_certs'] is True


def test_unset_names_leave_the_environment_in_charge():
    env = {'DOCKER_TLS_VERIFY': '1', 'K8S_AUTH_VERIFY_SSL': 'no', 'K8S_AUTH_SSL_CA_CERT': '/env/ca.crt'}
    docker, k8s = resolved(dict(docker_ca_path='/d/ca.pem'), env)
    assert docker['validate_certs'] is True and docker['ca_path'] == '/d/ca.pem'
    assert k8s['validate_certs'] is False and k8s['ca_cert'] == '/env/ca.crt'
    # A distinct name set wins over the environment too.
    docker, k8s = resolved(dict(docker_validate_certs=False, k8s_ca_cert='/k/ca.crt'), env)
    assert docker['validate_certs'] is False and k8s['ca_cert'] == '/k/ca.crt'


def test_no_warning_without_an_ambiguous_name():
    assert _probe_clients.ambiguous_warnings(dict(docker_validate_certs=True, k8s_ca_cert='/k'),
                                             set(['docker', 'k8s'])) == []


def test_the_warning_names_the_distinct_options_and_the_ambiguous_case():
    both = _probe_clients.ambiguous_warnings(dict(validate_certs=True), set(['docker', 'k8s']))
    assert both == [
        'validate_certs is deprecated, use docker_validate_certs (Docker) and k8s_validate_certs (Kubernetes) '
        'instead. It sets the Docker and the Kubernetes connection alike, while in the container modules it is the '
        'Docker option and in k8s_pod_chaos and k8s_agent the Kubernetes one. These probes use both connections, '
        'so the one value applies to both: the ambiguous case that docker_validate_certs and k8s_validate_certs '
        'resolve.']
    one = _probe_clients.ambiguous_warnings(dict(client_key='/k.pem'), set(['k8s']))
    assert one[0].endswith(' Here it applies to the Kubernetes connection.'), one
    overridden = _probe_clients.ambiguous_warnings(dict(validate_certs=True, docker_validate_certs=False),
                                                   set(['docker', 'k8s']))
    assert overridden[0].endswith(' Here it applies to the Kubernetes connection. docker_validate_certs, also set, '
                                  'wins over it.'), overridden
    ca_cert = _probe_clients.ambiguous_warnings(dict(ca_cert='/ca.crt'), set(['docker']))
    assert ca_cert == ['ca_cert is deprecated, use k8s_ca_cert (Kubernetes) instead. In the container modules '
                       'ca_cert is an alias of the Docker ca_path; here it is the Kubernetes CA.']
    ca_path = _probe_clients.ambiguous_warnings(dict(ca_path='/ca.pem'), set(['docker']))
    assert ca_path == ['ca_path is deprecated, use docker_ca_path (Docker) instead. It is the Docker CA, as in the '
                       'container modules. Here it applies to the Docker connection.']


class FakeDocker:
    def containers(self, all=False):  # pylint: disable=redefined-builtin
        return [dict(Id='a' * 64, Names=['/web-1'], Labels={'app': 'web'}, State='running')]


class FakeK8s:
    def list_pods(self, namespace=None, label_selector=None, field_selector=None):
        return []


@pytest.fixture
def connections(monkeypatch):
    """What reaches _docker.make_client and _k8s_client.make_client from a module run."""
    seen = {}
    # A module's deprecations are process-wide (one module, one process); keep each test's own.
    monkeypatch.setattr(module_warnings, '_global_deprecations', {})
    monkeypatch.setattr(_docker, 'make_client', lambda conn, pool_size=10: (seen.__setitem__('docker', conn),
                                                                            FakeDocker())[1])
    monkeypatch.setattr(_k8s_client, 'make_client', lambda auth, **kwargs: (seen.__setitem__('k8s', auth),
                                                                            FakeK8s())[1])
    for var in ('DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'K8S_AUTH_VERIFY_SSL', 'K8S_AUTH_VALIDATE_CERTS',
                'K8S_AUTH_SSL_CA_CERT', 'K8S_AUTH_CA_CERT'):
        monkeypatch.delenv(var, raising=False)
    return seen


def deprecations(result):
    """(message, version, collection) of each deprecation in a module result (ansible-core 2.19 nests them)."""
    found = []
    for item in result.get('deprecations') or []:
        msg = item['msg'] if 'msg' in item else item['event']['msg']
        collection = item['collection_name'] if 'collection_name' in item else item['deprecator']['resolved_name']
        found.append((msg, item['version'], collection))
    return found


def test_module_run_with_distinct_names_and_aliases(run_module, connections):
    result = run_module(probe_module, docker_host='tcp://engine:2376', tls_verify=True, docker_ca_path='/d/ca.pem',
                        kubeconfig='/nowhere', k8s_ca_cert='/k/ca.crt', verify_ssl=False, probes=[CONTAINERS, PODS])
    assert not result.get('failed'), result
    assert connections['docker']['validate_certs'] is True and connections['docker']['ca_path'] == '/d/ca.pem'
    assert connections['k8s']['validate_certs'] is False and connections['k8s']['ca_cert'] == '/k/ca.crt'
    assert deprecations(result) == []


def test_module_run_with_the_ambiguous_names_warns_and_applies_them(run_module, connections):
    result = run_module(probe_module, docker_host='tcp://engine:2376', validate_certs=True, ca_cert='/k/ca.crt',
                        kubeconfig='/nowhere', probes=[CONTAINERS, PODS])
    assert not result.get('failed'), result
    assert connections['docker']['validate_certs'] is True and connections['k8s']['validate_certs'] is True
    assert connections['k8s']['ca_cert'] == '/k/ca.crt' and connections['docker']['ca_path'] is None
    found = deprecations(result)
    assert len(found) == 2, result.get('deprecations')
    assert found[0][0].startswith('ca_cert is deprecated, use k8s_ca_cert (Kubernetes) instead.')
    assert 'These probes use both connections' in found[1][0]
    assert all(version == '2.0.0' and collection == 'chaos.engineering' for dummy, version, collection in found)


def test_sampler_warns_too(run_module, connections, tmp_path):
    # state=started with no probes only holds the lease: the warning still names the replacements.
    result = run_module(sampler_module, run_id='r1', ledger_dir=str(tmp_path), probes=[], client_cert='/c.pem',
                        client_key='/k.pem', lease=1, max_duration=2)
    assert [msg.split(' ')[0] for msg, dummy, dummy in deprecations(result)] == ['client_cert', 'client_key'], result
    run_module(sampler_module, run_id='r1', ledger_dir=str(tmp_path), state='stopped')
