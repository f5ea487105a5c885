# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a probe is: its definition checked (types, keys, ranges, the libraries it needs), its threshold, its secrets.

Free of Ansible and of I/O: the probe and sampler modules validate their ``probes`` with ``validate_probes`` before
anything is sampled; the samples themselves are in _probe_http.py (http) and _probe.py (containers, pods, rounds).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import math
import re
import traceback

from urllib.parse import unquote, urlsplit, urlunsplit

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.chaos.engineering.plugins.module_utils._redact import scrub, secret_values
from ansible_collections.chaos.engineering.plugins.module_utils._selection import SelectionError, validate_criteria


# Only an http probe with a json_query needs jmespath: a missing library fails those probes, not the module.
try:
    import jmespath
    import jmespath.functions
    from jmespath.exceptions import JMESPathError
    JMESPATH_IMPORT_ERROR = None
except ImportError:
    jmespath = None
    JMESPathError = Exception
    JMESPATH_IMPORT_ERROR = traceback.format_exc()

PROBE_TYPES = ('http', 'containers', 'pods', 'prometheus')
HTTP_METHODS = ('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH')
SELECTION_KEYS = ('names', 'name_pattern', 'labels', 'exclude_labels')
# The most of an HTTP body a probe reads (the latency includes reading it).
MAX_BODY_BYTES = 1024 * 1024
# The most of a json_query result a sample's detail shows, in characters.
MAX_SHOWN = 120
# The longest an HTTP probe may wait for an answer, in seconds (a day, as every timeout of the collection).
MAX_TIMEOUT = 24 * 3600
SERVICE_KEYS = ('name', 'namespace', 'port', 'scheme', 'path')
# The most endpoints one sample of a Service probe tries (attempts).
MAX_ATTEMPTS = 10
# Names of Services, namespaces and Service ports are DNS labels.
K8S_NAME = PORT_NAME = re.compile(r'^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')

COMMON_KEYS = ('name', 'type')
TYPE_KEYS = dict(
    http=('url', 'service', 'attempts', 'method', 'status', 'latency_ms', 'timeout', 'validate_certs', 'headers',
          'url_username', 'url_password', 'json_query', 'json_equals', 'json_range'),
    containers=('selection', 'min_running'),
    pods=('namespace', 'label_selector', 'min_ready'),
    prometheus=('url', 'query', 'method', 'timeout', 'validate_certs', 'headers', 'url_username', 'url_password',
                'value_equals', 'value_range'),
)
# An instant query is read with GET or, for a long query, POST (both are Prometheus' /api/v1/query).
PROMETHEUS_METHODS = ('GET', 'POST')


class ProbeError(Exception):
    """A probe definition that cannot be run."""


class MissingLibraryError(ProbeError):
    """A probe needs a Python library that cannot be imported: ``library`` names it, ``reason`` says what needs it
    (for missing_required_lib), ``error`` is the import's traceback (for AnsibleModule.fail_json's ``exception``)."""

    def __init__(self, message, library, reason, error):
        super(MissingLibraryError, self).__init__(message)
        self.library = library
        self.reason = reason
        self.error = error


def _number(value, what, minimum=None, strictly=False, maximum=None):
    if isinstance(value, bool):
        raise ProbeError('%s must be a number, got %r.' % (what, value))
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ProbeError('%s must be a number, got %r.' % (what, value))
    if not math.isfinite(number):
        raise ProbeError('%s must be a finite number, got %r.' % (what, value))
    if minimum is not None and (number < minimum or (strictly and number == minimum)):
        raise ProbeError('%s must be %s %s, got %r.' % (what, 'greater than' if strictly else 'at least', minimum, value))
    if maximum is not None and number > maximum:
        raise ProbeError('%s must be at most %s, got %r.' % (what, maximum, value))
    return number


def _integer(value, what, minimum=0):
    if isinstance(value, bool):
        raise ProbeError('%s must be an integer, got %r.' % (what, value))
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ProbeError('%s must be an integer, got %r.' % (what, value))
    if number < minimum:
        raise ProbeError('%s must be at least %d, got %r.' % (what, minimum, value))
    return number


def _boolean(value, what):
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise ProbeError('%s must be a boolean, got %r.' % (what, value))


