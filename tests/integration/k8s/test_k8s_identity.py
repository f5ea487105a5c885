"""The Kubernetes auth options that change who the requests act as, against a real API server (see conftest.py):
impersonate_user/impersonate_groups (and a kubeconfig's as/as-groups) with RBAC, and username/password, which the
API server no longer accepts.

One namespace where the impersonated group may list pods (the probe's documented rules) and one where nobody may; a
ServiceAccount bound to the documented impersonation ClusterRole, and one bound to nothing.
"""
import copy
import json

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from k8s_helpers import (bind_role, create_deployment, create_pod, documented_block, documented_rules, live_uids,
                         target_uids, uids, wait_for, wait_ready)

pytestmark = [pytest.mark.integration, pytest.mark.k8s]

PROBE_RULES = '# probe: a pods probe needs the first rule, a Service probe all three'
POD_CHAOS_RULES = '# k8s_pod_chaos: required'
IMPERSONATOR = '# impersonation: the identity that logs in'


def _token(api, namespace, name):
    api['core'].create_namespaced_service_account(namespace, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name=name)))
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[],
                                                                                 expiration_seconds=3600))
    return api['core'].create_namespaced_service_account_token(name, namespace, request).status.token


def _token_auth(api, token, **more):
    auth = dict(host=api['host'], api_key=token, validate_certs=api['validate_certs'], **more)
    if api['ca_cert']:
        auth['ca_cert'] = api['ca_cert']
    return auth


@pytest.fixture
def identities(api, make_namespace, run_id):
    """Namespaces, users, groups and tokens of the tests; the cluster-wide RBAC objects are deleted afterwards."""
    allowed, forbidden = make_namespace(), make_namespace()
    for namespace in (allowed, forbidden):
        create_pod(api, namespace, 'web', {'app': 'web'})
    user, group, decoy = ('chaos-it-%s-%s' % (run_id, what) for what in ('operator', 'operators', 'decoy'))
    # The documented impersonation ClusterRole, with this run's names (and a second group it may impersonate).
    role = copy.deepcopy(documented_block(IMPERSONATOR))
    role['metadata']['name'] = 'chaos-it-%s-impersonator' % run_id
    role['rules'][0]['resourceNames'] = [user]
    role['rules'][1]['resourceNames'] = [decoy, group]
    api['rbac'].create_cluster_role(role)
    try:
        impersonator, plain = _token(api, allowed, 'impersonator'), _token(api, allowed, 'plain')
        api['rbac'].create_cluster_role_binding(client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(name=role['metadata']['name']),
            role_ref=client.V1RoleRef(api_group='rbac.authorization.k8s.io', kind='ClusterRole',
                                      name=role['metadata']['name']),
            subjects=[client.RbacV1Subject(kind='ServiceAccount', name='impersonator', namespace=allowed)]))
        # The probe's and k8s_pod_chaos's documented rules, for the impersonated group, in one namespace only.
        as_group = client.RbacV1Subject(kind='Group', name=group, api_group='rbac.authorization.k8s.io')
        for name, rules in (('prober', PROBE_RULES), ('pod-chaos', POD_CHAOS_RULES)):
            bind_role(api, allowed, name, documented_rules(rules), as_group)
        wait_ready(api, allowed, 'app=web', 1)
        wait_ready(api, forbidden, 'app=web', 1)
        _wait_for_rbac(api, impersonator, allowed, user, group)
        yield dict(allowed=allowed, forbidden=forbidden, user=user, group=group, decoy=decoy,
                   impersonator=impersonator, plain=plain)
    finally:
        for delete in (api['rbac'].delete_cluster_role_binding, api['rbac'].delete_cluster_role):
            try:
                delete(role['metadata']['name'])
            except ApiException:
                pass


def _wait_for_rbac(api, token, namespace, user, group):
    """Until the impersonated group may list pods in ``namespace`` and delete them (a server-side dry run): RBAC
    takes a moment to apply."""
    configuration = client.Configuration(host=api['host'], api_key={'authorization': 'Bearer %s' % token})
    configuration.ssl_ca_cert = api['ca_cert']
    configuration.verify_ssl = api['validate_certs']
    api_client = client.ApiClient(configuration)
    api_client.set_default_header('Impersonate-User', user)
    api_client.set_default_header('Impersonate-Group', group)

    def allowed():
        try:
            core = client.CoreV1Api(api_client)
            core.list_namespaced_pod(namespace)
            core.delete_namespaced_pod('web', namespace, dry_run='All')
            return True
        except ApiException:
            return False
    wait_for('the impersonation and the Role to take effect', allowed)


def _pods_probes(ids):
    return [dict(name='allowed', type='pods', namespace=ids['allowed'], min_ready=1),
            dict(name='forbidden', type='pods', namespace=ids['forbidden'], min_ready=1)]


def _assert_allowed_here_and_forbidden_there(result, user):
    assert not result.get('failed'), result
    samples = dict((s['probe'], s) for s in result['samples'])
    assert samples['allowed']['ok'] is True and samples['allowed']['value'] == 1, samples
    detail = samples['forbidden']['detail']
    assert samples['forbidden']['ok'] is False and samples['forbidden']['value'] is None, samples
    assert detail.startswith('error listing pods: '), detail
    # Authorized as the impersonated user, named by the API server: not as the ServiceAccount that logged in.
    assert 'User "%s" cannot list resource "pods"' % user in detail, detail
    assert 'serviceaccount' not in detail


