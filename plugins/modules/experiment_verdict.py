#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: experiment_verdict
short_description: Judge a chaos experiment by what its probes saw while each fault was in place
version_added: 0.1.0
description:
  - Computes each fault's real window, from the moment it went in to the moment its revert began (the ledger's
    record), or, for a kill, until the target was back (its restart, or the recovery the module measured);
    without either, until the end of the iteration's C(during) phase.
  - Judges the hypothesis over the samples inside every window, for each probe that judges the C(during) phase,
    with the time to detect (first failed sample after the fault went in) and to recover (first passing sample
    after that).
  - The verdict, the first rule that applies. V(aborted) when O(state.aborted) says so (with its reason), or when a
    C(before) probe had a failed sample before the first fault. V(deviated) when a C(during) probe had a failed
    sample inside a fault's window, or, after a fault went in, when the last O(min_samples) samples of an C(after)
    probe after the last revert did not all pass. V(inconclusive) when no fault went in, when a window had fewer
    than O(min_samples) samples of a C(during) probe, or when no probe judges the C(during) phase. V(passed)
    otherwise.
  - Pure computation, with no I/O; it changes nothing. The chaos.engineering.experiment role runs it on the
    controller.
author:
  - chaos.engineering maintainers (@chaos-engineering)
attributes:
  check_mode:
    support: full
    description: Computes the same in check mode.
  diff_mode:
    support: none
    description: Nothing to diff.
