"""prometheus probes: their definitions (clear messages for bad ones), and the judgement of /api/v1/query answers
(vector, scalar, empty, NaN, errors, non-numeric results), as Prometheus 2.42 words them."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.chaos.engineering.plugins.module_utils._probe_prometheus import (
    judge_answer,
    prometheus_sample,
    query_url,
    series_text,
)
from ansible_collections.chaos.engineering.plugins.module_utils._probe_spec import (
    ProbeError,
    needed_clients,
    probe_secrets,
    probe_threshold,
    validate_probes,
)

URL = 'http://127.0.0.1:1'


def probe(**given):
    raw = dict(name='errors', type='prometheus', url=URL, query='rate(errors_total[1m])')
    raw.update(given)
    if 'value_equals' not in raw and 'value_range' not in raw:
        raw['value_range'] = [None, 1]
    return validate_probes([raw])[0]


def answer(result_type, result, status='success', **more):
    body = dict(status=status, data=dict(resultType=result_type, result=result))
    body.update(more)
    return json.dumps(body).encode()


def series(value, **labels):
    return dict(metric=labels, value=[1796197053.738, value])


def judge(body, status=200, **given):
    return judge_answer(probe(**given), status, body)


# ---------------------------------------------------------------------------------------------
# Definitions


def test_a_definition_gets_its_defaults():
    got = probe()
    assert got == dict(name='errors', type='prometheus', url=URL, query='rate(errors_total[1m])', method='GET',
                       timeout=5.0, validate_certs=True, value_range=[None, 1.0])
    assert needed_clients([got]) == set()


def test_basic_auth_and_a_bearer_token_become_headers_and_secrets():
    got = probe(url='http://reader:s3cret@prom:9090', headers={'Authorization': 'Bearer tok-123'})
    assert got['url'] == 'http://prom:9090'
    assert got['headers'] == {'Authorization': 'Bearer tok-123'}
    assert {'tok-123', 'Bearer tok-123'} & set(probe_secrets([got]))
    got = probe(url_username='reader', url_password='s3cret', method='post')
    assert got['method'] == 'POST' and got['headers']['Authorization'].startswith('Basic ')


@pytest.mark.parametrize('given, message', [
    (dict(url=None), "probe 'errors': a prometheus probe needs a url, the base URL of Prometheus."),
    (dict(url='prom:9090'), "probe 'errors': url must start with http:// or https:// and name a host, got 'prom:9090'."),
    (dict(url='http://prom:9090/?x=1'), 'url must be the base URL of Prometheus (for example http://prometheus:9090), '
                                        'without a query or fragment'),
    (dict(query=''), "probe 'errors': a prometheus probe needs a query, a PromQL expression, got ''."),
    (dict(query=['up']), "a prometheus probe needs a query, a PromQL expression, got ['up']."),
    (dict(method='PUT'), "probe 'errors': method must be GET or POST for a prometheus probe, got 'PUT'."),
    (dict(value_range=[5, 1]), "probe 'errors': value_range must be [low, high] with low <= high, got [5, 1]."),
    (dict(value_range=5), "value_range must be [low, high] (either may be null), got 5."),
    (dict(value_range=['a', 1]), "value_range must be a number, got 'a'."),
    (dict(value_equals='one'), "probe 'errors': value_equals must be a number, got 'one'."),
    (dict(value_equals=True), 'value_equals must be a number, got True.'),
    (dict(value_equals=1, value_range=[0, 1]), "a prometheus probe needs exactly one of value_equals and value_range."),
    (dict(timeout=0), 'timeout must be greater than 0'),
    (dict(json_query='a'), "unknown keys for a prometheus probe: json_query (valid: name, type, url, query, method, "),
    (dict(status=[200]), 'unknown keys for a prometheus probe: status'),
])
def test_bad_definitions_are_refused_clearly(given, message):
    with pytest.raises(ProbeError) as info:
        probe(**given)
    assert message in str(info.value)


def test_no_expectation_is_refused():
    with pytest.raises(ProbeError, match='needs exactly one of value_equals and value_range'):
        validate_probes([dict(name='up', type='prometheus', url=URL, query='up')])


def test_the_threshold_for_reports():
    assert probe_threshold(probe(value_range=[None, 5])) == dict(unit='value', op='<=', value=5.0)
    assert probe_threshold(probe(value_range=[2, None])) == dict(unit='value', op='>=', value=2.0)
    assert probe_threshold(probe(value_range=[0, 5])) == dict(unit='value', op='<=', value=5.0)
    assert probe_threshold(probe(value_equals=1)) == dict(unit='value', op='==', value=1.0)


@pytest.mark.parametrize('base, endpoint', [
    ('http://prom:9090', 'http://prom:9090/api/v1/query'),
    ('http://prom:9090/', 'http://prom:9090/api/v1/query'),
    ('https://h/prometheus/', 'https://h/prometheus/api/v1/query'),
    ('http://prom:9090/api/v1/query', 'http://prom:9090/api/v1/query'),
])
def test_the_query_endpoint(base, endpoint):
    assert query_url(base) == endpoint


# ---------------------------------------------------------------------------------------------
# Judgement


def test_one_series_in_range_passes_with_its_value():
    assert judge(answer('vector', [series('0.25', job='shop')])) == (True, 0.25, 'rate(errors_total[1m]) = 0.25')


def test_every_series_must_pass_and_the_failing_ones_are_named():
    body = answer('vector', [series('0.5', __name__='e', pod='a'), series('3', __name__='e', pod='b'),
                             series('7', __name__='e', pod='c')])
    ok, value, detail = judge(body)
    assert (ok, value) == (False, 7.0)  # the worst: the furthest out of the range
    assert detail == ('rate(errors_total[1m]): 2 of 3 series fail (expected at most 1): e{pod="b"} = 3, '
                      'e{pod="c"} = 7')


def test_several_passing_series_give_the_one_closest_to_the_edge():
    body = answer('vector', [series('4.5', pod='a'), series('9', pod='b'), series('6', pod='c')])
    assert judge(body, value_range=[3, 10]) == (
        True, 9.0, 'rate(errors_total[1m]): 3 series, all from 3 to 10; the closest to the edge {pod="b"} = 9')


def test_a_detail_names_at_most_three_failing_series():
    body = answer('vector', [series(str(n), pod='p%d' % n) for n in range(2, 8)])
    ok, value, detail = judge(body)
    assert not ok and value == 7.0
    assert detail.endswith('{pod="p2"} = 2, {pod="p3"} = 3, {pod="p4"} = 4, +3 more')


def test_an_empty_vector_fails():
    assert judge(answer('vector', [])) == (False, None, 'rate(errors_total[1m]): query returned no series')


def test_a_scalar_is_its_one_value():
    assert judge(answer('scalar', [1796197053.7, '12']), value_range=[None, 20]) == (
        True, 12.0, 'rate(errors_total[1m]) = 12')
    assert judge(answer('scalar', [1796197053.7, '12']), value_range=[None, 10]) == (
        False, 12.0, 'rate(errors_total[1m]) = 12, expected a number of at most 10')
    assert judge(answer('scalar', [1796197053.7, '1']), value_equals=1)[0] is True
    assert judge(answer('scalar', [1796197053.7, '2']), value_equals=1) == (
        False, 2.0, 'rate(errors_total[1m]) = 2, expected 1')


def test_nan_fails_even_an_open_range_and_gives_no_value():
    assert judge(answer('scalar', [1.0, 'NaN']), value_range=[None, None]) == (
        False, None, 'rate(errors_total[1m]) = NaN, expected a number')
    ok, value, detail = judge(answer('vector', [series('NaN', pod='a'), series('0.5', pod='b')]))
    assert (ok, value) == (False, None)
    assert detail.endswith('1 of 2 series fail (expected at most 1): {pod="a"} = NaN')


def test_infinities_are_compared_as_numbers_but_give_no_value():
    assert judge(answer('scalar', [1.0, '+Inf']), value_range=[0, None]) == (True, None, 'rate(errors_total[1m]) = +Inf')
    assert judge(answer('scalar', [1.0, '+Inf']))[0] is False


@pytest.mark.parametrize('body, detail', [
    (answer('string', [1.0, 'x']), 'rate(errors_total[1m]): returned a string, not a number'),
    (answer('matrix', [dict(metric={}, values=[[1.0, '1']])]),
     'returned a range vector, not a number; an instant query needs an instant vector or a scalar'),
    (answer('vector', [dict(metric={'pod': 'a'}, histogram=[1.0, {'count': '3'}])]),
     '1 of 1 series fail (expected at most 1): {pod="a"} = not a number'),
    (answer('vector', [series('many', pod='a')]), '{pod="a"} = not a number'),
    (answer('scalar', None), 'the scalar has no numeric value'),
])
def test_what_is_not_a_number_fails(body, detail):
    ok, value, said = judge(body)
    assert (ok, value) == (False, None)
    assert detail in said


def test_a_prometheus_error_gives_its_type_and_message():
    body = json.dumps(dict(status='error', errorType='bad_data',
                           error='invalid parameter "query": 1:18: parse error: unexpected end of input')).encode()
    assert judge(body, status=400) == (False, None, 'rate(errors_total[1m]): HTTP 400, Prometheus error bad_data: '
                                                    'invalid parameter "query": 1:18: parse error: unexpected end of input')


@pytest.mark.parametrize('status, body, detail', [
    (502, b'<html>Bad Gateway</html>', 'HTTP 502, not an answer of the Prometheus API (the body is not JSON)'),
    (200, b'{"data": {}}', 'HTTP 200, not an answer of the Prometheus API (no status success or error)'),
    (200, b'[1, 2]', 'HTTP 200, not an answer of the Prometheus API (no status success or error)'),
])
def test_what_is_not_a_prometheus_answer_fails(status, body, detail):
    assert judge(body, status=status) == (False, None, 'rate(errors_total[1m]): ' + detail)


def test_warnings_are_shown_after_the_outcome():
    body = answer('vector', [series('0', pod='a')], warnings=['PromQL info: metric might not be a counter'])
    assert judge(body)[2] == 'rate(errors_total[1m]) = 0 (warnings: PromQL info: metric might not be a counter)'


def test_a_long_query_is_cut_in_the_detail():
    query = 'sum(rate(http_requests_total{code=~"5.."}[5m]))\n  / sum(rate(http_requests_total[5m]))' + ' + 0' * 40
    detail = judge(answer('vector', []), query=query)[2]
    assert detail.startswith('sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(')
    assert '...: query returned no series' in detail


def test_series_labels_in_promql_notation():
    assert series_text({'__name__': 'up', 'job': 'shop', 'instance': 'a:1'}) == 'up{instance="a:1", job="shop"}'
    assert series_text({'path': 'say "hi"'}) == '{path="say \\"hi\\""}'
    assert series_text(None) == '{}'


def test_no_answer_names_the_prometheus_without_its_credentials():
    got = probe(url='http://reader:s3cret@127.0.0.1:1', timeout=2)
    ok, value, detail = prometheus_sample(got)
    assert (ok, value) == (False, None)
    assert detail.startswith('no answer from Prometheus at http://127.0.0.1:1: error: ')
    assert 's3cret' not in detail and 'reader' not in detail
