# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Steady-state probes: HTTP, running containers, ready pods; sampled in rounds.

Everything here is free of Ansible: the probe module validates its options, builds
the clients a probe type needs, and hands them to a ProbeRunner. The runner takes
its clock and sleep as arguments, so its round logic is tested without waiting.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import math
import random
import re
import socket
import ssl
import time
import traceback

from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import HTTPRedirectHandler, HTTPSHandler, Request, build_opener

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.chaos.engineering.plugins.module_utils._redact import (
    is_secret_header,
    redact,
    scrub,
    secret_values,
)

from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import iso_utc
from ansible_collections.chaos.engineering.plugins.module_utils._selection import (
    SelectionError,
    is_helper,
    matches_criteria,
    validate_criteria,
)

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

PROBE_TYPES = ('http', 'containers', 'pods')
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
)


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
        if not re.match(r'^https?://[^/\s]+', url):
            raise ProbeError('%s: url must start with http:// or https:// and name a host, got %r.' % (
                what, scrub(url)))
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
    timeout = raw.get('timeout')
    timeout = 5.0 if timeout is None else _number(timeout, '%s: timeout' % what, minimum=0, strictly=True,
                                                  maximum=MAX_TIMEOUT)
    validate = raw.get('validate_certs')
    validate = True if validate is None else _boolean(validate, '%s: validate_certs' % what)
    probe.update(url=url if probe.get('service') is None else None, method=method, status=codes, latency_ms=latency, timeout=timeout, validate_certs=validate)
    _validate_http_auth(probe, raw, what)
    _validate_json_check(probe, raw, what)


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
    bounds = raw['json_range']
    if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
        raise ProbeError('%s: json_range must be [low, high] (either may be null), got %r.' % (what, bounds))
    low, high = [None if b is None else _number(b, '%s: json_range' % what) for b in bounds]
    if low is not None and high is not None and low > high:
        raise ProbeError('%s: json_range must be [low, high] with low <= high, got %r.' % (what, bounds))
    probe['json_range'] = [low, high]


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


VALIDATORS = dict(http=_validate_http, containers=_validate_containers, pods=_validate_pods)


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
    dict(unit, op, value) with op '>=' or '<=' (value None when the probe judges no number, e.g. only a status)."""
    kind = probe.get('type')
    if kind == 'containers':
        return dict(unit='running', op='>=', value=probe.get('min_running', 1))
    if kind == 'pods':
        return dict(unit='ready', op='>=', value=probe.get('min_ready', 1))
    return dict(unit='ms', op='<=', value=probe.get('latency_ms'))


def needed_clients(probes):
    """Which connections the probes need: a subset of {'docker', 'k8s'}."""
    kinds = set(p['type'] for p in probes)
    needed = set()
    if 'containers' in kinds:
        needed.add('docker')
    if 'pods' in kinds or any(p.get('service') for p in probes):
        needed.add('k8s')
    return needed


# ---------------------------------------------------------------------------------------------
# One sample of one probe: (ok, value, detail)


def http_sample(probe, clock=time.monotonic):
    """Send one request; returns (ok, latency in ms or None, detail). Redirects are followed."""
    context = None
    if probe['url'].lower().startswith('https://'):
        context = ssl.create_default_context()
        if not probe['validate_certs']:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    handlers = [_SameOriginCredentials()]
    if context is not None:
        handlers.append(HTTPSHandler(context=context))
    opener = build_opener(*handlers)
    headers = {'User-Agent': 'chaos.engineering-probe'}
    headers.update(probe.get('headers') or {})
    # No userinfo reaches urllib: it would resolve 'user:pass@host' as the host name (and so send it to DNS).
    url = split_userinfo(probe['url'])[0]
    request = Request(url, method=probe['method'], headers=headers)
    secrets = probe_secrets([probe])
    began = clock()
    try:
        try:
            response = opener.open(request, timeout=probe['timeout'])
        except HTTPError as exc:
            response = exc  # an HTTP answer all the same: its status is what we judge
        try:
            # One byte more than is judged: a body cut at the limit is not taken for the whole of it.
            body = response.read(MAX_BODY_BYTES + 1)
        finally:
            response.close()
        status = response.getcode() if hasattr(response, 'getcode') else response.code
    except (socket.timeout, TimeoutError):
        return False, None, 'timed out after %ss' % _fmt(probe['timeout'])
    except URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return False, None, 'timed out after %ss' % _fmt(probe['timeout'])
        return False, None, 'error: %s' % (scrub(str(reason), secrets),)
    except (OSError, ValueError) as exc:
        return False, None, 'error: %s' % (scrub(str(exc), secrets),)
    latency = round((clock() - began) * 1000.0, 3)
    if status not in probe['status']:
        return False, latency, 'HTTP %s, expected %s' % (status, ' or '.join(str(s) for s in probe['status']))
    if probe['latency_ms'] is not None and latency > probe['latency_ms']:
        return False, latency, 'HTTP %s in %s ms, over the %s ms budget' % (status, _fmt(latency), _fmt(probe['latency_ms']))
    if probe.get('json_query') is None:
        return True, latency, 'HTTP %s' % status
    ok, detail = json_check(probe, body, secrets)
    return ok, latency, 'HTTP %s, %s' % (status, detail)


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


def container_matches(candidate, criteria):
    """A running container matches the probe's selection. The protected label does not matter
    (observation harms nothing), but the collection's own helper containers never count."""
    return not is_helper(candidate) and matches_criteria(candidate, criteria)


