#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: sampler
short_description: Sample steady-state probes in the background for a whole experiment, and hold its lease
version_added: 0.1.0
description:
  - With O(state=started), starts a background process on the host that samples every probe of O(probes) every
    O(interval) seconds, each probe on its own fixed period, until it is stopped. Faults, reverts and waits of the
    play go on meanwhile, and nothing pauses the sampling.
  - The process also holds a B(lease) named after O(run_id). Fault modules given O(chaos.engineering.container_pause#module:lease)
    record it in their ledger entries, and the reverter undoes them as soon as the lease is not renewed for
    O(lease) seconds. The sampler renews it only while the C(ansible-playbook) (or C(ansible)) process that
    started it lives, when the controller runs on this host; otherwise while the SSH session that started it lives.
    When that process is gone (Ctrl-C, SIGTERM, SIGKILL, a lost controller), or a halt marker newer than the
    sampler is found in the ledger (see M(chaos.engineering.ledger) O(chaos.engineering.ledger#module:state=halted)),
    it drops the lease at once.
  - With O(state=watched), waits on the host for what the samples show (see O(until)), returning early on a halt
    (it looks every tenth of a second).
  - With O(state=stopped), stops the process, drops the lease (the reverter then undoes at once every pending fault
    that holds it) and returns every sample taken. The run's sampler files are removed.
  - The chaos.engineering.experiment role drives this module; use it directly to observe your own faults.
author:
  - chaos.engineering maintainers (@chaos-engineering)
extends_documentation_fragment:
  - chaos.engineering.probe_connection
  - chaos.engineering.docker
  - chaos.engineering.runtime
  - chaos.engineering.k8s
attributes:
  check_mode:
    support: none
    description: Starting or stopping a sampler is a change; the role skips the sampler in check mode.
  diff_mode:
    support: none
    description: Nothing to diff.
  action_group:
    description:
      - Member of both C(group/chaos.engineering.docker) and C(group/chaos.engineering.k8s), like
        M(chaos.engineering.probe).
    support: full
    membership:
      - chaos.engineering.docker
      - chaos.engineering.k8s
options:
  run_id:
    description:
      - The experiment run the sampler belongs to, and the name of its lease. 1 to 128 letters, digits, C(.),
        C(_) or C(-).
    type: str
    required: true
  state:
    description:
      - V(started) starts the sampler, unless one runs for O(run_id) (then nothing changes).
      - V(watched) waits, see O(until).
      - V(stopped) stops it and returns its samples.
    type: str
    choices: [started, watched, stopped]
    default: started
  probes:
    description:
      - With O(state=started), required. The probes, exactly as the O(chaos.engineering.probe#module:probes)
        option of M(chaos.engineering.probe).
      - An empty list samples nothing and only holds the lease.
    type: list
    elements: dict
  interval:
    description:
      - Seconds between two samples of one probe. More than 0, at most 86400.
    type: float
    default: 1
  lease:
    description:
      - Seconds the lease lasts without a renewal; the sampler renews it four times in that span. V(0) holds no
        lease. From 0 to 86400.
    type: float
    default: 10
  max_duration:
    description:
      - The sampler stops by itself after this many seconds, whatever happens. From 1 to 604800.
    type: float
    default: 86400
  watch:
    description:
      - With O(state=watched), the names of the probes to look at. Default all of them.
    type: list
    elements: str
  wait:
    description:
      - With O(state=watched), the most seconds to wait. From 0 to 604800.
    type: float
    default: 0
  until:
    description:
      - With O(state=watched), what ends the wait early. V(elapsed) waits the whole O(wait). V(sampled) returns once
        every watched probe has O(min_samples) samples since O(since); V(held) once the last O(min_samples) of them
        all passed.
      - The wait always ends at a halt, when the sampler is gone, and with O(stop_on_failure) at a failed sample.
    type: str
    choices: [elapsed, sampled, held]
    default: elapsed
  since:
    description:
      - With O(state=watched), only samples taken at or after this ISO-8601 UTC time count, for example
        V(2026-12-01T10:00:00.000Z).
    type: str
  min_samples:
    description:
      - With O(state=watched), see O(until). At least 1.
    type: int
    default: 1
  stop_on_failure:
    description:
      - With O(state=watched), return as soon as a watched probe has a failed sample since O(since).
    type: bool
    default: false
  ledger_dir:
    description:
      - The revert ledger directory on the host, as for the fault modules. The sampler keeps its files under it
        and its lease in it.
      - Defaults to the E(CHAOS_ENGINEERING_LEDGER_DIR) environment variable, then C(/var/lib/chaos-engineering/ledger)
        for root and C(~/.local/state/chaos-engineering/ledger) for other users.
    type: path
notes:
  - On a host that is reached over SSH, the lease follows the SSH connection, which Ansible keeps open for
    C(ControlPersist) (60 s by default) after its last task; a controller that dies there leaves its faults for up
    to that long plus O(lease).
  - Without a persistent SSH connection (C(ControlPersist) off, or the paramiko connection) every task has its own
    SSH session. Each O(state=watched) call then makes its own session the owner, and when a session ends the
    sampler waits O(lease) seconds (at least 5) for the next one. Keep O(lease) longer than the longest fault task
    between two waits (a fault with C(wait_for_recovery) can take its C(recovery_timeout)).
  - Where neither the controller nor an SSH session can be found (another connection plugin), the lease is renewed
    until the sampler is stopped or O(max_duration) passes, and RV(owner) is null.
  - A sampler whose owner is gone stops, and its samples are lost with it.
seealso:
  - module: chaos.engineering.probe
  - module: chaos.engineering.experiment_verdict
  - module: chaos.engineering.ledger
'''

EXAMPLES = r'''
- name: Sample the shop from now on, every second
  chaos.engineering.sampler:
    run_id: "{{ run_id }}"
    probes:
      - name: shop answers
        type: http
        url: http://shop.example.com/health
      - name: two web replicas
        type: containers
        selection:
          labels:
            app: web
        min_running: 2
      - name: p99 latency under 300 ms, from Prometheus
        type: prometheus
        url: http://prometheus.example.com:9090
        query: histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="shop"}[1m])))
        value_range: [null, 0.3]

