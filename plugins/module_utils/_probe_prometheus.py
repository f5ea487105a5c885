# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One sample of a prometheus probe: a PromQL instant query (``/api/v1/query``) and the judgement of its result.

The request goes through _probe_http.http_exchange, so TLS, headers, Basic auth, timeouts and the masking of
secrets are those of an http probe. The judgement (``judge_answer``) is free of I/O.

How a result is judged:

- an instant vector: EVERY series must be in the expected range; the failing series are named by their labels;
- a scalar: its one value;
- no series at all fails (``query returned no series``): a steady state that cannot be seen is not held;
- NaN fails (it is in no range); +Inf and -Inf are compared as numbers;
- a string, a range vector (matrix) or a histogram sample is not a number, and fails;
- ``status: error`` fails with Prometheus' errorType and error.

The sample's value is the number judged, and for several series the worst one: a failing series the furthest out of
the range, else the series the closest to its edge. It is null when there is no finite number to give.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import time

from urllib.parse import urlencode

from ansible_collections.chaos.engineering.plugins.module_utils._probe_http import http_exchange, range_text
from ansible_collections.chaos.engineering.plugins.module_utils._probe_spec import (
    MAX_BODY_BYTES,
    MAX_SHOWN,
    probe_secrets,
    split_userinfo,
)
from ansible_collections.chaos.engineering.plugins.module_utils._redact import scrub

QUERY_PATH = '/api/v1/query'
# The most failing series a detail names.
MAX_SERIES_SHOWN = 3


def query_url(base):
    """The instant-query endpoint of a Prometheus base URL (one that already ends in /api/v1/query is kept)."""
    base = base.rstrip('/')
    return base if base.endswith(QUERY_PATH) else base + QUERY_PATH


def prometheus_sample(probe, clock=time.monotonic):
    """One instant query -> (ok, the value judged or None, detail)."""
    form = urlencode({'query': probe['query']})
    url = query_url(probe['url'])
    if probe['method'] == 'POST':
        answer = http_exchange(probe, url, 'POST', data=form.encode('utf-8'),
                               headers={'Content-Type': 'application/x-www-form-urlencoded'}, clock=clock)
    else:
        answer = http_exchange(probe, '%s%s%s' % (url, '&' if '?' in url else '?', form), 'GET', clock=clock)
    status, body, dummy, error = answer
    secrets = probe_secrets([probe])
    if error is not None:
        return False, None, scrub('no answer from Prometheus at %s: %s' % (split_userinfo(probe['url'])[0], error),
                                  secrets)
    ok, value, detail = judge_answer(probe, status, body)
    return ok, value, scrub(detail, secrets)


def judge_answer(probe, status, body):
    """An HTTP answer of /api/v1/query (status, body bytes) -> (ok, value, detail), the detail starting with the
    query."""
    said = _said(probe)
    if len(body) > MAX_BODY_BYTES:
        return False, None, '%s: HTTP %s, the answer is over %d bytes, too long to judge' % (
            said, status, MAX_BODY_BYTES)
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        return False, None, '%s: HTTP %s, not an answer of the Prometheus API (the body is not JSON)' % (said, status)
    if not isinstance(answer, dict) or answer.get('status') not in ('success', 'error'):
        return False, None, '%s: HTTP %s, not an answer of the Prometheus API (no status success or error)' % (
            said, status)
    if answer['status'] == 'error':
        return False, None, '%s: HTTP %s, Prometheus error %s: %s' % (
            said, status, answer.get('errorType') or '?', _cut(' '.join(str(answer.get('error') or '').split())))
    data = answer.get('data') if isinstance(answer.get('data'), dict) else {}
    ok, value, detail = judge_result(probe, data.get('resultType'), data.get('result'))
    warnings = answer.get('warnings')
    if warnings and isinstance(warnings, list):
        detail += ' (warnings: %s)' % _cut('; '.join(str(w) for w in warnings))
    return ok, value, detail


def judge_result(probe, result_type, result):
    """The data of a successful query -> (ok, value, detail), the detail starting with the query."""
    said = _said(probe)
    if result_type == 'scalar':
        number = _sample_number(result)
        if number is None:
            return False, None, '%s: the scalar has no numeric value' % said
        ok = _passes(probe, number)
        detail = '%s = %s' % (said, _number_text(number))
        return ok, _finite(number), detail if ok else '%s, expected %s' % (detail, expected_text(probe))
    if result_type == 'vector':
        return _judge_vector(probe, said, result if isinstance(result, list) else [])
    if result_type == 'matrix':
        return False, None, ('%s: returned a range vector, not a number; an instant query needs an instant vector '
                             'or a scalar (for example avg_over_time(...[5m]))' % said)
    if result_type == 'string':
        return False, None, '%s: returned a string, not a number' % said
    return False, None, '%s: unknown result type %r' % (said, result_type)


