#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: container_stress
short_description: CPU, memory and I/O stress inside Docker containers' own cgroups (stress-ng)
version_added: 0.1.0
description:
  - Runs C(stress-ng) for O(duration) seconds in a helper container whose cgroup is a child of each selected
    running container's cgroup, so the target's own CPU, memory and I/O limits throttle the stressor, and the
    target's CPU and memory accounting shows it. This is what Pumba's C(stress) does without C(--inject-cgroup).
  - The helper has no network and no capability, runs C(stress-ng) as its entrypoint with C(--timeout) set to
    O(duration), and the engine removes it when C(stress-ng) exits.
  - Write-ahead, the helper's removal is recorded in the ledger on the host running the module before the helper
    starts, by the name it will get; the reverter removes it at the deadline even if ansible-playbook is killed.
  - A second identical run, while our stressor still runs on a target, is V(ok) and keeps its deadline. A
    different stress replaces ours.
  - O(state=absent) stops every stressor of ours on the selected containers now. With O(allow_all=true) and no
    selector it also stops our stressors whose container is gone. This is the teardown.
  - The cgroup path comes from the kernel (C(/proc/<pid>/cgroup)) when the module runs on the Docker host,
    otherwise from the engine (the container's cgroup parent, or the cgroupfs driver's C(/docker/<id>)).
  - With the systemd cgroup driver the engine takes only a slice as cgroup parent, which would put the helper
    beside the target. On cgroup v2 the module therefore starts the helper in the engine's default place and
    moves its processes into a child cgroup of the target's scope (V(child_cgroup) in the result), which the
    target's C(cpu.max) and C(memory.max) hold; the revert and O(state=absent) remove that child. This needs the
    module on the engine's host. The systemd driver on cgroup v1, or reached only through the API, is refused.
author:
  - chaos.engineering maintainers (@chaos-engineering)
extends_documentation_fragment:
  - chaos.engineering.docker
  - chaos.engineering.runtime
  - chaos.engineering.selection
  - chaos.engineering.ledger
  - chaos.engineering.ledger.timed_faults
  - chaos.engineering.parallelism
attributes:
  check_mode:
    support: full
    description:
      - Resolves the targets and, per target, the exact stress-ng argv, the cgroup parent and the deadline, and
        whether a stressor of ours runs already; it changes nothing.
  diff_mode:
    support: none
    description: There is no before and after to show; the result lists each target's helper and argv.
  action_group:
    description: Use C(group/chaos.engineering.docker) in C(module_defaults) to set the connection once for a play.
    support: full
    membership:
      - chaos.engineering.docker
