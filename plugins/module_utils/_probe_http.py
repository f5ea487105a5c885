# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One sample of an http probe: a request to a URL, or to a ready endpoint of a Kubernetes Service, its status,
latency and JSON checks; credentials sent only to the origin they were given for.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import random
import socket
import ssl
import time

from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import HTTPRedirectHandler, HTTPSHandler, Request, build_opener

from ansible_collections.chaos.engineering.plugins.module_utils._probe_spec import (
    MAX_BODY_BYTES,
    MAX_SHOWN,
    JMESPathError,
    jmespath,
    probe_secrets,
    split_userinfo,
)
from ansible_collections.chaos.engineering.plugins.module_utils._redact import is_secret_header, redact, scrub


def http_sample(probe, clock=time.monotonic):
    """Send one request; returns (ok, latency in ms or None, detail). Redirects are followed."""
    status, body, latency, error = http_exchange(probe, probe['url'], probe['method'], clock=clock)
    if error is not None:
        return False, None, error
    if status not in probe['status']:
        return False, latency, 'HTTP %s, expected %s' % (status, ' or '.join(str(s) for s in probe['status']))
    if probe['latency_ms'] is not None and latency > probe['latency_ms']:
        return False, latency, 'HTTP %s in %s ms, over the %s ms budget' % (status, _fmt(latency), _fmt(probe['latency_ms']))
    if probe.get('json_query') is None:
        return True, latency, 'HTTP %s' % status
    ok, detail = json_check(probe, body, secrets=probe_secrets([probe]))
    return ok, latency, 'HTTP %s, %s' % (status, detail)


def http_exchange(probe, url, method, data=None, headers=None, clock=time.monotonic):
    """One request with the probe's TLS setting, headers, credentials and timeout -> (status, body, latency in ms,
    None), or (None, None, None, why no answer came). Any HTTP status is an answer; at most MAX_BODY_BYTES + 1
    bytes of the body are read (one more than is judged: a body cut at the limit is not taken for the whole)."""
    context = None
    if url.lower().startswith('https://'):
        context = ssl.create_default_context()
        if not probe['validate_certs']:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    handlers = [_SameOriginCredentials()]
    if context is not None:
        handlers.append(HTTPSHandler(context=context))
    opener = build_opener(*handlers)
    sent = {'User-Agent': 'chaos.engineering-probe'}
    sent.update(probe.get('headers') or {})
    sent.update(headers or {})
    # No userinfo reaches urllib: it would resolve 'user:pass@host' as the host name (and so send it to DNS).
    request = Request(split_userinfo(url)[0], data=data, method=method, headers=sent)
    secrets = probe_secrets([probe])
    began = clock()
    try:
        try:
            response = opener.open(request, timeout=probe['timeout'])
        except HTTPError as exc:
            response = exc  # an HTTP answer all the same: its status is what we judge
        try:
            body = response.read(MAX_BODY_BYTES + 1)
        finally:
            response.close()
        status = response.getcode() if hasattr(response, 'getcode') else response.code
    except (socket.timeout, TimeoutError):
        return None, None, None, 'timed out after %ss' % _fmt(probe['timeout'])
    except URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return None, None, None, 'timed out after %ss' % _fmt(probe['timeout'])
        return None, None, None, 'error: %s' % (scrub(str(reason), secrets),)
    except (OSError, ValueError) as exc:
        return None, None, None, 'error: %s' % (scrub(str(exc), secrets),)
    return status, body, round((clock() - began) * 1000.0, 3), None


def service_key(service):
    return '%s/%s' % (service['namespace'], service['name'])


def service_port(service_object, port):
    """The port of a Service object that ``port`` (its number, its name, or None for its only port) means ->
    (port dict, None) or (None, why not)."""
    ports = (service_object.get('spec') or {}).get('ports') or []
    if port is None:
        if len(ports) == 1:
            return ports[0], None
        return None, 'has %d ports, so service.port must name one (%s)' % (len(ports), _ports_text(ports))
    for candidate in ports:
        if (isinstance(port, int) and candidate.get('port') == port) or \
                (not isinstance(port, int) and candidate.get('name') == port):
            return candidate, None
    return None, 'has no port %s (%s)' % (port, _ports_text(ports) or 'no ports')


def _ports_text(ports):
    return ', '.join('%s%s' % (p.get('port'), ' (%s)' % p['name'] if p.get('name') else '') for p in ports)


def ready_endpoints(slices, port_name):
    """EndpointSlices of a Service -> (ready endpoints, how many are not), the ready ones as dicts of address, port
    (the target port of the Service port named ``port_name``, '' when it is unnamed) and pod (name or None).

    Ready as kube-proxy reads it: conditions.ready not false (the API says a missing value means ready), and
    not terminating. One address per endpoint (the first), each address once over all slices."""
    ready = []
    not_ready = 0
    seen = set()
    for piece in slices or []:
        target = None
        for port in piece.get('ports') or []:
            if (port.get('name') or '') == (port_name or '') and (port.get('protocol') or 'TCP') == 'TCP':
                target = port.get('port')
        if not target:
            continue
        for endpoint in piece.get('endpoints') or []:
            addresses = endpoint.get('addresses') or []
            if not addresses:
                continue
            conditions = endpoint.get('conditions') or {}
            if conditions.get('ready') is False or conditions.get('terminating') is True:
                not_ready += 1
                continue
            address = addresses[0]
            if (address, target) in seen:
                continue
            seen.add((address, target))
            ref = endpoint.get('targetRef') or {}
            ready.append(dict(address=address, port=target,
                              pod=ref.get('name') if ref.get('kind', 'Pod') == 'Pod' else None))
    return ready, not_ready