def _validate_http(probe, raw, what):
    url = raw.get('url')
    if raw.get('service') is not None:
        if url is not None:
            raise ProbeError('%s: url and service are mutually exclusive (service requests an endpoint of a '
                             'Kubernetes Service, url a fixed address).' % what)
        probe['service'] = _validate_service(raw['service'], what)
        attempts = raw.get('attempts')
        probe['attempts'] = 1 if attempts is None else _integer(attempts, '%s: attempts' % what, minimum=1)
        if probe['attempts'] > MAX_ATTEMPTS:
            raise ProbeError('%s: attempts must be at most %d, got %r.' % (what, MAX_ATTEMPTS, attempts))
    else:
        if raw.get('attempts') is not None:
            raise ProbeError('%s: attempts needs a service (it is how many ready endpoints one sample may try).' % what)
        if not url or not isinstance(url, str):
            raise ProbeError('%s: an http probe needs a url or a service.' % what)
        _validate_url(url, what)
    method = str(raw.get('method') or 'GET').upper()
    if method not in HTTP_METHODS:
        raise ProbeError('%s: method must be one of %s, got %r.' % (what, ', '.join(HTTP_METHODS), raw.get('method')))
    status = raw.get('status')
    if status is None:
        status = [200]
    elif not isinstance(status, (list, tuple)):
        status = [status]
    if not status:
        raise ProbeError('%s: status must list at least one HTTP status code.' % what)
    codes = []
    for code in status:
        code = _integer(code, '%s: status' % what, minimum=100)
        if code > 599:
            raise ProbeError('%s: status codes are 100 to 599, got %d.' % (what, code))
        codes.append(code)
    latency = raw.get('latency_ms')
    if latency is not None:
        latency = _number(latency, '%s: latency_ms' % what, minimum=0, strictly=True)
    probe.update(url=url if probe.get('service') is None else None, method=method, status=codes, latency_ms=latency)
    _validate_timeout(probe, raw, what)
    _validate_http_auth(probe, raw, what)
    _validate_json_check(probe, raw, what)


def _validate_url(url, what):
    if not re.match(r'^https?://[^/\s]+', url):
        raise ProbeError('%s: url must start with http:// or https:// and name a host, got %r.' % (what, scrub(url)))


def _validate_timeout(probe, raw, what):
    """timeout and validate_certs, the request settings of http and prometheus probes."""
    timeout = raw.get('timeout')
    probe['timeout'] = 5.0 if timeout is None else _number(timeout, '%s: timeout' % what, minimum=0, strictly=True,
                                                           maximum=MAX_TIMEOUT)
    validate = raw.get('validate_certs')
    probe['validate_certs'] = True if validate is None else _boolean(validate, '%s: validate_certs' % what)


def _validate_prometheus(probe, raw, what):
    """url (the Prometheus base URL), query (PromQL), method GET or POST, and exactly one of value_equals and
    value_range, read as json_equals (a number here) and json_range are."""
    url = raw.get('url')
    if not url or not isinstance(url, str):
        raise ProbeError('%s: a prometheus probe needs a url, the base URL of Prometheus.' % what)
    _validate_url(url, what)
    if urlsplit(split_userinfo(url)[0]).query or '#' in url:
        raise ProbeError('%s: url must be the base URL of Prometheus (for example http://prometheus:9090), without a '
                         'query or fragment, got %r.' % (what, scrub(url)))
    query = raw.get('query')
    if not isinstance(query, str) or not query.strip():
        raise ProbeError('%s: a prometheus probe needs a query, a PromQL expression, got %r.' % (what, query))
    method = str(raw.get('method') or 'GET').upper()
    if method not in PROMETHEUS_METHODS:
        raise ProbeError('%s: method must be GET or POST for a prometheus probe, got %r.' % (what, raw.get('method')))
    probe.update(url=url, query=query, method=method)
    _validate_timeout(probe, raw, what)
    _validate_http_auth(probe, raw, what)
    has_equals = raw.get('value_equals') is not None
    has_range = raw.get('value_range') is not None
    if has_equals == has_range:
        raise ProbeError('%s: a prometheus probe needs exactly one of value_equals and value_range.' % what)
    if has_equals:
        probe['value_equals'] = _number(raw['value_equals'], '%s: value_equals' % what)
        return
    probe['value_range'] = _number_range(raw['value_range'], '%s: value_range' % what)


