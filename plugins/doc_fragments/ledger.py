# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The revert ledger on the host where the module runs: every module that reads or writes it.
    DOCUMENTATION = r'''
options:
  ledger_dir:
    description:
      - Directory of the revert ledger on the host where the module runs.
      - Every timed fault records its revert there, and a detached reverter process, started on demand, performs
        it at the deadline, even if the controller is killed or the SSH connection drops.
      - Defaults to the E(CHAOS_ENGINEERING_LEDGER_DIR) environment variable, then C(/var/lib/chaos-engineering/ledger)
        for root and C(~/.local/state/chaos-engineering/ledger) for other users.
      - It must be an absolute path. Only the user running the module may own and use it. Every directory in it is
        made C(0700) and every file C(0600) whatever the umask, and each is checked when opened (owner, mode, no
        symlink). A ledger directory owned by another user, one with group or other access, or one under a
        directory that another user can write (other than a sticky one such as C(/tmp)) is refused.
    type: path
'''

    # The fault modules that arm timed reverts in the ledger: the lease that ends them early, and where they run.
    TIMED_FAULTS = r'''
options:
  lease:
    description:
      - The name of a lease in the ledger that the caller (the experiment role's sampler) keeps renewing, 1 to 128
        letters, digits, dots, dashes or underscores, starting with a letter or a digit.
      - Every revert this task arms carries the lease. When the lease is not renewed in time (the controller was
        interrupted, killed, or lost its network), the reverter performs those reverts at once instead of at
        their deadline (it looks every 50 ms). A missing lease counts as expired.
      - If the lease is not held when the fault is about to go in, the task fails and changes nothing.
      - B(Interruption.) Ansible runs no C(always) or handler when C(ansible-playbook) gets SIGTERM, SIGINT
        (Ctrl-C) or SIGKILL. With a lease held by M(chaos.engineering.sampler) (the experiment role, or a bare play
        that starts one with O(chaos.engineering.sampler#module:probes=[])), the sampler sees the controller gone
        within 0.1 s and drops the lease, and the reverter undoes these faults at once, for all three signals.
        Over SSH the lease follows the SSH session instead (see M(chaos.engineering.sampler)). Without a lease an
        interrupted controller leaves its faults in place until their deadline.
      - Only timed faults are ended by a lease. M(chaos.engineering.container_netem) needs C(duration) with it;
        M(chaos.engineering.container_kill) without C(restart_after) only checks the lease before the kill.
        Ignored when the task removes a fault (C(state=unpaused), C(state=absent)).
    type: str
notes:
  - The revert of a timed fault is written in the ledger (and fsync'd), and a live reverter has confirmed it,
    B(before) the fault goes in. If that cannot be done, the task fails and changes nothing.
  - Timed reverts are armed on the host that runs the module. Run the module on the Docker host itself (over SSH)
    for the revert to survive the loss of the controller; with O(docker_host) pointing at a remote engine the
    reverter runs where the module runs.
'''
