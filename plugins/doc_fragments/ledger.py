# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The revert ledger and the detached reverter on the host where the module runs.
    DOCUMENTATION = r'''
options:
  ledger_dir:
    description:
      - Directory of the revert ledger on the host where the module runs.
      - Every timed fault records its revert there, and a detached reverter process, started on demand, performs
        it at the deadline, even if the controller is killed or the SSH connection drops.
      - Defaults to the E(CHAOS_ENGINEERING_LEDGER_DIR) environment variable, then C(/var/lib/chaos-engineering/ledger)
        for root and C(~/.local/state/chaos-engineering/ledger) for other users.
    type: path
  parallelism:
    description:
      - How many containers to act on at the same time.
      - From 1 to 256.
    type: int
    default: 8
notes:
  - Timed reverts are armed on the host that runs the module. Run the module on the Docker host itself (over SSH)
    for the revert to survive the loss of the controller; with O(docker_host) pointing at a remote engine the
    reverter runs where the module runs.
'''
