#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: probe
short_description: Check the steady state of a system, once or over time, with HTTP, container, pod and Prometheus probes
version_added: 0.1.0
description:
  - Samples steady-state probes, in rounds, and reports every sample with its time, value and outcome.
  - An V(http) probe sends a request and checks the status code and, optionally, a latency budget and a value in
    its JSON body (a JMESPath expression with an expected value or range). It requests a fixed O(probes[].url), or
    a ready endpoint of a Kubernetes Service (O(probes[].service)), picked at random as kube-proxy does.
    A V(containers) probe counts the running containers that match a selection on the Docker engine of
    O(docker_host). A V(pods) probe counts the Ready pods, not being deleted, that match a label selector.
    A V(prometheus) probe runs a PromQL instant query (C(/api/v1/query)) on a Prometheus server and checks that
    its result is a number equal to O(probes[].value_equals) or in O(probes[].value_range), for every series.
  - With O(duration), all probes are sampled every O(interval) seconds for that long. O(fail_fast) stops at the
    first failed sample (watching a fault); O(retries_until_ok) instead samples until a round where every probe
    passes (verifying recovery) and reports how long that took.
  - A failed probe is reported, not raised, unless O(fail_on_failure=true). The module never changes anything.
  - The module connects only to what its probes need. An V(http) probe with a O(probes[].url), and a V(prometheus)
    probe, need neither Docker nor Kubernetes; with a O(probes[].service) it reads the Service through the
    Kubernetes connection.
author:
  - chaos.engineering maintainers (@chaos-engineering)
extends_documentation_fragment:
  - chaos.engineering.probe_connection
  - chaos.engineering.docker
  - chaos.engineering.runtime
  - chaos.engineering.k8s
requirements:
  - jmespath, only for an V(http) probe with O(probes[].json_query)
attributes:
  check_mode:
    support: full
    description: Probes only read, so they run in check mode exactly as in a normal run.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
  action_group:
    description:
      - Member of both C(group/chaos.engineering.docker) and C(group/chaos.engineering.k8s), so the connection
        set once in C(module_defaults) for either group applies.
    support: full
    membership:
      - chaos.engineering.docker
      - chaos.engineering.k8s
