#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: ledger
short_description: List or perform the pending reverts of chaos.engineering faults on a host
version_added: 0.1.0
description:
  - Reads the revert ledger that timed faults (for example M(chaos.engineering.container_pause)) write on the host
    where they run, and lists the reverts still pending.
  - With O(state=reverted) it performs every selected pending revert now, instead of waiting for its deadline.
    This is the emergency stop for timed faults, and works after the controller that injected them died.
author:
  - chaos.engineering maintainers (@chaos-engineering)
attributes:
  check_mode:
    support: full
    description: Lists what would be reverted, and reverts nothing.
  diff_mode:
    support: none
    description: Nothing to diff.
options:
  ledger_dir:
    description:
      - Directory of the revert ledger, an absolute path. It is refused when another user owns it, when group or
        others have access to it, or when it or a file in it is a symlink.
      - Defaults to the E(CHAOS_ENGINEERING_LEDGER_DIR) environment variable, then C(/var/lib/chaos-engineering/ledger)
        for root and C(~/.local/state/chaos-engineering/ledger) for other users.
    type: path
  state:
    description:
      - V(listed) only lists the pending reverts.
      - V(reverted) performs them now.
    type: str
    choices: [listed, reverted]
    default: listed
  faults:
    description:
      - Only entries of these fault families, for example V(container_pause).
    type: list
    elements: str
  docker_host:
    description:
      - Only entries for this Docker engine URL.
    type: str
  ids:
    description:
      - Only the entries with these ids, as a fault module returns them in C(chaos.revert.entries).
      - An experiment uses this to revert its own faults, and none that another run armed in the same ledger.
      - An id with no pending entry is not an error; its revert was already done, or discarded.
    type: list
    elements: str
'''

EXAMPLES = r'''
- name: What is still armed on this Docker host?
  chaos.engineering.ledger:
  register: armed

- name: Emergency stop - undo every pending timed fault now
  chaos.engineering.ledger:
    state: reverted

- name: Pause a database for 10 minutes
  chaos.engineering.container_pause:
    names: [db-1]
    duration: 600
  register: paused

- name: Undo that pause now, and only that one
  chaos.engineering.ledger:
    state: reverted
    ids: "{{ paused.chaos.revert.entries }}"
'''

RETURN = r'''
pending:
  description: The pending entries that matched, before any revert.
  returned: always
  type: list
  elements: dict
  sample: [{id: container_pause-3f9a0c1d2e4b, fault: container_pause, action: unpause,
            target: {id: 4f1c..., name: db-1}, deadline: 1795773630.4}]
reverted:
  description: The entries performed now, with their C(status) and C(error).
  returned: when O(state=reverted) and not in check mode
  type: list
  elements: dict
reverter_running:
  description: Whether a reverter process currently holds this ledger.
  returned: always
  type: bool
invalid:
  description:
    - Files in the ledger that are not entries this collection wrote (malformed JSON, missing fields, another
      owner), with their V(file) and V(reason). The reverter moves them to C(quarantine/) and never performs them;
      already quarantined ones are listed too.
  returned: always
  type: list
  elements: dict
  contains:
    file:
      description: The path of the file.
      type: str
      returned: always
    reason:
      description: Why it is not a valid entry.
      type: str
      returned: always
  sample: [{file: /var/lib/chaos-engineering/ledger/quarantine/x.json, reason: 'its id ''x'' does not match its file name'}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.chaos.engineering.plugins.module_utils import _ledger


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ledger_dir=dict(type='path'),
            state=dict(type='str', choices=['listed', 'reverted'], default='listed'),
            faults=dict(type='list', elements='str'),
            docker_host=dict(type='str'),
            ids=dict(type='list', elements='str'),
        ),
        supports_check_mode=True,
    )
    try:
        root = _ledger.check_root(module.params['ledger_dir'] or _ledger.default_ledger_dir(), create=False)
    except (_ledger.LedgerError, OSError) as exc:
        module.fail_json(msg=str(exc))
    faults = module.params['faults']
    host = module.params['docker_host']
    ids = module.params['ids']
    pending = [e for e in _ledger.list_entries(root)
               if (not faults or e.get('fault') in faults)
               and (host is None or e.get('docker', {}).get('docker_host') == host)
               and (ids is None or e.get('id') in ids)]
    result = dict(changed=False, pending=pending, reverter_running=_ledger.reverter_running(root),
                  invalid=_ledger.list_invalid(root))
    if module.params['state'] == 'reverted' and pending:
        result['changed'] = True
        if not module.check_mode:
            result['reverted'] = _ledger.revert_now(root, pending)
            failed = [e for e in result['reverted'] if e['status'] == 'failed']
            if failed:
                module.fail_json(msg='%d of %d reverts failed: %s' % (
                    len(failed), len(pending), '; '.join('%s: %s' % (e['id'], e['error']) for e in failed)),
                    **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