def test_impersonated_groups_get_their_rights_and_no_more(api, identities, run_module):
    ids = identities
    result = run_module('probe', dict(probes=_pods_probes(ids)), auth=_token_auth(
        api, ids['impersonator'], impersonate_user=ids['user'], impersonate_groups=[ids['decoy'], ids['group']]))
    # The Role is bound to the second group: each group goes in its own header, or the API server would read one
    # group named "decoy,operators".
    _assert_allowed_here_and_forbidden_there(result, ids['user'])

    # The same user without the group has no rights at all, even where the group has.
    result = run_module('probe', dict(probes=_pods_probes(ids)[:1]), auth=_token_auth(
        api, ids['impersonator'], impersonate_user=ids['user']))
    assert result['samples'][0]['ok'] is False, result
    assert 'User "%s" cannot list resource "pods"' % ids['user'] in result['samples'][0]['detail'], result


def test_the_kubeconfigs_as_and_as_groups_are_applied(api, identities, run_module):
    ids = identities
    with open(api['kubeconfig'].split(':')[0]) as handle:
        kubeconfig = yaml.safe_load(handle)
    for entry in kubeconfig['users']:
        entry['user'].update({'as': ids['user'], 'as-groups': [ids['group']]})
    # The bed's admin could list pods anywhere: as the kubeconfig says, it may only where the group may.
    result = run_module('probe', dict(probes=_pods_probes(ids)), auth=dict(kubeconfig=kubeconfig))
    _assert_allowed_here_and_forbidden_there(result, ids['user'])


def test_an_identity_that_may_not_impersonate_fails_before_anything_naming_both(api, identities, run_module):
    ids = identities
    result = run_module('probe', dict(probes=_pods_probes(ids)), auth=_token_auth(
        api, ids['plain'], impersonate_user=ids['user'], impersonate_groups=[ids['group']]))
    assert result.get('failed') is True and 'samples' not in result, result
    assert result['msg'].startswith('The Kubernetes API at %s refused to let the credentials from host=%s '
                                    'impersonate user %s (groups %s) (403 Forbidden): ' % (
                                        api['host'], api['host'], ids['user'], ids['group'])), result['msg']
    assert 'User "system:serviceaccount:%s:plain" cannot impersonate' % ids['allowed'] in \
        result['msg'], result['msg']
    assert result['msg'].endswith('They need the impersonate verb on that user (and groups) in a ClusterRole bound '
                                  'to them.')


def test_username_and_password_reach_the_server_which_no_longer_takes_them(api, identities, run_module):
    password = 'pw-%s' % identities['user']
    auth = dict(host=api['host'], username='chaos-basic', password=password, validate_certs=api['validate_certs'])
    if api['ca_cert']:
        auth['ca_cert'] = api['ca_cert']
    result = run_module('probe', dict(probes=_pods_probes(identities)[:1]), auth=auth)
    assert result.get('failed') is True, result
    assert result['msg'].startswith('The Kubernetes API at %s did not accept username/password from host=%s, '
                                    'username=chaos-basic (HTTP ' % (api['host'], api['host'])), result['msg']
    # The header reached the server, which took the request as anonymous (401 with anonymous auth off).
    assert 'system:anonymous' in result['msg'] or 'HTTP 401' in result['msg'], result['msg']
    assert password not in json.dumps(result)


def test_k8s_pod_chaos_deletes_as_the_impersonated_identity_where_its_group_may_and_nowhere_else(
        api, identities, run_module):
    ids = identities
    for namespace in (ids['allowed'], ids['forbidden']):
        create_deployment(api, namespace, 'api', 2, {'app': 'api'})
    before = wait_ready(api, ids['allowed'], 'app=api', 2)
    forbidden_before = wait_ready(api, ids['forbidden'], 'app=api', 2)
    auth = _token_auth(api, ids['impersonator'], impersonate_user=ids['user'], impersonate_groups=[ids['group']])

    # Where the group holds the documented rules: one pod deleted, as the impersonated user (the ServiceAccount that
    # logs in may not even list pods). The Deployment is inferred, as with any pods-only identity.
    result = run_module('k8s_pod_chaos', dict(namespace=ids['allowed'], label_selector='app=api', count=1),
                        auth=auth)
    assert not result.get('failed'), result
    deleted = target_uids(result, 'deleted')
    assert len(deleted) == 1 and deleted <= set(before.values()), result
    assert not deleted & live_uids(api, ids['allowed'], 'app=api')

    # Where it holds nothing: the API server's refusal names the impersonated user, and nothing is touched.
    result = run_module('k8s_pod_chaos', dict(namespace=ids['forbidden'], label_selector='app=api', count=1),
                        auth=auth)
    assert result.get('failed') is True, result
    assert result['msg'].startswith('Permission denied listing pods in namespace %s (403 Forbidden)'
                                    % ids['forbidden']), result['msg']
    assert 'User "%s" cannot list resource "pods"' % ids['user'] in result['msg'], result['msg']
    assert 'serviceaccount' not in result['msg'], result['msg']
    assert uids(api, ids['forbidden'], 'app=api') == forbidden_before

    # Without the impersonation, the ServiceAccount that logs in may delete nothing, even where the group may.
    result = run_module('k8s_pod_chaos', dict(namespace=ids['allowed'], label_selector='app=api', count=1),
                        auth=_token_auth(api, ids['impersonator']))
    assert result.get('failed') is True, result
    assert 'system:serviceaccount:%s:impersonator' % ids['allowed'] in result['msg'], result['msg']