def _judge_vector(probe, said, series):
    if not series:
        return False, None, '%s: query returned no series' % said
    judged = []
    for item in series:
        item = item if isinstance(item, dict) else {}
        judged.append((series_text(item.get('metric')), _sample_number(item.get('value'))))
    failing = [(labels, number) for labels, number in judged if number is None or not _passes(probe, number)]
    if not failing:
        labels, worst = _worst(probe, judged)
        if len(judged) == 1:
            return True, _finite(worst), '%s = %s' % (said, _number_text(worst))
        return True, _finite(worst), '%s: %d series, all %s; the closest to the edge %s = %s' % (
            said, len(judged), _in_text(probe), labels, _number_text(worst))
    worst = _worst(probe, [f for f in failing if f[1] is not None])
    shown = ', '.join('%s = %s' % (labels, _number_text(number)) for labels, number in failing[:MAX_SERIES_SHOWN])
    if len(failing) > MAX_SERIES_SHOWN:
        shown += ', +%d more' % (len(failing) - MAX_SERIES_SHOWN)
    return False, _finite(worst[1]) if worst else None, '%s: %d of %d series fail (expected %s): %s' % (
        said, len(failing), len(judged), _in_text(probe), shown)


def series_text(metric):
    """A series' labels in PromQL's notation: name{label="value", ...} (``{}`` for a series without labels)."""
    metric = dict(metric) if isinstance(metric, dict) else {}
    name = metric.pop('__name__', '')
    return '%s{%s}' % (name, ', '.join('%s=%s' % (k, json.dumps(str(v))) for k, v in sorted(metric.items())))


def _sample_number(pair):
    """[timestamp, "value"] -> float (NaN and +-Inf included), None when it is not a number."""
    if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not isinstance(pair[1], str):
        return None
    try:
        return float(pair[1])
    except ValueError:
        return None


def _passes(probe, number):
    if math.isnan(number):
        return False
    if 'value_equals' in probe:
        return number == probe['value_equals']
    low, high = probe['value_range']
    return (low is None or number >= low) and (high is None or number <= high)


def _out_by(probe, number):
    """How far a number is outside the expectation (negative: how far inside it); NaN is the furthest out."""
    if math.isnan(number):
        return math.inf
    if 'value_equals' in probe:
        return abs(number - probe['value_equals'])
    low, high = probe['value_range']
    sides = [low - number if low is not None else None, number - high if high is not None else None]
    sides = [s for s in sides if s is not None]
    return max(sides) if sides else 0.0


def _worst(probe, judged):
    """The (labels, number) the furthest out of the expectation, or the closest to its edge; None if none."""
    if not judged:
        return None
    # max keeps the first of equals: the order of Prometheus' answer decides a tie.
    return max(judged, key=lambda pair: _out_by(probe, pair[1]))


def expected_text(probe):
    """The expectation as the http probe's json_range says it: 'a number from 0 to 100', or the value_equals."""
    if 'value_equals' in probe:
        return _number_text(probe['value_equals'])
    return range_text(*probe['value_range'])


def _in_text(probe):
    """The expectation in words, for a series: 'from 0 to 100', 'at least 10', 'equal to 1', 'numbers'."""
    if 'value_equals' in probe:
        return 'equal to %s' % _number_text(probe['value_equals'])
    low, high = probe['value_range']
    if low is not None and high is not None:
        return 'from %s to %s' % (_number_text(low), _number_text(high))
    if low is not None:
        return 'at least %s' % _number_text(low)
    if high is not None:
        return 'at most %s' % _number_text(high)
    return 'numbers'


def _finite(number):
    return number if number is not None and math.isfinite(number) else None


def _number_text(number):
    if number is None:
        return 'not a number'
    if math.isnan(number):
        return 'NaN'
    if math.isinf(number):
        return '+Inf' if number > 0 else '-Inf'
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)


def _said(probe):
    """The query as a detail starts with it: on one line, cut to MAX_SHOWN characters."""
    return _cut(' '.join(probe['query'].split()))


def _cut(text, limit=MAX_SHOWN):
    return text if len(text) <= limit else text[:limit - 3] + '...'