- name: Pause a web container for 30 s, holding the sampler's lease
  chaos.engineering.container_pause:
    labels:
      app: web
    count: 1
    duration: 30
    lease: "{{ run_id }}"

- name: Watch for 30 s; stop at the first failed sample
  chaos.engineering.sampler:
    run_id: "{{ run_id }}"
    state: watched
    wait: 30
    stop_on_failure: true
  register: watched

- name: Collect the samples
  chaos.engineering.sampler:
    run_id: "{{ run_id }}"
    state: stopped
  register: sampled
'''

RETURN = r'''
pid:
  description: With O(state=started), the sampler's process id.
  type: int
  returned: when O(state=started)
  sample: 4242
lease:
  description: With O(state=started), the name of the lease the sampler holds (null with O(lease=0)).
  type: str
  returned: when O(state=started)
  sample: 20261201T100000Z-123
owner:
  description:
    - With O(state=started), the process whose life the lease follows, null when none was found.
  type: dict
  returned: when O(state=started)
  contains:
    kind:
      description: V(controller) (the ansible-playbook process on this host) or V(ssh) (the SSH session).
      type: str
    pid:
      description: Its process id.
      type: int
  sample: {kind: controller, pid: 1234}
started_at:
  description: With O(state=started), when the sampler started, ISO-8601 UTC.
  type: str
  returned: when O(state=started)
  sample: '2026-12-01T10:00:00.000Z'
halted:
  description: With O(state=watched) or O(state=stopped), whether a halt marker stopped the experiment.
  type: bool
  returned: when O(state) is V(watched) or V(stopped)
  sample: false
reached:
  description: With O(state=watched), whether what O(until) asked for happened (for V(elapsed), the whole wait
    passed with no halt and, with O(stop_on_failure), no failure).
  type: bool
  returned: when O(state=watched)
  sample: true
failed_probes:
  description: With O(state=watched), the watched probes with a failed sample since O(since).
  type: list
  elements: str
  returned: when O(state=watched)
  sample: []
first_failure:
  description: With O(state=watched), the earliest failed sample since O(since), or null.
  type: dict
  returned: when O(state=watched)
  contains:
    probe:
      description: The probe's name.
      type: str
    at:
      description: When the sample was taken, ISO-8601 UTC.
      type: str
    detail:
      description: The sample's C(detail).
      type: str
  sample: {probe: web, at: '2026-12-01T10:00:03.000Z', detail: 1 running (min 2)}
sampled:
  description: With O(state=watched), whether every watched probe has at least O(min_samples) samples since O(since).
  type: bool
  returned: when O(state=watched)
  sample: true
held:
  description: With O(state=watched), whether the last O(min_samples) samples of every watched probe passed.
  type: bool
  returned: when O(state=watched)
  sample: true
counts:
  description: With O(state=watched), the number of samples of each watched probe since O(since); its keys are the
    probes' names and its values integers (one key per watched probe).
  type: dict
  returned: when O(state=watched)
  sample: {web: 12}
waited:
  description: With O(state=watched), the seconds waited.
  type: float
  returned: when O(state=watched)
  sample: 30.02
samples_seen:
  description: With O(state=watched), the number of samples the sampler has taken so far, of every probe.
  type: int
  returned: when O(state=watched)
  sample: 57
sampler_running:
  description: With O(state=watched), whether the sampler still runs (false means it stopped, for example because
    its owner is gone).
  type: bool
  returned: when O(state=watched)
  sample: true
