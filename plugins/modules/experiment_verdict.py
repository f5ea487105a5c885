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
  description: The samples, each with its C(phase).
  type: list
  elements: dict
  returned: always
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
      description:
        - Per during-probe, C(probe), C(samples), C(failed), C(min_samples), C(held), C(conclusive),
          C(detected_at), C(time_to_detect), C(recovered_at), C(time_to_recover) (seconds from detection).
      type: list
      elements: dict
environment:
  description: Where the verdict was computed (normally the controller) - C(controller) (host name), C(ansible_core), C(python).
  type: dict
  returned: always
  sample: {controller: ops-1, ansible_core: 2.19.4, python: 3.11.2}
probe_summary:
  description:
    - Per probe, C(probe), C(type), C(unit), C(threshold) (C(op), C(value)), C(judged_in) and C(phases), the
      sample and failure counts of each phase.
  type: list
  elements: dict
  returned: always
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