def _number_range(bounds, what):
    """[low, high], either None for an open end, low <= high."""
    if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
        raise ProbeError('%s must be [low, high] (either may be null), got %r.' % (what, bounds))
    low, high = [None if b is None else _number(b, what) for b in bounds]
    if low is not None and high is not None and low > high:
        raise ProbeError('%s must be [low, high] with low <= high, got %r.' % (what, bounds))
    return [low, high]


def _validate_json_check(probe, raw, what):
    """json_query with exactly one of json_equals (null included: a key that is present) and json_range."""
    query = raw.get('json_query')
    has_equals = 'json_equals' in raw
    has_range = raw.get('json_range') is not None
    if query is None:
        if has_equals or has_range:
            raise ProbeError('%s: json_equals and json_range need a json_query.' % what)
        return
    if not isinstance(query, str) or not query.strip():
        raise ProbeError('%s: json_query must be a JMESPath expression, got %r.' % (what, query))
    if has_equals == has_range:
        raise ProbeError('%s: a json_query needs exactly one of json_equals and json_range.' % what)
    if probe['method'] == 'HEAD':
        raise ProbeError('%s: a json_query needs a body, and the answer to HEAD has none.' % what)
    if jmespath is None:
        raise MissingLibraryError('%s: json_query needs the Python library jmespath, which cannot be imported '
                                  '(pip install jmespath).' % what, 'jmespath', 'for the json_query of %s' % what,
                                  JMESPATH_IMPORT_ERROR)
    try:
        parsed = jmespath.compile(query)
    except JMESPathError as exc:
        raise ProbeError('%s: json_query %r is not a valid JMESPath expression: %s' % (
            what, query, ' '.join(str(exc).split())))
    unknown = sorted(_unknown_functions(getattr(parsed, 'parsed', None)))
    if unknown:
        # jmespath itself finds these only when it evaluates them, on the first sample.
        raise ProbeError('%s: json_query %r is not a valid JMESPath expression: Unknown function: %s.' % (
            what, query, ', '.join('%s()' % name for name in unknown)))
    probe['json_query'] = query
    if has_equals:
        try:
            # Through JSON and back: tuples become lists, and what JSON cannot say is refused.
            probe['json_equals'] = json.loads(json.dumps(raw['json_equals'], allow_nan=False))
        except (TypeError, ValueError):
            raise ProbeError('%s: json_equals must be a JSON value, got %r.' % (what, raw['json_equals']))
        return
    probe['json_range'] = _number_range(raw['json_range'], '%s: json_range' % what)


def _unknown_functions(node):
    """The names of functions that JMESPath does not have, called in a parsed expression (its AST of dicts)."""
    known = getattr(getattr(jmespath, 'functions', None), 'Functions', None)
    known = getattr(known, 'FUNCTION_TABLE', None)
    if not isinstance(node, dict) or not known:
        return set()
    found = set()
    stack = [node]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        if node.get('type') == 'function_expression' and node.get('value') not in known:
            found.add(str(node.get('value')))
        stack.extend(node.get('children') or ())
    return found


def split_userinfo(url):
    """``http://user:pass@host:port/path`` -> (``http://host:port/path``, user, password).

    User and password are percent-decoded, None when the URL has no userinfo (password None without a ``:``).
    """
    parts = urlsplit(url)
    if '@' not in parts.netloc:
        return url, None, None
    userinfo, dummy, hostport = parts.netloc.rpartition('@')
    user, colon, password = userinfo.partition(':')
    return (urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment)), unquote(user),
            unquote(password) if colon else None)


def basic_auth(user, password):
    """The value of an ``Authorization: Basic`` header."""
    token = ('%s:%s' % (user or '', password or '')).encode('utf-8')
    return 'Basic ' + base64.b64encode(token).decode('ascii')