def _names_text(names, limit=5):
    shown = ', '.join(sorted(names)[:limit])
    if len(names) > limit:
        shown += ', +%d more' % (len(names) - limit)
    return shown


def containers_sample(probe, list_running):
    """``list_running()`` -> running container candidates (see _docker.container_candidates)."""
    try:
        running = list_running()
    except Exception as exc:  # pylint: disable=broad-exception-caught
        return False, None, 'error listing containers: %s' % (exc,)
    names = [c.get('name') for c in running if container_matches(c, probe['selection'])]
    count = len(names)
    detail = '%d running (min %d)' % (count, probe['min_running'])
    if names:
        detail += ': ' + _names_text(names)
    return count >= probe['min_running'], count, detail


def pods_sample(probe, list_pods, is_ready):
    """``list_pods(namespace, label_selector)`` -> pod dicts; ``is_ready(pod)`` -> Ready and not terminating."""
    try:
        pods = list_pods(probe['namespace'], probe['label_selector'])
    except Exception as exc:  # pylint: disable=broad-exception-caught
        return False, None, 'error listing pods: %s' % (exc,)
    ready = [p for p in pods if is_ready(p)]
    count = len(ready)
    detail = '%d ready of %d (min %d)' % (count, len(pods), probe['min_ready'])
    if ready:
        detail += ': ' + _names_text([(p.get('metadata') or {}).get('name') or '?' for p in ready])
    return count >= probe['min_ready'], count, detail


# ---------------------------------------------------------------------------------------------
# Rounds


class ProbeRunner:
    """Samples every probe, round after round, and decides when to stop.

    ``samplers`` maps a probe type to ``f(probe) -> (ok, value, detail)``.
    ``clock`` (monotonic seconds), ``wall`` (epoch seconds) and ``sleep`` are injectable.
    """

    def __init__(self, probes, samplers, phase='steady', duration=0.0, interval=1.0, fail_fast=True,
                 retries_until_ok=False, clock=time.monotonic, wall=time.time, sleep=time.sleep):
        self.probes = probes
        self.samplers = samplers
        self.phase = phase
        self.duration = max(0.0, float(duration or 0))
        self.interval = max(0.0, float(interval or 0))
        self.fail_fast = fail_fast
        self.retries_until_ok = retries_until_ok
        self.clock = clock
        self.wall = wall
        self.sleep = sleep

    def sample(self, probe):
        at = self.wall()
        try:
            ok, value, detail = self.samplers[probe['type']](probe)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            ok, value, detail = False, None, 'error: %s' % (exc,)
        detail = scrub(str(detail), probe_secrets([probe])) if detail is not None else detail
        return dict(probe=probe['name'], type=probe['type'], phase=self.phase, at=iso_utc(at), ok=bool(ok),
                    value=value, detail=detail)

    def run(self):
        start = self.clock()
        samples = []
        rounds = 0
        recovered_after = None
        any_failed = set()
        last_round_failed = []
        stop = False
        while not stop:
            round_start = self.clock()
            rounds += 1
            last_round_failed = []
            for probe in self.probes:
                sample = self.sample(probe)
                samples.append(sample)
                if not sample['ok']:
                    last_round_failed.append(probe['name'])
                    any_failed.add(probe['name'])
                    if self.fail_fast and not self.retries_until_ok:
                        stop = True
                        break
            if stop:
                break
            if self.retries_until_ok and not last_round_failed:
                recovered_after = round(max(0.0, round_start - start), 3)
                break
            next_round = start + rounds * self.interval
            if self.duration <= 0 or max(next_round, self.clock()) - start > self.duration:
                break
            delay = next_round - self.clock()
            if delay > 0:
                self.sleep(delay)
        if self.retries_until_ok:
            ok = not last_round_failed
            failed = [p['name'] for p in self.probes if p['name'] in last_round_failed]
        else:
            ok = not any_failed
            failed = [p['name'] for p in self.probes if p['name'] in any_failed]
        return dict(ok=ok, samples=samples, failed_probes=failed, rounds=rounds, recovered_after=recovered_after)
