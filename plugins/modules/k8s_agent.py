#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: k8s_agent
short_description: Deploy or remove the chaos agent DaemonSet (Pumba on every node)
version_added: 0.1.0
description:
  - Deploys the chaos agent as a DaemonSet, so that one agent runs on every node (or on the nodes that
    O(node_selector) and O(tolerations) allow), and waits until it is ready on all of them.
  - By default the agent is L(Pumba,https://github.com/alexei-led/pumba) killing a random container every
    O(interval) with O(signal), among the containers of pods in O(target_namespace), through the node's container
    runtime socket (O(runtime_socket)). O(args) replaces that command.
  - The DaemonSet, its pods and a namespace it creates are labelled C(chaos.engineering/protected=true),
    C(chaos.engineering/agent=<name>) and C(app.kubernetes.io/managed-by=chaos.engineering). So
    M(chaos.engineering.k8s_pod_chaos) never touches the agent, and the agent (which also carries Pumba's own
    C(com.gaiaadm.pumba=true) skip label) never kills itself. Its default namespace C(chaos-engineering) is also in
    M(chaos.engineering.k8s_pod_chaos)'s default O(chaos.engineering.k8s_pod_chaos#module:exclude_namespaces).
  - O(duration) or O(expires_at) gives the agent an expiry that the cluster enforces by itself. The module first
    creates an expiry Job of the same name (C(parallelism=0), so it never creates a pod;
    C(activeDeadlineSeconds) ending at the expiry; C(ttlSecondsAfterFinished=0)), then the DaemonSet with an
    C(ownerReference) to that Job (C(blockOwnerDeletion=true)). At the deadline the job controller fails the Job
    (C(DeadlineExceeded)), the TTL-after-finished controller deletes it, and the garbage collector deletes the
    DaemonSet and its pods. That is all done by kube-controller-manager, with no controller of ours running, no pod
    scheduled and no RBAC for the agent.
  - The expiry is also written as a C(chaos.engineering/expires) annotation (ISO-8601) on the DaemonSet and the Job.
    An agent left behind without its Job (deployed by an older release, or its Job deleted with
    C(propagationPolicy=Orphan)) is found by its labels, and removed by O(state=absent) with O(all=true) (optionally
    O(expired_only=true)). That is the teardown hook.
  - The agent container runs with no Linux capability (C(drop=[ALL])), C(allowPrivilegeEscalation=false),
    C(readOnlyRootFilesystem=true), C(seccompProfile=RuntimeDefault), C(privileged=false), no host network, PID or
    IPC namespace, no service account token and resource limits; the runtime socket is mounted read-only. It runs
    as uid 0, because the socket is root-owned. See the agent guide in the collection docs for the reasoning.
  - A second run with the same options changes nothing and reports V(ok). Changed options update the DaemonSet.
  - O(state=absent) deletes the DaemonSet and waits until its pods are gone.
author:
  - chaos.engineering maintainers (@chaos-engineering)
extends_documentation_fragment:
  - chaos.engineering.k8s
  - chaos.engineering.k8s_events
attributes:
  check_mode:
    support: full
    description:
      - Every create, update and delete is sent as a server-side dry run (C(dryRun=All)), so the API server
        validates the expiry Job and the DaemonSet and checks permissions; nothing changes. When the namespace does
        not exist yet, its creation is dry-run and the Job and DaemonSet are reported as they would be created,
        without server validation.
  diff_mode:
    support: full
    description:
      - Shows the labels, annotations and spec of the DaemonSet before and after, as the API server defaults them.
        With O(state=absent), C(before) holds each DaemonSet removed, by C(namespace/name).
  action_group:
    description: Use C(group/chaos.engineering.k8s) in C(module_defaults) to set the connection once for a play.
    support: full
    membership:
      - chaos.engineering.k8s
options:
  state:
    description:
      - V(present) deploys the agent (or updates it) and, with O(wait=true), waits until it is ready on every node.
      - V(absent) removes it and, with O(wait=true), waits until its pods are gone.
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - The DaemonSet's name, also the value of its C(chaos.engineering/agent) label. A DNS label of at most 63
        characters. If not given, V(chaos-agent).
      - Not with O(all=true).
    type: str
  namespace:
    description:
      - The namespace of the agent. It is created (and labelled as ours) when missing. If not given,
        V(chaos-engineering).
      - With O(all=true), restricts the search to this namespace; if not given, every namespace is searched.
    type: str
  all:
    description:
      - With O(state=absent), remove every agent DaemonSet of ours, found by its labels
        (C(app.kubernetes.io/managed-by=chaos.engineering) and C(chaos.engineering/agent)) in every namespace or in
        O(namespace). DaemonSets that do not carry both labels are never touched.
      - This is the teardown hook for agents left behind by a controller that died.
    type: bool
    default: false
  expired_only:
    description:
      - With O(state=absent), remove only agents whose C(chaos.engineering/expires) time has passed; others are
        reported with C(result=kept). An agent without an expiry never expires.
    type: bool
    default: false
  image:
    description:
      - The agent's image. Any Pumba image works with the default command; with O(args), any image.
      - The default is pinned to the Pumba release this collection is tested with (1.1.2).
      - An image with no tag, or with the floating C(latest) tag, is deployed with a warning, since nodes may then
        run different Pumba versions. Pin a tag or a digest (C(name@sha256:...)).
    type: str
    default: ghcr.io/alexei-led/pumba:1.1.2
  image_pull_policy:
    description:
      - The container's C(imagePullPolicy).
    type: str
    choices: [Always, IfNotPresent, Never]
    default: IfNotPresent
  args:
    description:
      - The agent container's full argument list. Replaces the Pumba command built from O(interval), O(signal),
        O(pattern), O(target_namespace) and O(random). The first four are mutually exclusive with it, and so is
        O(random=false).
    type: list
    elements: str
  interval:
    description:
      - How often the agent strikes, as a Go duration (V(30s), V(1m), V(1m30s)); a bare number is seconds.
        Pumba's C(--interval).
    type: str
    default: 30s
  signal:
    description:
      - The signal Pumba's C(kill) sends to the chosen container.
    type: str
    default: SIGKILL
  pattern:
    description:
      - The RE2 regular expression that Pumba matches container names against (C(re2:<pattern>)).
      - With the Docker runtime (dockershim, cri-dockerd), a pod's containers are named
        C(k8s_<container>_<pod>_<namespace>_<uid>_<attempt>), and the pod sandbox C(k8s_POD_<pod>_...). With
        Pumba's containerd runtime they are named C(<namespace>/<pod>/<container>), and a sandbox by its ID.
      - If not given, the app containers of pods in O(target_namespace) (V(^k8s_[a-z0-9-]+_[^_]+_default_) with
        Docker, V(^default/) with containerd), so that the system namespaces, the agent itself and the pod
        sandboxes are never matched (a container name is a lower-case DNS label, never C(POD)); O(kill_sandboxes)
        adds the sandboxes. V(^k8s_) would match every Kubernetes container on the node, the sandboxes and the
        system ones included.
      - Not with O(kill_sandboxes=true).
    type: str
  kill_sandboxes:
    description:
      - Let the default O(pattern) match the pod sandboxes (C(k8s_POD_<pod>_<namespace>_...), the C(pause)
        container that holds the pod's network namespace) as well as the app containers (V(^k8s_[^_]+_[^_]+_default_)).
      - A killed app container is replaced by the kubelet within its pod (RESTARTS climbs, the pod keeps its IP).
        A killed sandbox makes the kubelet rebuild the whole pod, a new sandbox with a B(new IP) and every container
        restarted, which is a harsher fault than "kill a container"; that is why it is off by default. The seed's
        C(re2:hello-minikube) pattern hit both.
      - Docker runtime only. Pumba's containerd runtime names a sandbox by its ID, which no namespace pattern can
        match (give O(args) with Pumba's C(--label) there). Not with O(pattern) or O(args).
    type: bool
    default: false
  target_namespace:
    description:
      - The namespace whose pods' containers the default O(pattern) matches.
    type: str
    default: default
  random:
    description:
      - Kill one random matching container per O(interval) (Pumba's C(--random)), rather than all of them.
    type: bool
    default: true
  runtime_socket:
    description:
      - The container runtime socket on the node that the agent drives, mounted into its container.
      - V(docker) mounts C(/var/run/docker.sock). V(containerd) mounts C(/run/containerd/containerd.sock) and adds
        C(--runtime containerd --containerd-socket /run/containerd/containerd.sock --containerd-namespace k8s.io) to
        the default command.
      - An absolute path mounts that socket where the runtime's default socket would be in the container. Its
        runtime is O(runtime) if given, else containerd when the path names containerd, else docker.
      - The volume has C(type=Socket), so a node without that socket never starts the agent, and the wait fails
        naming the pod and why.
    type: str
    default: docker
  runtime:
    description:
      - The runtime behind a O(runtime_socket) path, when its name does not tell.
    type: str
    choices: [containerd, docker]
  privileged:
    description:
      - Run the agent container privileged (C(privileged=true), C(readOnlyRootFilesystem=true), uid 0), instead of
        with every capability dropped.
      - The default command (C(kill)) does not need it, nor do C(stop), C(pause), and C(netem) or C(iptables) with
        a C(--tc-image) or C(--iptables-image) sidecar, since the runtime starts that sidecar with C(NET_ADMIN) in
        the target's network namespace. It is the escape hatch for a custom O(args) that needs more.
    type: bool
    default: false
  node_selector:
    description:
      - Run the agent only on nodes with these labels (the pods' C(nodeSelector)).
    type: dict
  tolerations:
    description:
      - "Pod tolerations, for example V([{operator: Exists}]) to run on tainted (control plane) nodes as well."
      - Each item takes C(key), C(operator), C(value), C(effect) and C(tolerationSeconds).
    type: list
    elements: dict
  resources:
    description:
      - The container's C(resources) (C(requests), C(limits)).
      - "If not given, V({requests: {cpu: 10m, memory: 16Mi}, limits: {cpu: 100m, memory: 64Mi}})."
    type: dict
  duration:
    description:
      - Seconds the agent may run. Writes the C(chaos.engineering/expires) annotation (now plus O(duration)), and
        C(chaos.engineering/duration).
      - The deadline counts from the first deploy with this duration. A later run with the same options keeps it
        (and stays V(ok)); a run after the deadline, or with another duration, starts a new one.
      - At the deadline the cluster removes the agent by itself, through its expiry Job (see the description).
        The job controller counts the deadline from the moment it first sees the Job, normally within a second of
        its creation; the garbage collector then takes a few seconds more.
      - Without O(duration) or O(expires_at), the agent never expires, and a Job left by an earlier run is deleted
        (with C(propagationPolicy=Orphan), so the DaemonSet stays).
      - From 1 to 604800 seconds (7 days).
    type: int
  expires_at:
    description:
      - An ISO-8601 time at which the agent expires, for example V(2026-11-27T18:00:00Z). Mutually exclusive with
        O(duration).
      - A time that is not in the future is refused before any API call, and nothing is created.
      - A later run with another time moves the expiry Job's deadline (its C(activeDeadlineSeconds), counted from
        the Job's start); a run with the same time changes nothing.
    type: str
  wait:
    description:
      - With O(state=present), wait until the DaemonSet is ready on every node it should run on (its controller has
        seen the current generation, and desired, updated, ready and available pods agree).
      - With O(state=absent), wait until the DaemonSets, their pods and their expiry Jobs are gone.
      - With O(state=present), a DaemonSet whose expiry Job is finished (expired, being removed by the cluster) is
        waited for until it is gone, then deployed anew.
      - Not in check mode.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait with O(wait=true). When it passes, the task fails with the DaemonSet's counts and the pods
        that are not ready (or not gone), with their reasons.
      - From 1 to 86400 seconds (1 day).
    type: int
    default: 120
notes:
  - The agent itself needs no Kubernetes API access (its service account token is not mounted). The module needs to
    get, create, update and delete C(daemonsets) and C(jobs) in the agent's namespace, list C(pods) there, and get
    and create C(namespaces) to create a missing one. O(all=true) needs to list C(daemonsets) and C(jobs) across the
    cluster, or in O(namespace); when it may not list or delete C(jobs), it warns and leaves the expiry Jobs, which
    delete themselves at their deadlines.
  - With the C(OwnerReferencesPermissionEnforcement) admission plugin, the C(blockOwnerDeletion) owner reference
    also needs C(update) on C(jobs/finalizers) in the agent's namespace.
  - The agent mounts a C(hostPath) socket, which the C(baseline) and C(restricted) Pod Security Standards forbid,
    so its namespace must allow C(privileged) pods (C(pod-security.kubernetes.io/enforce=privileged)) where Pod
    Security Admission enforces a stricter level. The module does not label the namespace for you.
  - The expiry needs kube-controller-manager's C(job), C(ttl-after-finished) and C(garbage-collector) controllers
    (all on by default). Without them the annotation and the teardown hook still work.
seealso:
  - module: chaos.engineering.k8s_pod_chaos
  - name: Pumba on Kubernetes
    description: The DaemonSet pattern this module deploys.
    link: https://github.com/alexei-led/pumba/blob/master/docs/deployment.md
'''

EXAMPLES = r'''
- name: Kill a random container of the shop namespace every minute, on every node, for an hour
  chaos.engineering.k8s_agent:
    target_namespace: shop
    interval: 1m
    duration: 3600
  register: agent

- name: Show where it runs
  ansible.builtin.debug:
    msg: "{{ agent.chaos.targets[0].ready }} agents ready, expiring at {{ agent.chaos.expires_at }}"

- name: An agent on containerd nodes, also on tainted ones, with a custom Pumba command
  chaos.engineering.k8s_agent:
    name: netem-agent
    runtime_socket: containerd
    privileged: true
    tolerations:
      - operator: Exists
    args: [--runtime, containerd, --containerd-namespace, k8s.io, --label, app=web, --interval, 5m,
           netem, --duration, 1m, delay, --time, '300']

- name: Remove the agent and wait until its pods are gone
  chaos.engineering.k8s_agent:
    state: absent

- name: Teardown, after a controller died - remove every expired agent of ours, in any namespace
  chaos.engineering.k8s_agent:
    state: absent
    all: true
    expired_only: true
'''

RETURN = r'''
chaos:
  description:
    - The common result of every chaos.engineering fault module. See the result schema in the collection docs.
  returned: always
  type: dict
  contains:
    fault:
      description: "The fault family: the module's name, V(k8s_agent)."
      type: str
      returned: always
      sample: 'k8s_agent'
    targets:
      description: One entry per agent DaemonSet.
      type: list
      elements: dict
      returned: always
      contains:
        id:
          description: The DaemonSet's UID, null when it does not exist.
          type: str
        name:
          description: C(namespace/name).
          type: str
        namespace:
          description: The DaemonSet's namespace.
          type: str
        daemonset:
          description: The DaemonSet's name.
          type: str
        action:
          description: V(deploy) or V(remove).
          type: str
        result:
          description:
            - V(created), V(updated), V(unchanged) (O(state=present)), V(deleted), V(absent) (there was nothing to
              remove) or V(kept) (not expired, with O(expired_only=true)).
            - When the task fails, V(unready) (the wait timed out) or V(failed) (with V(error)).
          type: str
        image:
          description: The agent's image, null when the DaemonSet does not exist.
          type: str
        args:
          description: The agent's arguments.
          type: list
          elements: str
        runtime_socket:
          description: The node path of the container runtime's socket mounted into the agent.
          type: str
        expires_at:
          description: When the agent expires, ISO-8601 UTC; null without an expiry.
          type: str
        expired:
          description: Whether the agent's expiry has passed.
          type: bool
        desired:
          description: The number of nodes that should run the agent, last seen.
          type: int
        updated:
          description: The number of nodes that run the updated agent, last seen.
          type: int
        ready:
          description: The number of nodes where the agent is ready, last seen.
          type: int
        available:
          description: The number of nodes where the agent is available, last seen.
          type: int
        pods:
          description:
            - With O(state=present), the agent's pods (with V(unready), those not ready); empty in check mode and for
              removals.
          type: list
          elements: dict
          contains:
            name:
              description: The pod's name.
              type: str
            node:
              description: Its node, null when not scheduled.
              type: str
            phase:
              description: Its phase, for example V(Running).
              type: str
            ready:
              description: Whether it is ready.
              type: bool
            terminating:
              description: Whether it is being deleted.
              type: bool
            reason:
              description: Why it is not ready (a waiting container or a pod condition), or null.
              type: str
              returned: when it is not ready
        expiry_job:
          description: The agent's expiry Job, null when it has none.
          type: dict
          returned: unless the task failed on this agent (V(unready), V(failed))
          contains:
            name:
              description: C(namespace/name).
              type: str
            id:
              description: The Job's UID, null in check mode.
              type: str
            result:
              description:
                - V(created), V(updated) (its deadline moved), V(unchanged), V(deleted), V(absent), V(kept) or
                  V(failed) (a warning says why).
              type: str
            expires_at:
              description: When it removes the agent, ISO-8601 UTC.
              type: str
            active_deadline_seconds:
              description: Its C(activeDeadlineSeconds).
              type: int
        error:
          description: Why the agent could not be removed.
          type: str
          returned: with V(result=failed)
      sample:
        - id: 0b6f2c1e-4d0a-4a8e-9f5c-3e2d1c0b9a87
          name: chaos-engineering/chaos-agent
          namespace: chaos-engineering
          daemonset: chaos-agent
          action: deploy
          result: created
          image: ghcr.io/alexei-led/pumba:1.1.2
          args: [--random, --interval, 30s, kill, --signal, SIGKILL, 're2:^k8s_[a-z0-9-]+_[^_]+_default_']
          runtime_socket: /var/run/docker.sock
          expires_at: '2026-11-27T11:00:00.000Z'
          expired: false
          desired: 3
          updated: 3
          ready: 3
          available: 3
          expiry_job:
            name: chaos-engineering/chaos-agent
            id: 5d1e8c0a-7b3f-4e2a-9c6d-1f0e2b3a4c5d
            result: created
            expires_at: '2026-11-27T11:00:00.000Z'
            active_deadline_seconds: 3600
          pods:
            - {name: chaos-agent-7xk2p, node: node-1, phase: Running, ready: true, terminating: false}
    namespace_created:
      description: Whether the agent's namespace was created (or, in check mode, would be).
      type: bool
      returned: when O(state=present)
    expires_at:
      description: With O(state=present) and O(duration) or O(expires_at), when the agent expires, ISO-8601 UTC.
      type: str
      returned: when an expiry is set
    revert:
      description: With an expiry, how the agent is removed.
      type: dict
      returned: when an expiry is set
      contains:
        armed:
          description: V(true); V(false) in check mode, where nothing was created.
          type: bool
        method:
          description: V(cluster) - the expiry Job removes the agent at RV(chaos.revert.deadline), not a reverter.
          type: str
        deadline:
          description: When the agent is removed, ISO-8601 UTC.
          type: str
        how:
          description: What removes it (the expiry Job, through kube-controller-manager's garbage collection).
          type: str
        teardown:
          description: The call that removes an agent left without its Job.
          type: str
          sample: chaos.engineering.k8s_agent state=absent all=true expired_only=true
      sample:
        armed: true
        method: cluster
        deadline: '2026-11-27T11:00:00.000Z'
        how: >-
          the expiry Job chaos-engineering/chaos-agent owns the DaemonSet: at its deadline kube-controller-manager
          fails it, deletes it and garbage-collects the DaemonSet and its pods
        teardown: chaos.engineering.k8s_agent state=absent all=true expired_only=true
    events:
      description:
        - The Kubernetes Events this run recorded on the objects it acted on (see O(record_events)).
      type: dict
      returned: always
      contains:
        fault_id:
          description: The id of this run's fault, named in each Event's message.
          type: str
          sample: 3f2a9c1b7d4e
        run_id:
          description: O(run_id), or null.
          type: str
          sample: exp-20261127-1000
        recorded:
          description: How many Events were recorded (none in check mode or with O(record_events=false)).
          type: int
          sample: 1
        not_recorded_in:
          description: The namespaces where no Event could be recorded (no C(create) on C(events)); each was warned about.
          type: list
          elements: str
          sample: []
    started_at:
      description: When the module started, ISO-8601 UTC.
      type: str
      returned: always
      sample: '2026-11-27T10:00:00.000Z'
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
'''

import copy

from ansible_collections.chaos.engineering.plugins.module_utils import _validate
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_agent_api import (
    ds_path,
    dry,
    ensure_namespace,
    get_or_none,
    job_path,
    list_agent_pods,
    list_agents,
    list_expiry_jobs,
)
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_agent_expiry import (
    deadline_seconds,
    is_expired,
    job_expiry,
    job_finished,
    job_start,
    owned_by,
    plan_expiry,
)
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_agent_manifest import (
    EXPIRES_ANNOTATION,
    comparable,
    daemonset_manifest,
    differs,
    expiry_job_manifest,
    image_warning,
    is_ours,
)
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_agent_options import (
    AGENT_ARGUMENT_SPEC,
    AGENT_MUTUALLY_EXCLUSIVE,
    agent_name,
    agent_namespace,
    expiry_in_the_past,
    parse_time,
    validate_params,
)
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_agent_rollout import (
    describe_rollout,
    pod_summary,
    rollout,
)
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_client import K8sApiError, K8sError, api_error_text
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_events import EVENTS_ARGUMENT_SPEC, EventRecorder
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_fault import K8sFaultModule, api_failure
from ansible_collections.chaos.engineering.plugins.module_utils._poll import Waiter
from ansible_collections.chaos.engineering.plugins.module_utils._result import FaultResult, utc_now

# The documented ranges (see _validate.py), checked before anything connects.
BOUNDS = dict(duration=_validate.seconds(_validate.DURATION), wait_timeout=_validate.seconds(_validate.TIMEOUT))

FAULT = 'k8s_agent'
POLL = 0.5
TEARDOWN = 'chaos.engineering.k8s_agent state=absent all=true expired_only=true'
CLUSTER_REVERT = ('the expiry Job %s/%s owns the DaemonSet: at its deadline kube-controller-manager fails it, deletes '
                  'it and garbage-collects the DaemonSet and its pods')
# The uid an ownerReference names in check mode when the expiry Job cannot be dry-run (never sent for real).
PREVIEW_UID = '00000000-0000-0000-0000-000000000000'


def describe(obj):
    """What a target entry says about an agent DaemonSet."""
    meta = obj.get('metadata') or {}
    spec = ((obj.get('spec') or {}).get('template') or {}).get('spec') or {}
    container = (spec.get('containers') or [{}])[0]
    sockets = [v.get('hostPath', {}).get('path') for v in spec.get('volumes') or [] if v.get('hostPath')]
    return dict(
        image=container.get('image'),
        args=container.get('args') or [],
        runtime_socket=sockets[0] if sockets else None,
        expires_at=(meta.get('annotations') or {}).get(EXPIRES_ANNOTATION),
    )


class Agent:
    """Deploys (state=present) or removes (state=absent) chaos agents, and waits for the outcome."""

    def __init__(self, fault):
        self.fault = fault
        self.params = fault.params
        self.check_mode = fault.check_mode
        self.client = None
        self.result = FaultResult(FAULT, self.check_mode)
        self.now = utc_now()
        self.job_results = []  # what happened to each expiry Job touched
        fault.changed = self.changed
        fault.diff = {'before': {}, 'after': {}}

    # --- plumbing

    def changed(self):
        return any(t['result'] in ('created', 'updated', 'deleted') for t in self.result.targets) \
            or any(r in ('created', 'updated', 'deleted') for r in self.job_results) \
            or bool(self.result.extra.get('namespace_created'))

    def waiter(self):
        return Waiter(self.params['wait_timeout'], POLL)

    def add_target(self, obj, action, result, namespace, name):
        meta = (obj or {}).get('metadata') or {}
        entry = self.result.add_target(meta.get('uid'), '%s/%s' % (namespace, name), action,
                                       namespace=namespace, daemonset=name, result=result)
        if obj:
            entry.update(describe(obj))
            entry['expired'] = is_expired(obj, self.now)
            dummy, counts = rollout(obj)
            entry.update((k, counts[k]) for k in ('desired', 'updated', 'ready', 'available'))
        else:
            entry.update(image=None, args=[], runtime_socket=None, expires_at=None, expired=False,
                         desired=0, updated=0, ready=0, available=0)
        entry['pods'] = []
        return entry

    def record_event(self, obj, reason, what):
        meta = obj.get('metadata') or {}
        self.events.record(dict(apiVersion='apps/v1', kind='DaemonSet', namespace=meta.get('namespace'),
                                name=meta.get('name'), uid=meta.get('uid')), reason, what)

    def pods(self, namespace, name):
        try:
            return list_agent_pods(self.client, namespace, name)
        except K8sApiError as exc:
            raise api_failure(exc, 'listing the pods of agent %s/%s' % (namespace, name))

    def read(self, what, path):
        try:
            return get_or_none(self.client, path)
        except K8sApiError as exc:
            raise api_failure(exc, 'reading %s' % what)

    # --- entry

    def run(self):
        errors = validate_params(self.params)
        past = expiry_in_the_past(self.params, self.now)
        if past:
            errors.append(past)
        if errors:
            raise K8sError(' '.join(errors))
        self.client = self.fault.connect()
        self.fault.result = self.result
        self.events = EventRecorder(self.client, self.params['record_events'], self.check_mode, self.fault.warn,
                                    run_id=self.params.get('run_id'))
        self.result.extra['events'] = self.events.summary
        if self.params['state'] == 'present':
            self.present()
        elif self.params['all']:
            self.remove_all()
        else:
            self.remove_one()

    # --- present

    def present(self):
        name, namespace = agent_name(self.params), agent_namespace(self.params)
        what = 'DaemonSet %s/%s' % (namespace, name)
        warning = image_warning(self.params['image'])
        if warning:
            self.fault.warn(warning)
        ns_exists, ns_created = ensure_namespace(self.client, namespace, self.check_mode)
        self.result.extra['namespace_created'] = ns_created
        existing = job = None
        if ns_exists:
            existing = self.read(what, ds_path(namespace, name))
            job = self.read('Job %s/%s' % (namespace, name), job_path(namespace, name))
        if existing is not None and not is_ours(existing):
            raise K8sError('%s exists and is not a chaos.engineering agent (it lacks the labels '
                           'app.kubernetes.io/managed-by=chaos.engineering and chaos.engineering/agent). Refusing to '
                           'replace it: choose another name or namespace.' % what)
        if job is not None and not is_ours(job):
            raise K8sError('Job %s/%s exists and is not the expiry Job of a chaos.engineering agent: refusing to '
                           'replace it (the agent needs that name for its expiry Job). Choose another name or '
                           'namespace.' % (namespace, name))
        if job is not None and job_finished(job) and not self.check_mode:
            # Expired (or being deleted): the cluster is removing it and the agent it owns. Let it finish.
            job, existing = self.wait_reaped(namespace, name, job)
        expires_at, duration = plan_expiry(self.params, existing, self.now)

        job, job_result = self.ensure_job(namespace, name, job, expires_at, ns_exists)
        desired = daemonset_manifest(self.params, expires_at, duration, owner=job if expires_at else None)
        try:
            if existing is None:
                if ns_exists:
                    obj = self.client.request('POST', ds_path(namespace), query=dry(self.check_mode), body=desired)
                else:
                    obj = desired  # check mode, namespace to be created: nothing to validate against
                result = 'created'
            else:
                obj, result = self.update(existing, desired, what)
        except K8sApiError as exc:
            if job_result == 'created' and not self.check_mode:
                self.delete_job(namespace, name, job, 'Background')  # no agent: its Job must not linger
            raise api_failure(exc, '%s %s' % ('creating' if existing is None else 'updating', what), rejected=what)
        if result in ('created', 'updated') and not self.check_mode:
            self.record_event(obj, 'ChaosAgentDeployed' if result == 'created' else 'ChaosAgentUpdated',
                              '%s this chaos agent (%s%s)' % (result, self.params['image'],
                                                              ', expires %s' % expires_at if expires_at else ''))
        if job is not None and not expires_at:
            # No expiry any more: the DaemonSet no longer names the Job as owner; orphan-delete it all the same.
            job_result = self.delete_job(namespace, name, job, 'Orphan')
        self.fault.diff = {'before': comparable(existing), 'after': comparable(obj)}
        self.job_results.append(job_result)
        if expires_at:
            self.result.set_revert(parse_time(expires_at), 'cluster', armed=not self.check_mode)
            self.result.revert['how'] = CLUSTER_REVERT % (namespace, name)
            self.result.revert['teardown'] = TEARDOWN

        if self.params['wait'] and not self.check_mode:
            obj = self.wait_ready(namespace, name, what)
        entry = self.add_target(obj, 'deploy', result, namespace, name)
        entry['expiry_job'] = self.job_entry(namespace, name, job if expires_at or job_result == 'deleted' else None,
                                             job_result)
        if not self.check_mode:
            entry['pods'] = [pod_summary(p) for p in self.pods(namespace, name)]

    def ensure_job(self, namespace, name, job, expires_at, ns_exists):
        """(job, result): the expiry Job for ``expires_at`` (ISO), created, its deadline moved, or as it is.
        With no expiry, (job or None, None): the caller removes a Job left from an earlier run."""
        what = 'expiry Job %s/%s' % (namespace, name)
        if not expires_at:
            return job, None
        moment = parse_time(expires_at)
        if job is not None and not job_finished(job):
            if job_expiry(job) == expires_at:
                return job, 'unchanged'
            return self.move_deadline(namespace, name, job, expires_at, what), 'updated'
        # The job controller stores startTime in whole seconds (rounded down) and counts the deadline from that:
        # count from this second's start too, so the Job never fails before the expiry (at most a second after).
        seconds = deadline_seconds(moment, self.now.replace(microsecond=0))
        manifest = expiry_job_manifest(self.params, expires_at, seconds)
        if job is not None or not ns_exists:
            # Check mode only: a finished Job is still there (it is gone before a real run creates the new one), or
            # the namespace is still to be created. Nothing to dry-run against.
            manifest['metadata']['uid'] = PREVIEW_UID
            return manifest, 'created'
        created = self.fault.call('creating %s' % what, 'POST', job_path(namespace),
                                  query=dry(self.check_mode), body=manifest)
        if not (created.get('metadata') or {}).get('uid'):
            created['metadata']['uid'] = PREVIEW_UID
        return created, 'created'

    def move_deadline(self, namespace, name, job, expires_at, what):
        """PUT the Job with the deadline of ``expires_at``, counted from its start: activeDeadlineSeconds may change
        on a running Job, and the job controller re-arms it. A conflict (the controller wrote its status
        meanwhile) reads the Job again, once."""
        path = job_path(namespace, name)
        retried = False
        while True:
            body = copy.deepcopy(job)
            body.pop('status', None)
            body['metadata']['annotations'] = dict(body['metadata'].get('annotations') or {})
            body['metadata']['annotations'][EXPIRES_ANNOTATION] = expires_at
            body['spec']['activeDeadlineSeconds'] = deadline_seconds(parse_time(expires_at), job_start(job) or self.now)
            try:
                return self.client.request('PUT', path, query=dry(self.check_mode), body=body)
            except K8sApiError as exc:
                if exc.status != 409 or retried:
                    raise api_failure(exc, 'updating %s' % what)
            retried = True
            job = self.fault.call('reading %s' % what, 'GET', path)
            if job_finished(job):
                raise K8sError('%s expired while its deadline was being moved: run again to deploy the agent anew.'
                               % what)

    def delete_job(self, namespace, name, job, propagation):
        """Delete the expiry Job; 'deleted' or 'absent'. Failing to is only a warning: the Job deletes itself at
        its deadline."""
        body = {'apiVersion': 'v1', 'kind': 'DeleteOptions', 'propagationPolicy': propagation,
                'preconditions': {'uid': job['metadata']['uid']}}
        if self.check_mode:
            body['dryRun'] = ['All']
        try:
            self.client.request('DELETE', job_path(namespace, name), query=dry(self.check_mode), body=body)
        except K8sApiError as exc:
            if exc.status in (404, 409):
                return 'absent'
            self.fault.warn('%s; the Job deletes itself at its deadline (%s).' % (
                api_error_text(exc, 'deleting expiry Job %s/%s' % (namespace, name)), job_expiry(job)))
            return 'failed'
        return 'deleted'

    def job_entry(self, namespace, name, job, result):
        if job is None:
            return None
        spec = job.get('spec') or {}
        return dict(name='%s/%s' % (namespace, name), id=None if self.check_mode else job['metadata'].get('uid'),
                    result=result, expires_at=job_expiry(job),
                    active_deadline_seconds=spec.get('activeDeadlineSeconds'))

    def wait_reaped(self, namespace, name, job):
        """Wait until an expired Job and the DaemonSet it owns are gone; (None, the DaemonSet or None)."""
        def reaped():
            current = self.read('Job %s/%s' % (namespace, name), job_path(namespace, name))
            ds = self.read('DaemonSet %s/%s' % (namespace, name), ds_path(namespace, name))
            if current is not None and current['metadata'].get('uid') != job['metadata'].get('uid'):
                raise K8sError('Job %s/%s was replaced meanwhile: another run deploys this agent.' % (namespace, name))
            return current is None and (ds is None or not owned_by(ds, job)), (current, ds)

        done, (current, ds) = self.waiter().wait(reaped)
        if not done:
            raise K8sError('Agent %s/%s has expired and the cluster is removing it, but its %s not gone after %d s.'
                           % (namespace, name, 'expiry Job is' if current is not None else 'DaemonSet is',
                              self.params['wait_timeout']))
        return None, ds

    def update(self, existing, desired, what):
        """(object, result): a dry-run PUT tells whether anything would change; only then the real PUT."""
        path = ds_path(desired['metadata']['namespace'], desired['metadata']['name'])
        retried = False
        while True:
            desired['metadata']['resourceVersion'] = existing['metadata'].get('resourceVersion')
            proposed = self.fault.call('updating %s (dry run)' % what, 'PUT', path, query=dry(True), body=desired)
            if not differs(existing, proposed):
                return existing, 'unchanged'
            if self.check_mode:
                return proposed, 'updated'
            try:
                return self.client.request('PUT', path, body=desired), 'updated'
            except K8sApiError as exc:
                if exc.status != 409 or retried:
                    raise api_failure(exc, 'updating %s' % what, rejected=what)
            retried = True
            # Changed meanwhile (the controller writes status, not the spec, but a user may): read it again.
            existing = self.fault.call('reading %s' % what, 'GET', path)

    def wait_ready(self, namespace, name, what):
        def ready():
            obj = self.read(what, ds_path(namespace, name))
            if obj is None:
                expiry = (self.result.revert or {}).get('deadline')
                raise K8sError('%s was deleted while waiting for it to be ready%s.' % (what, (
                    ' (its expiry Job removes it at %s; give a longer duration)' % expiry) if expiry else ''))
            return rollout(obj)[0], obj

        done, obj = self.waiter().wait(ready)
        counts = rollout(obj)[1]
        if done:
            if not counts['desired']:
                self.fault.warn('%s is ready on 0 nodes: no node matches its node_selector and tolerations.' % what)
            return obj
        pending = [s for s in (pod_summary(p) for p in self.pods(namespace, name)) if not s['ready']]
        detail = '; '.join('%s on %s: %s (%s)' % (s['name'], s['node'] or 'no node', s['phase'],
                                                  s.get('reason') or 'not ready') for s in pending)
        entry = self.add_target(obj, 'deploy', 'unready', namespace, name)
        entry['pods'] = pending
        raise K8sError('%s is not ready on every node after %d s: %s.%s' % (
            what, self.params['wait_timeout'], describe_rollout(counts),
            (' Pods not ready: %s.' % detail) if detail else ''))

    # --- absent

    def remove_one(self):
        name, namespace = agent_name(self.params), agent_namespace(self.params)
        what = 'DaemonSet %s/%s' % (namespace, name)
        existing = self.read(what, ds_path(namespace, name))
        if existing is not None and not is_ours(existing):
            raise K8sError('%s exists and is not a chaos.engineering agent: refusing to delete it.' % what)
        job = self.read('Job %s/%s' % (namespace, name), job_path(namespace, name))
        if job is not None and not is_ours(job):
            job = None  # someone else's Job of that name: never ours to delete
        self.remove([(namespace, name, existing, job)])

    def remove_all(self):
        namespace = self.params.get('namespace')
        where = 'in namespace %s' % namespace if namespace else 'in all namespaces'
        try:
            found = list_agents(self.client, namespace)
        except K8sApiError as exc:
            text = api_error_text(exc, 'listing agent DaemonSets %s' % where)
            if exc.status == 403 and not namespace:
                text += ' Give namespace to search only where you may list DaemonSets.'
            raise K8sError(text)
        try:
            jobs = [j for j in list_expiry_jobs(self.client, namespace) if is_ours(j)]
        except K8sApiError as exc:
            # The agents can still go; an expiry Job left behind deletes itself at its deadline.
            self.fault.warn('%s: expiry Jobs are left to delete themselves at their deadlines.'
                            % api_error_text(exc, 'listing expiry Jobs %s' % where))
            jobs = []
        by_key = dict(((j['metadata']['namespace'], j['metadata']['name']), j) for j in jobs)
        agents = {}
        for obj in found:
            if is_ours(obj):
                key = (obj['metadata']['namespace'], obj['metadata']['name'])
                agents[key] = (key[0], key[1], obj, by_key.pop(key, None))
        for key, job in by_key.items():  # an expiry Job whose agent is already gone
            agents[key] = (key[0], key[1], None, job)
        self.remove([agents[key] for key in sorted(agents)])

    def remove(self, agents):
        """Delete each (namespace, name, DaemonSet-or-None, expiry-Job-or-None), unless expired_only keeps it; then
        wait until gone. The DaemonSet goes first, so that its Job's garbage collection never races our delete."""
        gone = []
        for namespace, name, obj, job in agents:
            what = 'DaemonSet %s/%s' % (namespace, name)
            subject = obj if obj is not None else job
            keep = self.params['expired_only'] and subject is not None and not is_expired(subject, self.now)
            if keep:
                entry = self.add_target(obj, 'remove', 'kept', namespace, name)
                entry['expiry_job'] = self.job_entry(namespace, name, job, 'kept')
                continue
            if obj is None:
                entry = self.add_target(None, 'remove', 'absent', namespace, name)
            else:
                body = {'apiVersion': 'v1', 'kind': 'DeleteOptions', 'propagationPolicy': 'Background',
                        'preconditions': {'uid': obj['metadata']['uid']}}
                if self.check_mode:
                    body['dryRun'] = ['All']
                try:
                    self.client.request('DELETE', ds_path(namespace, name), query=dry(self.check_mode), body=body)
                    result = 'deleted'
                    if not self.check_mode:
                        self.record_event(obj, 'ChaosAgentRemoved', 'removed this chaos agent')
                except K8sApiError as exc:
                    if exc.status not in (404, 409):
                        failure = api_failure(exc, 'deleting %s' % what)
                        self.add_target(obj, 'remove', 'failed', namespace, name)['error'] = str(failure)
                        raise failure
                    result = 'absent'  # deleted meanwhile (by its expiry, for example)
                entry = self.add_target(obj, 'remove', result, namespace, name)
                self.fault.diff['before']['%s/%s' % (namespace, name)] = comparable(obj)
            job_result = None
            if job is not None:
                job_result = self.delete_job(namespace, name, job, 'Background')
                self.job_results.append(job_result)
            entry['expiry_job'] = self.job_entry(namespace, name, job, job_result)
            gone.append((namespace, name, job_result == 'deleted'))
        if self.params['wait'] and not self.check_mode and gone:
            self.wait_gone(gone)

    def wait_gone(self, agents):
        left = list(agents)

        def all_gone():
            still = []
            for namespace, name, with_job in left:
                ds = self.read('DaemonSet %s/%s' % (namespace, name), ds_path(namespace, name))
                job = self.read('Job %s/%s' % (namespace, name), job_path(namespace, name)) if with_job else None
                pods = self.pods(namespace, name)
                if ds is not None or job is not None or pods:
                    still.append((namespace, name, with_job, ds, job, pods))
            left[:] = [entry[:3] for entry in still]
            return not still, still

        done, still = self.waiter().wait(all_gone)
        if done:
            return
        parts = []
        for namespace, name, dummy, ds, job, pods in still:
            text = '%s/%s: %s%s%d pod%s left' % (namespace, name, 'DaemonSet still there, ' if ds is not None else '',
                                                 'expiry Job still there, ' if job is not None else '',
                                                 len(pods), '' if len(pods) == 1 else 's')
            if pods:
                text += ' (%s)' % ', '.join('%s on %s%s' % (p['metadata']['name'], p.get('spec', {}).get('nodeName'),
                                                            ' terminating' if p['metadata'].get('deletionTimestamp')
                                                            else '') for p in pods)
            parts.append(text)
        raise K8sError('The agents were deleted, but not gone after %d s: %s.' % (
            self.params['wait_timeout'], '; '.join(parts)))


def main():
    fault = K8sFaultModule(FAULT, dict(AGENT_ARGUMENT_SPEC, **EVENTS_ARGUMENT_SPEC),
                           mutually_exclusive=AGENT_MUTUALLY_EXCLUSIVE, bounds=BOUNDS)
    fault.run(Agent(fault).run)


if __name__ == '__main__':
    main()