def _validate_http_auth(probe, raw, what):
    """headers, url_username, url_password, and the userinfo of the URL turned into Basic auth."""
    headers = raw.get('headers')
    if headers is None:
        headers = {}
    if not isinstance(headers, dict):
        raise ProbeError('%s: headers must be a dictionary of header names and values.' % what)
    clean = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not re.match(r'^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$', name):
            raise ProbeError('%s: %r is not an HTTP header name.' % (what, name))
        if value is None or isinstance(value, (dict, list, tuple)):
            raise ProbeError('%s: header %s must have a string value.' % (what, name))
        value = str(value)
        if '\r' in value or '\n' in value:
            raise ProbeError('%s: header %s must not contain a line break.' % (what, name))
        clean[name] = value
    for key in ('url_username', 'url_password'):
        if raw.get(key) is not None and not isinstance(raw[key], (str, int, float)):
            raise ProbeError('%s: %s must be a string.' % (what, key))
    url, user, password = split_userinfo(probe['url']) if probe['url'] else (None, None, None)
    if raw.get('url_username') is not None:
        user = str(raw['url_username'])
    if raw.get('url_password') is not None:
        password = str(raw['url_password'])
    if (user or password) and not any(n.lower() == 'authorization' for n in clean):
        # As ansible.builtin.uri with force_basic_auth: sent with the first request, not after a 401.
        clean['Authorization'] = basic_auth(user, password)
    probe['url'] = url
    if clean:
        probe['headers'] = clean


def _validate_service(service, what):
    """service: dict(name, namespace='default', port=None (the Service's only port), scheme='http', path='/')."""
    if not isinstance(service, dict):
        raise ProbeError('%s: service must be a dictionary with %s.' % (what, ', '.join(SERVICE_KEYS)))
    unknown = sorted(set(service) - set(SERVICE_KEYS))
    if unknown:
        raise ProbeError('%s: unknown service keys %s (valid: %s).' % (what, ', '.join(unknown), ', '.join(SERVICE_KEYS)))
    clean = {}
    for key, default in (('name', None), ('namespace', 'default')):
        value = service.get(key)
        if value is None and default is not None:
            value = default
        if not isinstance(value, str) or not K8S_NAME.match(value):
            raise ProbeError('%s: service.%s must be the name of a Kubernetes %s, got %r.' % (
                what, key, 'Service' if key == 'name' else 'namespace', value))
        clean[key] = value
    port = service.get('port')
    if isinstance(port, bool) or isinstance(port, float):
        raise ProbeError('%s: service.port must be a port number or the name of a port of the Service, got %r.' % (
            what, port))
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port)
    if isinstance(port, int):
        if not 1 <= port <= 65535:
            raise ProbeError('%s: service.port must be from 1 to 65535, got %d.' % (what, port))
    elif port is not None and not (isinstance(port, str) and PORT_NAME.match(port)):
        raise ProbeError('%s: service.port must be a port number or the name of a port of the Service, got %r.' % (
            what, port))
    clean['port'] = port
    scheme = str(service.get('scheme') or 'http').lower()
    if scheme not in ('http', 'https'):
        raise ProbeError('%s: service.scheme must be http or https, got %r.' % (what, service.get('scheme')))
    clean['scheme'] = scheme
    path = service.get('path')
    path = '/' if path is None else path
    if not isinstance(path, str) or not path.startswith('/') or re.search(r'[\s#]', path):
        raise ProbeError('%s: service.path must start with / and have no spaces or #, got %r.' % (what, path))
    clean['path'] = path
    return clean


def probe_secrets(probes):
    """The secrets in probe definitions (given or normalized): for AnsibleModule.no_log_values and scrub()."""
    return secret_values(probes)


def _validate_containers(probe, raw, what):
    selection = raw.get('selection')
    if selection is None:
        selection = {}
    if not isinstance(selection, dict):
        raise ProbeError('%s: selection must be a dictionary with %s.' % (what, ', '.join(SELECTION_KEYS)))
    unknown = sorted(set(selection) - set(SELECTION_KEYS))
    if unknown:
        raise ProbeError('%s: unknown selection keys %s (valid: %s).' % (what, ', '.join(unknown), ', '.join(SELECTION_KEYS)))
    names = selection.get('names')
    if names is not None and not isinstance(names, (list, tuple)):
        names = [names]
    for key in ('labels', 'exclude_labels'):
        if selection.get(key) is not None and not isinstance(selection[key], dict):
            raise ProbeError('%s: selection.%s must be a dictionary.' % (what, key))
    if selection.get('name_pattern') is not None and not isinstance(selection['name_pattern'], str):
        raise ProbeError('%s: selection.name_pattern must be a string, got %r.' % (what, selection['name_pattern']))
    criteria = dict(
        names=[str(n) for n in names] if names else None,
        name_pattern=selection.get('name_pattern'),
        labels=selection.get('labels') or None,
        exclude_labels=selection.get('exclude_labels') or None,
    )
    try:
        # Observation, not harm: no selector means every running container.
        validate_criteria(dict(criteria, allow_all=True))
    except SelectionError as exc:
        raise ProbeError('%s: %s' % (what, exc))
    min_running = raw.get('min_running')
    probe.update(selection=criteria, min_running=1 if min_running is None else _integer(min_running, '%s: min_running' % what))