samples:
  description:
    - With O(state=stopped), every sample, as RV(chaos.engineering.probe#module:samples) returns them, with
      C(phase) null (the verdict labels them).
  type: list
  elements: dict
  returned: when O(state=stopped)
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
      description: Null; M(chaos.engineering.experiment_verdict) labels the samples with their phase.
      type: str
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
          or of Ready pods for V(containers) and V(pods) (an integer; null when they could not be listed).
      type: raw
      sample: 12.5
    detail:
      description:
        - The status code, the reason for a failure, or the error, as
          RV(chaos.engineering.probe#module:samples[].detail) says it.
      type: str
      sample: HTTP 200
  sample:
    - {probe: web, type: containers, phase: null, at: '2026-12-01T10:00:00.120Z', ok: true, value: 3,
       detail: '3 running (min 2): web-1, web-2, web-3'}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.chaos.engineering.plugins.module_utils import (
    _k8s_client,
    _ledger_store,
    _probe_clients,
    _sampler,
    _validate,
)
from ansible_collections.chaos.engineering.plugins.module_utils._probe import ProbeRunner

BOUNDS = dict(_validate.DOCKER_BOUNDS,
              interval=_validate.bound(0, _validate.DAY, integer=False, exclusive_minimum=True),
              lease=_validate.bound(0, _validate.DAY, integer=False),
              max_duration=_validate.bound(1, _validate.WEEK, integer=False),
              wait=_validate.bound(0, _validate.WEEK, integer=False),
              min_samples=_validate.bound(1, 1000000))


def argument_spec():
    spec = _probe_clients.connection_spec()
    spec.update(
        run_id=dict(type='str', required=True),
        state=dict(type='str', choices=['started', 'watched', 'stopped'], default='started'),
        probes=dict(type='list', elements='dict'),
        interval=dict(type='float', default=1),
        lease=dict(type='float', default=10),
        max_duration=dict(type='float', default=86400),
        watch=dict(type='list', elements='str'),
        wait=dict(type='float', default=0),
        until=dict(type='str', choices=['elapsed', 'sampled', 'held'], default='elapsed'),
        since=dict(type='str'),
        min_samples=dict(type='int', default=1),
        stop_on_failure=dict(type='bool', default=False),
        ledger_dir=dict(type='path'),
    )
    return spec


def _sample_maker(params):
    """probe -> take(), called in the probe's own thread in the daemon: each thread makes its own connection.
    A connection that cannot be made gives failed samples, and is tried again at the next one."""
    def make(probe):
        runner = ProbeRunner([probe], {}, phase=None)
        clients = {}

        def sampler(probe):
            if 'sampler' not in clients:
                clients['sampler'] = _probe_clients.make_samplers(params, [probe])[probe['type']]
            return clients['sampler'](probe)
        runner.samplers = {probe['type']: sampler}
        return lambda: runner.sample(probe)
    return make


def start(module, root):
    params = module.params
    if params['probes'] is None:
        module.fail_json(msg='state=started needs probes (an empty list holds only the lease).')
    probes = _probe_clients.checked_probes(module, BOUNDS, allow_empty=True)
    # Connect once here, so that an engine or API that cannot be reached fails the task, not the daemon.
    _probe_clients.samplers_or_fail(module, probes)
    owner = _sampler.find_owner()
    state, started = _sampler.start(root, params['run_id'], probes, _sample_maker(module.params),
                                    params['interval'], params['lease'], params['max_duration'], owner,
                                    after_fork=_k8s_client.forget_config_files)
    if not started:
        _sampler.adopt(_sampler.run_dir(root, params['run_id']), owner)
    owner = state.get('owner')
    module.exit_json(changed=started, pid=state['pid'], lease=state.get('lease'), started_at=state.get('started_at'),
                     owner=dict(kind=owner['kind'], pid=owner['pid']) if owner else None)


def watched(module, root):
    params = module.params
    state = _sampler.read_state(_sampler.run_dir(root, params['run_id'], create=False))
    if state is None:
        module.fail_json(msg='No sampler was started for run %s in %s.' % (params['run_id'], root))
    names = params['watch'] if params['watch'] is not None else state.get('probes') or []
    unknown = sorted(set(names) - set(state.get('probes') or []))
    if unknown:
        module.fail_json(msg='watch names probes the sampler does not sample: %s (it samples: %s).' % (
            ', '.join(unknown), ', '.join(state.get('probes') or [])))
    _sampler.adopt(_sampler.run_dir(root, params['run_id'], create=False), _sampler.find_owner())
    status = _sampler.watch(root, params['run_id'], names, params['wait'], until=params['until'],
                            since=params['since'], min_samples=params['min_samples'],
                            stop_on_failure=params['stop_on_failure'])
    module.exit_json(changed=False, **status)


def stopped(module, root):
    samples, halt, was_running = _sampler.stop(root, module.params['run_id'])
    module.exit_json(changed=was_running, samples=samples, halted=bool(halt))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=False)
    try:
        _sampler.check_run_id(module.params['run_id'])
        root = _ledger_store.check_root(module.params['ledger_dir'] or _ledger_store.default_ledger_dir(),
                                        create=module.params['state'] == 'started')
        {'started': start, 'watched': watched, 'stopped': stopped}[module.params['state']](module, root)
    except (_sampler.SamplerError, _ledger_store.LedgerError) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg='Sampler for run %s: %s' % (module.params['run_id'], exc))


if __name__ == '__main__':
    main()