options:
  samples:
    description: The samples, as RV(chaos.engineering.sampler#module:samples) or RV(chaos.engineering.probe#module:samples).
    type: list
    elements: dict
    required: true
  probes:
    description:
      - The probe definitions, each with C(name), C(type), its thresholds and optionally C(phases), the phases
        (V(before), V(during), V(after)) in which it judges the hypothesis (default all three).
    type: list
    elements: dict
    required: true
  faults:
    description:
      - The C(chaos) results of the fault modules, each with C(name) and C(iteration) added.
    type: list
    elements: dict
    default: []
  finished:
    description:
      - The ledger entries that were done, as RV(chaos.engineering.ledger#module:reverted) and
        RV(chaos.engineering.ledger#module:done) return them (C(id) and C(finished_at) are used).
    type: list
    elements: dict
    default: []
  phases:
    description:
      - The phase spans, each with C(phase), C(start), C(end) (ISO-8601) and, for V(during), C(iteration).
        Samples before the first span are V(before); between and after spans, V(after).
    type: list
    elements: dict
    default: []
  min_samples:
    description: The fewest samples of each probe a fault's window needs for the verdict to rest on it. At least 1.
    type: int
    default: 2
  injected:
    description: Whether any fault went in. Without one, the verdict is V(inconclusive) unless the run was aborted.
    type: bool
    default: true
  recovery_timeout:
    description: The seconds the after-probes were given to hold again, for the reason's wording.
    type: float
  state:
    description:
      - What the role decided for itself, which takes precedence.
    type: dict
    default: {}
    suboptions:
      aborted:
        description: Whether the run was aborted (a fault or a revert failed, a halt, the abort policy).
        type: bool
        default: false
      reason:
        description: Why.
        type: str
        default: ''
seealso:
  - module: chaos.engineering.sampler
  - module: chaos.engineering.experiment_journal
'''

EXAMPLES = r'''
- name: Judge the run
  chaos.engineering.experiment_verdict:
    samples: "{{ sampled.samples }}"
    probes: "{{ experiment_probes }}"
    faults: "{{ faults_done }}"
    finished: "{{ reverted.reverted | default([]) + reverted.done | default([]) }}"
    phases: "{{ phase_spans }}"
    min_samples: 2
  delegate_to: localhost
  register: judged
'''

RETURN = r'''
verdict:
  description: V(passed), V(inconclusive), V(deviated) or V(aborted).
  type: str
  returned: always
  sample: deviated
reason:
  description: Why, in a sentence or two.
  type: str
  returned: always
  sample: 'The steady state broke while kill web (iteration 1) was in place: web quorum failed 3 of 3 samples.'
samples:
  description: O(samples), each labelled with its C(phase).
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
      description:
        - The phase the sample fell in - V(before) (before the first phase span), V(during), or V(after) (between
          spans and after the last), by O(phases).
      type: str
      sample: during
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
windows:
  description: One per fault that went in.
  type: list
  elements: dict
  returned: always
  contains:
    name:
      description: The fault's name.
      type: str
    fault:
      description: Its family, for example V(container_kill).
      type: str
    iteration:
      description: The iteration, from 1.
      type: int
    targets:
      description: The names of its targets.
      type: list
      elements: str
    applied_at:
      description: When it went in, ISO-8601 UTC.
      type: str
    ended_at:
      description: When it ended, ISO-8601 UTC.
      type: str
    end_by:
      description: V(reverted), V(restarted), V(recovered) or V(observation-end).
      type: str
    seconds:
      description: The window's length.
      type: float
    probes:
      description: Per during-probe (a probe judged in V(during)), what it saw inside the window.
      type: list
      elements: dict
      contains:
        probe:
          description: The probe's name.
          type: str
        samples:
          description: How many of its samples fell inside the window.
          type: int
        failed:
          description: How many of them failed.
          type: int
        min_samples:
          description: O(min_samples).
          type: int
        held:
          description: Whether none of them failed.
          type: bool
        conclusive:
          description: Whether it had at least O(min_samples) samples inside the window.
          type: bool
        detected_at:
          description: When its first failed sample inside the window was taken, ISO-8601 UTC; null if none failed.
          type: str
        time_to_detect:
          description: Seconds from the window's start to RV(windows[].probes[].detected_at); null if none failed.
          type: float
        recovered_at:
          description: When its first passing sample after the detection was taken, ISO-8601 UTC; null if none.
          type: str
        time_to_recover:
          description: Seconds from the detection to RV(windows[].probes[].recovered_at); null if it did not recover.
          type: float
environment:
  description: Where the verdict was computed (normally the controller).
  type: dict
  returned: always
  contains:
    controller:
      description: The host name.
      type: str
    ansible_core:
      description: The ansible-core version.
      type: str
    python:
      description: The Python version.
      type: str
  sample: {controller: ops-1, ansible_core: 2.19.4, python: 3.11.2}
probe_summary:
  description: Per probe, in the order of O(probes).
  type: list
  elements: dict
  returned: always
  contains:
    probe:
      description: The probe's name.
      type: str
    type:
      description: The probe's type.
      type: str
    unit:
      description: What its value is measured in - V(ms) (V(http)), V(running) (V(containers)), V(ready) (V(pods)) or
        V(value) (V(prometheus), the query's number).
      type: str
    threshold:
      description: The line its value must stay on the right side of.
      type: dict
      contains:
        op:
          description: V(<=) (a latency, or the upper end of a V(prometheus) range), V(>=) (a count, or a V(prometheus)
            range's lower end alone) or V(==) (a V(prometheus) probe's C(value_equals)).
          type: str
        value:
          description: The threshold, null when the probe judges no number (for example only a status).
          type: raw
    judged_in:
      description: The phases in which the probe judges the hypothesis.
      type: list
      elements: str
    phases:
      description: The sample and failure counts of each phase.
      type: dict
      contains:
        before: &phase_counts
          description: The samples of the probe in that phase.
          type: dict
          contains:
            samples:
              description: How many.
              type: int
            failed:
              description: How many of them failed.
              type: int
        during: *phase_counts
        after: *phase_counts
  sample:
    - probe: web
      type: containers
      unit: running
      threshold: {op: '>=', value: 2}
      judged_in: [before, during, after]
      phases: {before: {samples: 4, failed: 0}, during: {samples: 10, failed: 3}, after: {samples: 4, failed: 0}}
'''

import platform
import socket

from ansible.module_utils.ansible_release import __version__ as ansible_core_version
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.chaos.engineering.plugins.module_utils._verdict import judge


def main():
    module = AnsibleModule(
        argument_spec=dict(
            samples=dict(type='list', elements='dict', required=True),
            probes=dict(type='list', elements='dict', required=True),
            faults=dict(type='list', elements='dict', default=[]),
            finished=dict(type='list', elements='dict', default=[]),
            phases=dict(type='list', elements='dict', default=[]),
            min_samples=dict(type='int', default=2),
            injected=dict(type='bool', default=True),
            recovery_timeout=dict(type='float'),
            state=dict(type='dict', default={}, options=dict(
                aborted=dict(type='bool', default=False),
                reason=dict(type='str', default=''),
            )),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params['min_samples'] < 1:
        module.fail_json(msg='min_samples must be at least 1, got %d.' % params['min_samples'])
    names = [p.get('name') for p in params['probes']]
    if not all(isinstance(n, str) and n for n in names):
        module.fail_json(msg='Every probe needs a name.')
    finished = dict((e.get('id'), e) for e in params['finished'] if isinstance(e.get('id'), str))
    result = judge(params['state'], params['samples'], params['probes'], params['faults'], finished,
                   params['phases'], params['min_samples'], injected=params['injected'],
                   recovery_timeout=params['recovery_timeout'])
    result['environment'] = dict(controller=socket.gethostname(), ansible_core=ansible_core_version,
                                 python=platform.python_version())
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