def _validate_pods(probe, raw, what):
    for key in ('namespace', 'label_selector'):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise ProbeError('%s: %s must be a string, got %r.' % (what, key, raw[key]))
    min_ready = raw.get('min_ready')
    probe.update(namespace=raw.get('namespace') or None, label_selector=raw.get('label_selector') or None,
                 min_ready=1 if min_ready is None else _integer(min_ready, '%s: min_ready' % what))


VALIDATORS = dict(http=_validate_http, containers=_validate_containers, pods=_validate_pods,
                  prometheus=_validate_prometheus)


def validate_probes(probes):
    """Probe definitions as given -> normalized probe dicts with every default filled in.

    Raises ProbeError with a message naming the probe for anything that cannot be run.
    """
    if not probes:
        raise ProbeError('probes must list at least one probe.')
    normalized = []
    seen = set()
    for index, raw in enumerate(probes):
        if not isinstance(raw, dict):
            raise ProbeError('probes[%d] must be a dictionary, got %r.' % (index, raw))
        name = raw.get('name')
        what = 'probes[%d]' % index if not name else 'probe %r' % name
        if not name or not isinstance(name, str):
            raise ProbeError('%s needs a name.' % what)
        if name in seen:
            raise ProbeError('probe names must be unique; %r is used twice.' % name)
        seen.add(name)
        kind = raw.get('type')
        if kind not in PROBE_TYPES:
            raise ProbeError('%s: type must be one of %s, got %r.' % (what, ', '.join(PROBE_TYPES), kind))
        unknown = sorted(set(raw) - set(COMMON_KEYS) - set(TYPE_KEYS[kind]))
        if unknown:
            raise ProbeError('%s: unknown keys for a %s probe: %s (valid: %s).' % (
                what, kind, ', '.join(unknown), ', '.join(COMMON_KEYS + TYPE_KEYS[kind])))
        probe = dict(name=name, type=kind)
        VALIDATORS[kind](probe, raw, what)
        normalized.append(probe)
    return normalized


def probe_threshold(probe):
    """What a sample's value is measured in and the line it must stay on the right side of, for reports:
    dict(unit, op, value) with op '>=', '<=' or '==' (value None when the probe judges no number, e.g. only a status)."""
    kind = probe.get('type')
    if kind == 'containers':
        return dict(unit='running', op='>=', value=probe.get('min_running', 1))
    if kind == 'pods':
        return dict(unit='ready', op='>=', value=probe.get('min_ready', 1))
    if kind == 'prometheus':
        return _prometheus_threshold(probe)
    return dict(unit='ms', op='<=', value=probe.get('latency_ms'))


def _prometheus_threshold(probe):
    """The line of a prometheus probe: its value_equals, else the closed end of value_range (the upper one when
    both are closed: a bad steady state is more often a number that grew, such as errors or latency)."""
    unit = 'value'
    if probe.get('value_equals') is not None:
        return dict(unit=unit, op='==', value=probe['value_equals'])
    low, high = (list(probe.get('value_range') or []) + [None, None])[:2]
    if high is not None:
        return dict(unit=unit, op='<=', value=high)
    return dict(unit=unit, op='>=', value=low)


def needed_clients(probes):
    """Which connections the probes need: a subset of {'docker', 'k8s'}."""
    kinds = set(p['type'] for p in probes)
    needed = set()
    if 'containers' in kinds:
        needed.add('docker')
    if 'pods' in kinds or any(p.get('service') for p in probes):
        needed.add('k8s')
    return needed