options:
  probes:
    description:
      - The probes to sample, in this order, in every round.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: A name for the probe, unique in O(probes). Samples and O(ignore:failed_probes) use it.
        type: str
        required: true
      type:
        description: What the probe checks.
        type: str
        required: true
        choices: [http, containers, pods, prometheus]
      url:
        description:
          - V(http) probes, this or O(probes[].service). The URL to request, V(http://) or V(https://). Redirects are
            followed.
          - V(prometheus) probes, required. The base URL of the Prometheus server (or of a server with its query API,
            such as Thanos, Mimir or VictoriaMetrics), for example V(http://prometheus:9090) or V(https://example.com/prometheus),
            without a query string; the probe requests C(<url>/api/v1/query). A URL that already ends in
            C(/api/v1/query) is used as it is.
          - Proxies are taken from the usual E(http_proxy), E(https_proxy) and E(no_proxy) environment variables.
        type: str
      service:
        description:
          - V(http) probes, instead of O(probes[].url). A Kubernetes Service whose ready endpoints the probe requests,
            as a client behind kube-proxy would, but without a cluster IP (so it works where there is no kube-proxy,
            and from outside the cluster when the pod IPs can be reached).
          - Each sample reads the Service (its port) and its EndpointSlices (C(discovery.k8s.io/v1), label
            C(kubernetes.io/service-name)) through the Kubernetes connection of the module, which needs C(get) on
            C(services) and C(list) on C(endpointslices) in the namespace.
          - It takes the endpoints ready as kube-proxy reads them (C(conditions.ready) not false, which is how the API
            says a missing value reads, and not C(terminating)) and picks one AT RANDOM, as kube-proxy's iptables
            mode does, then requests V(<scheme>://<endpoint IP>:<target port><path>) like any O(probes[].url), and
            O(probes[].status), O(probes[].latency_ms), O(probes[].json_query) and the headers apply the same way.
          - "The sample's RV(samples[].detail) names the endpoint first, for example
            C(pod web-7d9c-x2kqp at 10.244.1.7:8080: HTTP 200). No ready endpoint fails the sample with
            C(no ready endpoint of Service shop/web) (and how many are not ready); so does a Service that is not
            there or has no such port."
          - A pod killed a moment ago stays listed ready until its next failed readiness check, so a client may be
            sent to it; see O(probes[].attempts).
          - The URL has the endpoint's IP as its host, so with V(https) the certificate is checked against the IP;
            set O(probes[].validate_certs=false), or send the name the service expects in a C(Host) header.
        type: dict
        suboptions:
          name:
            description: The Service's name.
            type: str
            required: true
          namespace:
            description: Its namespace.
            type: str
            default: default
          port:
            description:
              - The Service's port, by its number (C(spec.ports[].port), as a client of the cluster IP would use) or
                its name. The request goes to the target port of the endpoint that serves it.
              - Not needed when the Service has only one port.
            type: raw
          scheme:
            description: V(http) or V(https).
            type: str
            default: http
            choices: [http, https]
          path:
            description: The path (and query) to request, starting with V(/).
            type: str
            default: /
      attempts:
        description:
          - V(http) probes with a O(probes[].service). How many ready endpoints one sample may try, from 1 to 10.
          - When a request gets no answer at all (a connection refused, reset or timed out), the sample tries another
            ready endpoint, not one it tried already, as a client that retries would; an answer, even a failing
            status, is never retried. The sample's RV(samples[].value) is then the latency of the last request, and
            its RV(samples[].detail) lists, after the one that answered, those that did not (C(..., after pod web-1
            at ... error ...)).
          - Each request may take up to O(probes[].timeout).
          - V(1) is a client without retries. V(2) is a client that retries once, the fair hypothesis for a
            service with several replicas whose pods are being killed.
        type: int
        default: 1
      method:
        description:
          - V(http) probes. The request method.
          - V(prometheus) probes, V(GET) or V(POST) (the query form-encoded in the body, for long queries).
        type: str
        default: GET
      status:
        description: V(http) probes. The status codes that pass.
        type: list
        elements: int
        default: [200]
      latency_ms:
        description:
          - V(http) probes. A latency budget in milliseconds (up to the end of the body, at most 1 MiB of it).
            A slower answer fails the sample, even with a passing status.
        type: float
      timeout:
        description: V(http) and V(prometheus) probes. Seconds to wait for an answer; a timeout fails the sample.
          More than 0, at most 86400 (1 day).
        type: float
        default: 5
      validate_certs:
        description: V(http) and V(prometheus) probes. Whether to verify the server's TLS certificate for
          V(https://) URLs.
        type: bool
        default: true
      headers:
        description:
          - V(http) and V(prometheus) probes. Extra request headers, for example C(Authorization) (a bearer token
            for a Prometheus behind an authenticating proxy), C(X-Api-Key) or C(X-Scope-OrgID) (a Mimir tenant).
          - The values of headers that carry credentials (C(Authorization), C(Cookie), any name with C(auth),
            C(token), C(key), C(secret), C(password) or C(session) in it) are masked in everything the module
            returns, and are not sent again when a redirect leads to another scheme, host or port.
        type: dict
      url_username:
        description:
          - V(http) and V(prometheus) probes. The user name for HTTP Basic authentication, sent with the first
            request (as
            C(ansible.builtin.uri) does with C(force_basic_auth=true)).
          - A user name and password in the URL (V(http://user:pass@host/)) are used the same way; the URL is sent
            without them, and only its host is resolved. O(probes[].url_username) and O(probes[].url_password) take
            precedence over the URL's; an C(Authorization) header in O(probes[].headers) takes precedence over both.
        type: str
      url_password:
        description:
          - V(http) and V(prometheus) probes. The password for HTTP Basic authentication, with
            O(probes[].url_username).
          - It is masked in everything the module returns. Set C(no_log) on the task to keep the target's system
            log free of it and of O(probes[].headers).
        type: str
      json_query:
        description:
          - V(http) probes. A JMESPath expression (U(https://jmespath.org/)) evaluated on the body of the answer,
            parsed as JSON (at most 1 MiB of it), for example V(status), V(queue.depth) or
            V(workers[?state=='up'] | length(@\)). Checked when the module starts; an invalid expression fails
            the task.
          - It needs one of O(probes[].json_equals) and O(probes[].json_range), and the Python library C(jmespath)
            on the host that runs the module. Not for O(probes[].method=HEAD), whose answer has no body.
          - The sample fails when the status does not pass, when the body is not JSON, or when the result does not
            match. Its RV(samples[].detail) shows the result (as JSON, cut to 120 characters, values of secret keys
            masked); its RV(samples[].value) is still the latency. The status and latency checks apply as without it.
          - A key that is not in the body gives V(null), as everywhere in JMESPath, not an error.
          - Unlike the C(jsonpath) tolerance of Chaos Toolkit, this is JMESPath, not JSONPath; the expression has one
            result (a projection such as V(items[*].state) gives one list), not a list of matches, so there is no
            C(count) and no check that a path merely exists (use the function C(length) or compare with V(null)); a result
            is compared with the type of JSON (V(true) is not V(1)); and a range is part of the same check.
        type: str
      json_equals:
        description:
          - V(http) probes, with O(probes[].json_query). Any JSON value, which the result must equal. Numbers are
            equal by value (V(1) equals V(1.0)), but a boolean equals only a boolean (V(true) is not V(1)), and a
            string only a string (V("1") is not V(1)). Lists and dictionaries are compared item by item.
          - V(null) is a value here too, and then the result must be null (for example, a key that is not there).
        type: raw
      json_range:
        description:
          - V(http) probes, with O(probes[].json_query), instead of O(probes[].json_equals). Two numbers,
            V([low, high]); the result must be a number (not a boolean, not a string) from low to high, both
            included.
          - Either may be V(null) for an open end, for example V([null, 100]) for at most 100.
        type: list
        elements: float
      query:
        description:
          - V(prometheus) probes, required. A PromQL expression, evaluated as an instant query (at the time of each
            sample), for example V(sum(rate(http_requests_total{code=~"5.."}[1m]\)\)) or V(up{job="shop"}).
          - "Its syntax is checked by Prometheus, not by the module; a syntax error fails every sample with
            Prometheus' error (C(...: HTTP 400, Prometheus error bad_data: ... parse error ...))."
          - B(Every series) of an instant vector must pass; the sample's RV(samples[].detail) names the failing ones
            by their labels (at most 3, then how many more). A scalar is judged as its one value.
          - A result with B(no series) fails the sample, with C(query returned no series); a steady state that
            cannot be seen does not hold. Where no series is the good case, as for a filter such as
            V(ALERTS{alertstate="firing"}) (krkn's alert profiles), count the series and add V(or vector(0\)) for
            the empty case, as in V(count(ALERTS{alertstate="firing"}\) or vector(0\)) with
            O(probes[].value_equals=0).
          - V(NaN) fails (it is in no range); V(+Inf) and V(-Inf) are compared as numbers. A string result, a range
            vector (a matrix, from a query such as V(up[5m])) and a native histogram sample are not numbers and fail.
          - A Prometheus error (C(status) V(error)) fails the sample, with its C(errorType) and C(error); so does an
            answer that is not Prometheus' JSON, and no answer at all.
          - The sample's RV(samples[].value) is the number judged; with several series, the worst one (of the failing
            series the one the furthest out of the range, else the one the closest to its edge), null when that is
            not a finite number.
        type: str
      value_equals:
        description:
          - V(prometheus) probes, this or O(probes[].value_range). The number every series (or the scalar) must
            equal, compared as numbers (V(1) equals V(1.0)), as for O(probes[].json_equals).
        type: float
      value_range:
        description:
          - V(prometheus) probes, instead of O(probes[].value_equals). Two numbers, V([low, high]), both included;
            either may be V(null) for an open end, as O(probes[].json_range), for example V([null, 0.01]) for an
            error ratio of at most 1%, or V([2, null]) for at least two replicas up.
          - Like the comparators of Litmus' promProbe, with the range covering C(>=), C(<=) and C(between), and
            O(probes[].value_equals) C(==).
        type: list
        elements: float
      selection:
        description:
          - V(containers) probes. Which running containers count, with the keys of the collection's selection,
            C(names), C(name_pattern), C(labels) and C(exclude_labels) (all given keys must match).
          - Without a selection every running container counts. The protected label does not matter here,
            since a probe harms nothing, but the collection's own helper containers never count.
        type: dict
      min_running:
        description: V(containers) probes. The sample passes when at least this many matching containers run.
        type: int
        default: 1
      namespace:
        description: V(pods) probes. The namespace to count pods in; all namespaces when not given.
        type: str
      label_selector:
        description: V(pods) probes. A label selector in C(kubectl) syntax, evaluated by the API server.
        type: str
      min_ready:
        description: V(pods) probes. The sample passes when at least this many matching pods are Ready.
        type: int
        default: 1
  phase:
    description:
      - A label echoed in every sample, for the journal, for example V(before), V(during) or V(after).
    type: str
    default: steady
  duration:
    description:
      - Keep sampling every probe for this many seconds. V(0) samples each probe once.
      - From 0 to 604800 seconds (7 days).
    type: float
    default: 0
  interval:
    description:
      - Seconds from the start of one round to the start of the next. A round that takes longer is followed at once.
      - More than 0, at most 86400 seconds (1 day).
    type: float
    default: 1
  fail_fast:
    description:
      - Stop sampling at the first failed sample. Ignored with O(retries_until_ok=true).
    type: bool
    default: true
  retries_until_ok:
    description:
      - Sample until a round where every probe passes, or until O(duration) runs out, and report in
        RV(recovered_after) how long it took. RV(ok) is then the outcome of the last round.
    type: bool
    default: false
  fail_on_failure:
    description:
      - Fail the task when RV(ok) is false. Otherwise a failed probe is only reported.
    type: bool
    default: false
  ledger_dir:
    description:
      - Not used. Accepted so that C(module_defaults) for C(group/chaos.engineering.docker), which may set the
        fault modules' ledger directory, also apply to this module.
    type: path
notes:
  - The Docker and Kubernetes connection options are those of the container modules and of the Kubernetes modules,
    except for the TLS ones, which have a name per connection here (O(docker_validate_certs), O(k8s_ca_cert), ...).
  - An engine or API server that cannot be reached when the module starts fails the task; an error later, while
    sampling, fails that sample only.
seealso:
  - module: chaos.engineering.experiment_journal
'''

EXAMPLES = r'''
- name: The steady state before the fault, once
  chaos.engineering.probe:
    phase: before
    fail_on_failure: true
    probes:
      - name: shop answers fast
        type: http
        url: http://shop.example.com/health
        latency_ms: 300
      - name: three web replicas
        type: containers
        selection:
          labels:
            app: web
        min_running: 3

- name: The web Service answers, at a ready endpoint picked at random (no kube-proxy needed), retrying once
  chaos.engineering.probe:
    kubeconfig: ~/.kube/config
    probes:
      - name: web Service answers
        type: http
        service:
          name: web
          namespace: shop
          port: http
          path: /healthz
        attempts: 2
        latency_ms: 500

- name: Watch while the fault is in; stop at the first failed sample
  chaos.engineering.probe:
    phase: during
    duration: 30
    interval: 2
    probes:
      - name: web pods
        type: pods
        namespace: shop
        label_selector: app=web
        min_ready: 2
  register: during

- name: The queue stays short and the service says it is up, from its JSON health page
  chaos.engineering.probe:
    phase: during
    duration: 30
    interval: 2
    probes:
      - name: queue depth
        type: http
        url: http://shop.example.com/metrics.json
        json_query: queue.depth
        json_range: [0, 100]
      - name: status up
        type: http
        url: http://shop.example.com/health
        json_query: status
        json_equals: up

- name: The error ratio stays under 1 % and every shop target is up, from Prometheus, while the fault is in
  chaos.engineering.probe:
    phase: during
    duration: 60
    interval: 5
    probes:
      - name: error ratio
        type: prometheus
        url: http://prometheus.example.com:9090
        query: >-
          sum(rate(http_requests_total{job="shop", code=~"5.."}[1m]))
          / sum(rate(http_requests_total{job="shop"}[1m]))
        value_range: [null, 0.01]
      - name: shop targets up
        type: prometheus
        url: https://prometheus.example.com
        headers:
          Authorization: "Bearer {{ prometheus_token }}"
        query: up{job="shop"}
        value_equals: 1
      - name: no alert firing
        type: prometheus
        url: http://prometheus.example.com:9090
        query: count(ALERTS{alertstate="firing", severity="critical"}) or vector(0)
        value_equals: 0

- name: After the revert, wait up to a minute for the steady state to come back
  chaos.engineering.probe:
    phase: after
    retries_until_ok: true
    duration: 60
    probes:
      - name: shop answers
        type: http
        url: https://shop.example.com/health
        status: [200, 204]
        validate_certs: false
  register: after
'''

RETURN = r'''
ok:
  description:
    - Whether the steady state held. Without O(retries_until_ok), no sample failed; with it, every probe passed
      in the last round.
  type: bool
  returned: always
  sample: true
samples:
  description: Every sample taken, in order.
  type: list
  elements: dict
  returned: always
  contains:
    probe:
      description: The probe's name.
      type: str
      sample: shop answers fast
    type:
      description: The probe's type.
      type: str
      sample: http
    phase:
      description: The value of O(phase).
      type: str
      sample: before
    at:
      description: When the sample was taken, ISO-8601 UTC with milliseconds.
      type: str
      sample: '2026-11-27T10:00:00.123Z'
    ok:
      description: Whether the sample passed.
      type: bool
    value:
      description:
        - Latency in milliseconds for V(http) (a float; null when no answer came), the count of running containers
          or of Ready pods for V(containers) and V(pods) (an integer; null when they could not be listed), the
          number the query gave for V(prometheus) (a float, the worst series of several; null when there is no
          finite number, for example no series, NaN or an error).
      type: raw
      sample: 12.5
    detail:
      description:
        - The status code, the reason for a failure, or the error. For an V(http) probe with a O(probes[].service),
          the endpoint first, for example C(pod web-1 at 10.244.1.7:8080) then the status. For an V(http) probe with a
          O(probes[].json_query), the status code, then the expression and its result, for example
          C(HTTP 200, queue.depth = 12) or C(HTTP 200, queue.depth = 150, expected a number from 0 to 100).
        - 'For a V(prometheus) probe, the query (on one line, cut to 120 characters), then its result, for example
          C(up{job="shop"}: 1 of 3 series fail (expected equal to 1): up{instance="web-2:8080", job="shop"} = 0),
          C(rate(errors_total[1m]\) = 0.002) or C(...: query returned no series).'
      type: str
      sample: HTTP 200
  sample:
    - {probe: shop answers fast, type: http, phase: before, at: '2026-11-27T10:00:00.123Z', ok: true, value: 12.5,
       detail: HTTP 200}
failed_probes:
  description:
    - The names of the probes that made RV(ok) false, in the order of O(probes). Without O(retries_until_ok), those
      with any failed sample; with it, those that failed in the last round.
  type: list
  elements: str
  returned: always
  sample: []
rounds:
  description: How many rounds were sampled.
  type: int
  returned: always
  sample: 1
recovered_after:
  description:
    - With O(retries_until_ok), the seconds from the start of the module to the start of the first round where
      every probe passed; null when no round passed, and always null without O(retries_until_ok).
  type: float
  returned: always
  sample: 4.012
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.chaos.engineering.plugins.module_utils import _probe_clients, _validate
from ansible_collections.chaos.engineering.plugins.module_utils._probe import ProbeRunner

# The documented ranges (see _validate.py), checked before anything connects.
BOUNDS = dict(_validate.DOCKER_BOUNDS, duration=_validate.bound(0, _validate.WEEK, integer=False),
              interval=_validate.bound(0, _validate.DAY, integer=False, exclusive_minimum=True))


def argument_spec():
    spec = _probe_clients.connection_spec()
    spec.update(
        probes=dict(type='list', elements='dict', required=True),
        phase=dict(type='str', default='steady'),
        duration=dict(type='float', default=0),
        interval=dict(type='float', default=1),
        fail_fast=dict(type='bool', default=True),
        retries_until_ok=dict(type='bool', default=False),
        fail_on_failure=dict(type='bool', default=False),
        ledger_dir=dict(type='path'),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    probes = _probe_clients.checked_probes(module, BOUNDS)
    if params['duration'] < 0:
        module.fail_json(msg='duration must be 0 or more seconds, got %s.' % params['duration'])
    if params['interval'] <= 0:
        module.fail_json(msg='interval must be more than 0 seconds, got %s.' % params['interval'])
    samplers = _probe_clients.samplers_or_fail(module, probes)
    runner = ProbeRunner(probes, samplers, phase=params['phase'], duration=params['duration'],
                         interval=params['interval'], fail_fast=params['fail_fast'],
                         retries_until_ok=params['retries_until_ok'])
    result = runner.run()
    if params['fail_on_failure'] and not result['ok']:
        module.fail_json(msg='Steady state not met (phase %s): %s.' % (params['phase'], '; '.join(
            '%s: %s' % (name, _last_detail(result['samples'], name)) for name in result['failed_probes'])),
            changed=False, **result)
    module.exit_json(changed=False, **result)


def _last_detail(samples, name):
    for sample in reversed(samples):
        if sample['probe'] == name and not sample['ok']:
            return sample['detail']
    return 'failed'


if __name__ == '__main__':
    main()