options:
  state:
    description:
      - V(present) starts the stressor; V(absent) stops every stressor of ours on the selected containers.
    type: str
    choices: [present, absent]
    default: present
  duration:
    description:
      - Seconds the stress lasts. It is C(stress-ng)'s own C(--timeout) and the deadline of the revert in the
        ledger. Required with O(state=present).
      - From 1 to 604800 seconds (7 days).
    type: int
  cpu:
    description:
      - C(stress-ng --cpu) workers. With O(cpu_load) alone, one worker.
      - From 1 to 1024.
    type: int
  cpu_load:
    description:
      - Percent load of each CPU worker (C(--cpu-load)), from 1 to 100.
    type: int
  memory:
    description:
      - One C(--vm) worker that keeps this much memory allocated and touched (C(--vm-bytes), C(--vm-keep)), such
        as V(256m), V(1g) or V(65536k). It counts against the target's memory limit, so a size above it gets
        the worker killed (and restarted) by the kernel's OOM killer inside the target's cgroup.
    type: str
  io:
    description:
      - C(stress-ng --hdd) workers, each writing and reading a 64 MiB file in the helper's own C(/tmp). C(--hdd)
        is chosen over C(--io) because C(--io) only calls C(sync()), which loads nothing on most hosts.
      - From 1 to 1024.
    type: int
  stressors:
    description:
      - Raw C(stress-ng) arguments, an argv list appended after the ones above, such as
        V(['--matrix', '2']) or V(['--cache', '1']).
      - Never a shell string; C(--timeout) (O(duration) sets it) and job files (C(--job)) are refused.
    type: list
    elements: str
  image:
    description:
      - The helper image. It needs C(stress-ng) and no registry; the P(chaos.engineering.stresshelper_image#role)
        role builds one from the Docker host's own C(stress-ng).
    type: str
    default: chaos-stresshelper:latest
notes:
  - Runs on O(runtime=docker) and O(runtime=podman) (the same Docker API calls; on Podman the helper's cgroup is
    C(<target's cgroup>/libpod-<helper>), next to its C(conmon)), both tested on real engines.
  - On O(runtime=containerd) (tested) the helper is a containerd container of ours started with C(ctr run) in
    the target task's cgroup, with its own empty network namespace, no capability and no-new-privileges; O(image)
    must be imported into the namespace (C(ctr -n k8s.io images import)), a short name meaning
    C(docker.io/library/NAME). containerd has no auto-remove, so a helper whose C(stress-ng) ended stays as a
    stopped container until the revert removes it at the deadline (or O(state=absent) does).
  - The stressor is a child of the target's cgroup, so it shares the target's limits and its accounting, not its
    namespaces; it sees its own (empty) filesystem and no network.
  - On cgroup v2 an engine may refuse a child cgroup in a container's cgroup (the target's processes sit in it);
    the module then reports the engine's error for that target.
seealso:
  - module: chaos.engineering.ledger
'''

EXAMPLES = r'''
- name: Load two CPUs at 80 % in one web replica for 60 seconds
  chaos.engineering.container_stress:
    labels:
      app: web
    count: 1
    cpu: 2
    cpu_load: 80
    duration: 60

- name: Keep 256 MiB allocated inside the database container for 2 minutes
  chaos.engineering.container_stress:
    names: [db]
    memory: 256m
    duration: 120

- name: Raw stress-ng stressors, as an argv
  chaos.engineering.container_stress:
    names: [api-1]
    stressors: ['--matrix', '1', '--cache', '1']
    duration: 30

- name: Stop every stressor of ours on this engine
  chaos.engineering.container_stress:
    state: absent
    allow_all: true
    allow_no_targets: true
'''

RETURN = r'''
chaos:
  description:
    - The common result of every chaos.engineering fault module. See the result schema in the collection docs.
  returned: always
  type: dict
  contains:
    targets:
      description:
        - One entry per selected container. With O(state=absent) and O(allow_all=true), one more entry (V(id) null,
          V(name) V((orphaned stressors))) lists in V(removed) the stressors whose container is gone.
      type: list
      elements: dict
      returned: always
      contains:
        id:
          description: The container's ID.
          type: str
        name:
          description: The container's name.
          type: str
        action:
          description:
            - V(stress) (a stressor was started), V(unchanged) (this stressor of ours runs already), V(remove)
              (O(state=absent) removed ours) or V(none) (no stressor of ours there).
          type: str
        helper:
          description: The stressor helper container's ID.
          type: str
          returned: with V(action=stress) (not in check mode) or V(action=unchanged)
        helper_name:
          description: The stressor helper container's name.
          type: str
          returned: with V(action=stress), unless its placement failed
          sample: chaos-stress-4f1c2a...
        argv:
          description: RV(chaos.spec.argv).
          type: list
          elements: str
          returned: with O(state=present), unless its placement failed
        cgroup_parent:
          description: The helper's cgroup parent, the target's own cgroup; null with the systemd driver.
          type: str
          returned: with V(action=stress), unless its placement failed
        child_cgroup:
          description: With the systemd driver only, the child of the target's cgroup the helper was moved into.
          type: str
          returned: with the systemd driver
        cgroup:
          description: The target's cgroup, as found.
          type: dict
          returned: with V(action=stress), unless its placement failed
          contains:
            driver:
              description: The engine's cgroup driver, V(cgroupfs) or V(systemd).
              type: str
            version:
              description: The cgroup version, V(1) or V(2).
              type: int
            path:
              description: The cgroup's path.
              type: str
            source:
              description: Where the path was found (C(/proc/<pid>/cgroup) of its process, or what the engine says).
              type: str
        deadline:
          description: When the stressor is removed, ISO-8601 UTC.
          type: str
          returned: with V(action=stress) or V(action=unchanged), unless it failed
        removed:
          description: The names of the stressors removed.
          type: list
          elements: str
          returned: with V(action=remove)
        note:
          description: Why nothing was changed.
          type: str
          returned: with V(action=unchanged) or V(action=none)
        error:
          description: Why the stressor could not be placed or started.
          type: str
          returned: when it failed
      sample: [{id: 4f1c2a..., name: web-1, action: stress, helper: 9e0b7c..., helper_name: chaos-stress-4f1c2a...,
               argv: ['--cpu', '2', '--timeout', '60s', '--metrics-brief'], cgroup_parent: /docker/4f1c2a...,
               cgroup: {driver: cgroupfs, version: 2, path: /sys/fs/cgroup/docker/4f1c2a..., source: /proc/4242/cgroup},
               deadline: '2026-11-27T10:01:00.000Z'}]
    spec:
      description: The normalised stress.
      type: dict
      returned: with O(state=present)
      contains:
        fault_id:
          description: The stress's id, a hash of its argv; the same options give the same id.
          type: str
        argv:
          description: The stress-ng argv after the entrypoint.
          type: list
          elements: str
          sample: ['--cpu', '2', '--timeout', '60s', '--metrics-brief']
        image:
          description: O(image), the helper image.
          type: str
          sample: chaos-stresshelper:latest
    fault:
      description: "The fault family: the module's name, V(container_stress)."
      type: str
      returned: always
      sample: 'container_stress'
    selection:
      description: How the targets were chosen.
      type: dict
      returned: always
      contains:
        candidates:
          description: How many targets were listed in an eligible state.
          type: int
          returned: always
        matched:
          description: How many candidates matched the selectors, minus the protected ones.
          type: int
          returned: always
        selected:
          description: How many were selected, after O(count) or O(percent).
          type: int
          returned: always
        protected:
          description: The names of candidates that matched but are protected, never touched.
          type: list
          elements: str
          returned: always
        missing:
          description: The names asked for in O(names) that were not found.
          type: list
          elements: str
          returned: always
        seed:
          description:
            - The seed of the random choice for O(count) or O(percent). Reuse it to repeat the choice.
            - Null when every match was selected and O(seed) was not given.
          type: int
          returned: always
      sample: {candidates: 12, matched: 4, selected: 1, protected: [db-guard], missing: [], seed: 42}
    started_at:
      description: When the module started, ISO-8601 UTC.
      type: str
      returned: always
      sample: '2026-11-27T10:00:00.000Z'
    applied_at:
      description:
        - When the first target's fault went in, ISO-8601 UTC. The fault's window starts there.
        - Absent in check mode and when nothing went in.
      type: str
      returned: when a fault went in
      sample: '2026-11-27T10:00:00.231Z'
    finished_at:
      description: When the module finished, ISO-8601 UTC.
      type: str
      returned: always
      sample: '2026-11-27T10:00:00.412Z'
    dry_run:
      description: Whether this was a check-mode run that changed nothing.
      type: bool
      returned: always
      sample: false
    expires_at:
      description: When the last target's revert is due, ISO-8601 UTC.
      type: str
      returned: when a stressor was started
      sample: '2026-11-27T10:00:30.401Z'
    revert:
      description:
        - What undoes the timed fault (a kill's restart, a pause's unpause, a network fault's removal), and when.
        - M(chaos.engineering.ledger) with O(chaos.engineering.ledger#module:ids) set to V(entries) tells when each
          revert was done.
      type: dict
      returned: when a stressor was started
      contains:
        armed:
          description: Whether a live reverter holds the entries (V(false) in check mode, where nothing was armed).
          type: bool
          returned: always
        method:
          description: What performs the revert, V(ledger-reverter).
          type: str
          returned: always
        deadline:
          description: When the last revert is due, ISO-8601 UTC.
          type: str
          returned: always
        ledger_dir:
          description: The ledger that holds the entries.
          type: str
          returned: when this run armed entries (not in check mode)
        reverter_pid:
          description: The process ID of the reverter that holds the ledger.
          type: int
          returned: when this run armed entries (not in check mode)
        entries:
          description: The IDs of the ledger entries this run armed.
          type: list
          elements: str
          returned: when this run armed entries (not in check mode)
      sample:
        armed: true
        method: ledger-reverter
        deadline: '2026-11-27T10:00:30.401Z'
        ledger_dir: /var/lib/chaos-engineering/ledger
        reverter_pid: 4242
        entries: ['container_stress-3f9a0c1d2e4b']
    docker_debug:
      description:
        - With O(debug=true), how the Docker engine was reached and every Docker API call this module made (not the
          detached reverter's). As community.docker's O(debug) keeps the actions taken in the result.
        - Connection options and file paths only; never the content of a key, nor request bodies or headers.
      type: dict
      returned: with O(debug=true) and a Docker API engine (O(runtime=docker) or O(runtime=podman))
      contains:
        connection:
          description: The connection as used.
          type: dict
          returned: always
          contains:
            docker_host:
              description: The engine's URL, as given (or from E(DOCKER_HOST)).
              type: str
              returned: always
            transport:
              description: >-
                How the engine was reached: V(unix socket), V(http (no TLS)), V(https (certificate verified)),
                V(https (certificate not verified)), V(ssh (the ssh command)) or V(ssh (paramiko)).
              type: str
              returned: always
            api_version:
              description: The Docker API version used (negotiated with V(auto)).
              type: str
              returned: always
            timeout:
              description: Seconds to wait for a response, O(timeout).
              type: int
              returned: always
            use_ssh_client:
              description: O(use_ssh_client).
              type: bool
              returned: always
            tls:
              description: O(tls).
              type: bool
              returned: always
            validate_certs:
              description: O(validate_certs).
              type: bool
              returned: always
            tls_hostname:
              description: O(tls_hostname), with TLS; null without.
              type: str
              returned: always
            ca_path:
              description: The path of the CA file, with TLS; null without.
              type: str
              returned: always
            client_cert:
              description: The path of the client certificate, with TLS; null without.
              type: str
              returned: always
            client_key:
              description: The path of the client key (never its content), with TLS; null without.
              type: str
              returned: always
            ssh_command:
              description: With O(use_ssh_client=true), the command line of each ssh connection; null otherwise.
              type: list
              elements: str
              returned: always
        api_calls:
          description: The Docker API calls, in order, as C(METHOD /path?query -> HTTP status).
          type: list
          elements: str
          returned: always
      sample:
        connection: {docker_host: 'ssh://root@192.0.2.7', transport: ssh (the ssh command), api_version: '1.47',
                     timeout: 60, use_ssh_client: true, tls: false, validate_certs: false, tls_hostname: null,
                     ca_path: null, client_cert: null, client_key: null,
                     ssh_command: [ssh, -o, BatchMode=yes, -o, ConnectTimeout=60, -l, root, --, 192.0.2.7,
                                   docker system dial-stdio]}
        api_calls: ['GET /v1.47/_ping -> 200', 'GET /v1.47/containers/json -> 200',
                    'POST /v1.47/containers/3f9a0c1d2e4b/kill?signal=SIGKILL -> 204']
'''

from ansible_collections.chaos.engineering.plugins.module_utils import _validate
from ansible_collections.chaos.engineering.plugins.module_utils._container_fault import ContainerFaultModule
from ansible_collections.chaos.engineering.plugins.module_utils._stress_apply import StressFault

FAULT = 'container_stress'
# The documented ranges (see _validate.py), checked before anything connects; the workers' and cpu_load's
# ranges are checked by _stress_plan, before connecting too.
BOUNDS = dict(duration=_validate.seconds(_validate.DURATION))


def main():
    fault = ContainerFaultModule(
        FAULT,
        dict(
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            duration=dict(type='int'),
            cpu=dict(type='int'),
            cpu_load=dict(type='int'),
            memory=dict(type='str'),
            io=dict(type='int'),
            stressors=dict(type='list', elements='str'),
            image=dict(type='str', default='chaos-stresshelper:latest'),
        ),
        required_if=[('state', 'present', ['duration']),
                     ('state', 'present', ['cpu', 'cpu_load', 'memory', 'io', 'stressors'], True)],
        bounds=BOUNDS,
    )
    fault.run(lambda: StressFault(fault).present() if fault.params['state'] == 'present'
              else StressFault(fault).absent())


if __name__ == '__main__':
    main()