def endpoint_text(endpoint):
    where = '[%s]:%s' % (endpoint['address'], endpoint['port']) if ':' in endpoint['address'] else \
        '%s:%s' % (endpoint['address'], endpoint['port'])
    return 'pod %s at %s' % (endpoint['pod'], where) if endpoint.get('pod') else where


def endpoint_url(service, endpoint):
    host = '[%s]' % endpoint['address'] if ':' in endpoint['address'] else endpoint['address']
    return '%s://%s:%s%s' % (service['scheme'], host, endpoint['port'], service['path'])


def service_sample(probe, get_service, list_slices, choose=random.choice, clock=time.monotonic):
    """One sample of an http probe on a Service: ``get_service(namespace, name)`` -> the Service object or None,
    ``list_slices(namespace, name)`` -> its EndpointSlices. A ready endpoint is picked at random (``choose``), as
    kube-proxy's iptables mode does, and requested as http_sample does; on no answer at all (a connection error
    or a timeout) another ready endpoint is tried, up to the probe's attempts."""
    service = probe['service']
    key = service_key(service)
    try:
        found = get_service(service['namespace'], service['name'])
        if found is None:
            return False, None, 'no Service %s' % key
        port, why_not = service_port(found, service['port'])
        if port is None:
            return False, None, 'Service %s %s' % (key, why_not)
        endpoints, not_ready = ready_endpoints(list_slices(service['namespace'], service['name']), port.get('name'))
    except Exception as exc:  # pylint: disable=broad-exception-caught
        return False, None, 'error reading Service %s: %s' % (key, exc)
    if not endpoints:
        return False, None, 'no ready endpoint of Service %s%s' % (
            key, ' (%d not ready)' % not_ready if not_ready else '')
    missed = []
    while True:
        endpoint = choose(endpoints)
        ok, value, detail = http_sample(dict(probe, url=endpoint_url(service, endpoint)), clock)
        detail = '%s: %s' % (endpoint_text(endpoint), detail)
        endpoints = [e for e in endpoints if e is not endpoint]
        # An answer (even a wrong one) is what the client gets; only no answer is worth another endpoint.
        if value is not None or not endpoints or len(missed) + 1 >= probe.get('attempts', 1):
            break
        missed.append(detail)
    if missed:
        detail += ', after %s' % '; '.join(missed)
    return ok, value, detail


def json_check(probe, body, secrets=()):
    """The probe's json_query on an HTTP body (bytes) -> (ok, detail). The detail shows the result, redacted and
    cut to MAX_SHOWN characters."""
    if len(body) > MAX_BODY_BYTES:
        return False, 'the body is over %d bytes, too long to query' % MAX_BODY_BYTES
    try:
        document = json.loads(body, parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and UnicodeDecodeError.
        return False, 'the body is not JSON: %s' % (_cut(scrub(str(exc), secrets)),)
    query = probe['json_query']
    try:
        result = jmespath.search(query, document)
    except JMESPathError as exc:
        return False, 'json_query %s failed: %s' % (_cut(query), _cut(scrub(' '.join(str(exc).split()), secrets)))
    said = '%s = %s' % (_cut(query), _shown(result, secrets))
    if 'json_equals' in probe:
        if json_equal(result, probe['json_equals']):
            return True, said
        return False, '%s, expected %s' % (said, _shown(probe['json_equals'], secrets))
    low, high = probe['json_range']
    if _is_number(result) and (low is None or result >= low) and (high is None or result <= high):
        return True, said
    return False, '%s, expected %s' % (said, range_text(low, high))


def _not_json(constant):
    raise ValueError('%s is not a JSON number' % constant)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def json_equal(one, other):
    """Equality of JSON values: 1 equals 1.0, but true is not 1 (as in JSON, unlike in Python)."""
    if isinstance(one, bool) or isinstance(other, bool):
        return isinstance(one, bool) and isinstance(other, bool) and one == other
    if _is_number(one) and _is_number(other):
        return one == other
    if isinstance(one, list) and isinstance(other, list):
        return len(one) == len(other) and all(json_equal(a, b) for a, b in zip(one, other))
    if isinstance(one, dict) and isinstance(other, dict):
        return set(one) == set(other) and all(json_equal(one[key], other[key]) for key in one)
    if one is None or other is None:
        return one is None and other is None
    return type(one) is type(other) and one == other


def range_text(low, high):
    """json_range in words: 'a number from 0 to 100', 'a number of at least 10', ..."""
    if low is None and high is None:
        return 'a number'
    if high is None:
        return 'a number of at least %s' % _number_text(low)
    if low is None:
        return 'a number of at most %s' % _number_text(high)
    return 'a number from %s to %s' % (_number_text(low), _number_text(high))


def _number_text(number):
    return str(int(number)) if float(number).is_integer() and abs(number) < 1e15 else repr(float(number))


def _shown(value, secrets=()):
    """A JSON value as compact JSON text, values of secret keys masked, cut to MAX_SHOWN characters."""
    text = json.dumps(redact(value, secrets), sort_keys=True, ensure_ascii=False, separators=(', ', ': '))
    # Scrubbed before it is cut: a secret cut in two would no longer be found.
    return _cut(scrub(text, secrets))


def _cut(text, limit=MAX_SHOWN):
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _origin(url):
    parts = urlsplit(url)
    port = parts.port or {'http': 80, 'https': 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or '').lower(), port


class _SameOriginCredentials(HTTPRedirectHandler):
    """Follows redirects, but sends no credential header to another scheme, host or port."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = HTTPRedirectHandler.redirect_request(self, req, fp, code, msg, headers, newurl)
        if new is not None and _origin(new.full_url) != _origin(req.full_url):
            for name in list(new.headers):
                if is_secret_header(name):
                    del new.headers[name]
        return new


def _fmt(number):
    return ('%.3f' % number).rstrip('0').rstrip('.')
