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
  - O(duration) or O(expires_at) writes a C(chaos.engineering/expires) annotation with an ISO-8601 time. An agent
    left behind by a controller that died is found by its labels, and removed by O(state=absent) with O(all=true)
    (optionally O(expired_only=true)). That is the teardown hook.
  - A second run with the same options changes nothing and reports V(ok). Changed options update the DaemonSet.
  - O(state=absent) deletes the DaemonSet and waits until its pods are gone.
author:
  - chaos.engineering maintainers (@chaos-engineering)
extends_documentation_fragment:
  - chaos.engineering.k8s
attributes:
  check_mode:
    support: full
    description:
      - Every create, update and delete is sent as a server-side dry run (C(dryRun=All)), so the API server
        validates the DaemonSet and checks permissions; nothing changes. When the namespace does not exist yet, its
        creation is dry-run and the DaemonSet is reported as it would be created, without server validation.
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
    type: str
    default: ghcr.io/alexei-led/pumba:latest
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
        C(k8s_<container>_<pod>_<namespace>_<uid>_<attempt>), including the pod sandbox C(k8s_POD_...). With
        Pumba's containerd runtime they are named C(<namespace>/<pod>/<container>).
      - If not given, the containers of pods in O(target_namespace) (V(^k8s_[^_]+_[^_]+_default_) with Docker,
        V(^default/) with containerd), so that the system namespaces and the agent itself are never matched.
        V(^k8s_) would match every Kubernetes container on the node.
    type: str
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
      - Run the agent container privileged. Pumba's containerd network faults need it; C(kill) does not.
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
      - Nothing removes the agent by itself at the deadline; O(state=absent) with O(all=true) and
        O(expired_only=true) does, from the experiment, a teardown or a schedule.
      - From 1 to 604800 seconds (7 days).
    type: int
  expires_at:
    description:
      - An ISO-8601 time at which the agent expires, for example V(2026-11-27T18:00:00Z). Mutually exclusive with
        O(duration).
    type: str
  wait:
    description:
      - With O(state=present), wait until the DaemonSet is ready on every node it should run on (its controller has
        seen the current generation, and desired, updated, ready and available pods agree).
      - With O(state=absent), wait until the DaemonSets and their pods are gone.
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
    get, create, update and delete C(daemonsets) in the agent's namespace, list C(pods) there, and get and create
    C(namespaces) to create a missing one. O(all=true) needs to list C(daemonsets) across the cluster, or in
    O(namespace).
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
    - The common result of the collection's modules (see the result schema in the collection docs), with one target
      per agent DaemonSet.
  returned: always
  type: dict
  contains:
    fault:
      description: Always V(k8s_agent).
      type: str
      returned: always
      sample: k8s_agent
    targets:
      description:
        - One entry per agent DaemonSet, with V(id) (its UID, null when it does not exist), V(name)
          (C(namespace/name)), V(namespace), V(daemonset), V(action) (V(deploy) or V(remove)), and V(result).
        - V(result) is V(created), V(updated), V(unchanged) (O(state=present)), V(deleted), V(absent) (there was
          nothing to remove) or V(kept) (not expired, with O(expired_only=true)). When the task fails, V(unready)
          (the wait timed out) or V(failed) (with V(error)).
        - Also V(image), V(args), V(runtime_socket) (the node path mounted), V(expires_at) (null without one),
          V(expired), V(desired), V(updated), V(ready) and V(available) (the DaemonSet's pod counts, last seen),
          and, with O(state=present), V(pods) (V(name), V(node), V(phase), V(ready), V(terminating), and V(reason)
          when not ready; empty in check mode and for removals).
      type: list
      elements: dict
      returned: always
      sample:
        - id: 0b6f2c1e-4d0a-4a8e-9f5c-3e2d1c0b9a87
          name: chaos-engineering/chaos-agent
          namespace: chaos-engineering
          daemonset: chaos-agent
          action: deploy
          result: created
          image: ghcr.io/alexei-led/pumba:latest
          args: [--random, --interval, 30s, kill, --signal, SIGKILL, 're2:^k8s_[^_]+_[^_]+_default_']
          runtime_socket: /var/run/docker.sock
          expires_at: '2026-11-27T11:00:00.000Z'
          expired: false
          desired: 3
          updated: 3
          ready: 3
          available: 3
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
      description:
        - With an expiry, how the agent is removed. V(armed) is always V(false), since nothing in the cluster
          removes it by itself; V(method) is V(teardown), and V(how) names the call that removes it.
      type: dict
      returned: when an expiry is set
    started_at:
      description: When the module started, ISO-8601 UTC.
      type: str
      returned: always
    finished_at:
      description: When the module finished, ISO-8601 UTC.
      type: str
      returned: always
    dry_run:
      description: Whether this was a check-mode run that changed nothing.
      type: bool
      returned: always
'''

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.chaos.engineering.plugins.module_utils._k8s import (
    K8S_AUTH_ARGUMENT_SPEC,
    K8sApiError,
    K8sError,
    api_error_text,
    client_or_fail,
)
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_agent import (
    AGENT_ARGUMENT_SPEC,
    AGENT_MUTUALLY_EXCLUSIVE,
    EXPIRES_ANNOTATION,
    AgentError,
    agent_name,
    agent_namespace,
    comparable,
    daemonset_manifest,
    describe_rollout,
    differs,
    ds_path,
    dry,
    ensure_namespace,
    get_or_none,
    is_expired,
    is_ours,
    list_agent_pods,
    list_agents,
    parse_time,
    plan_expiry,
    pod_summary,
    rollout,
    validate_params,
)
from ansible_collections.chaos.engineering.plugins.module_utils import _validate
from ansible_collections.chaos.engineering.plugins.module_utils._result import FaultResult, utc_now

# The documented ranges (see _validate.py), checked before anything connects.
BOUNDS = dict(duration=_validate.seconds(_validate.DURATION), wait_timeout=_validate.seconds(_validate.TIMEOUT))

FAULT = 'k8s_agent'
POLL = 0.5
TEARDOWN = 'chaos.engineering.k8s_agent state=absent all=true expired_only=true'


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
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.client = None
        self.result = FaultResult(FAULT, self.check_mode)
        self.now = utc_now()
        self.diff = {'before': {}, 'after': {}}

    # --- plumbing

    @property
    def changed(self):
        return any(t['result'] in ('created', 'updated', 'deleted') for t in self.result.targets) \
            or bool(self.result.extra.get('namespace_created'))

    def fail(self, msg):
        self.module.fail_json(msg=msg, changed=self.changed, chaos=self.result.as_dict())

    def exit(self):
        extra = {}
        if self.module._diff:
            extra['diff'] = self.diff
        self.module.exit_json(changed=self.changed, chaos=self.result.as_dict(), **extra)

    def request(self, what, method, path, **kwargs):
        try:
            return self.client.request(method, path, **kwargs)
        except K8sApiError as exc:
            if exc.status == 422:
                self.fail('The API server rejected %s (HTTP 422 Invalid): %s' % (what, exc.message))
            self.fail(api_error_text(exc, what))
        except K8sError as exc:
            self.fail(str(exc))
        return None  # not reached

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

    def pods(self, namespace, name):
        try:
            return list_agent_pods(self.client, namespace, name)
        except K8sApiError as exc:
            self.fail(api_error_text(exc, 'listing the pods of agent %s/%s' % (namespace, name)))
        except K8sError as exc:
            self.fail(str(exc))
        return []  # not reached

    # --- entry

    def run(self):
        errors = validate_params(self.params)
        if errors:
            self.module.fail_json(msg=' '.join(errors))
        self.client = client_or_fail(self.module)
        try:
            if self.params['state'] == 'present':
                self.present()
            elif self.params['all']:
                self.remove_all()
            else:
                self.remove_one()
        except AgentError as exc:
            self.fail(str(exc))
        except K8sError as exc:
            self.fail(str(exc))
        self.exit()

    # --- present

    def present(self):
        name, namespace = agent_name(self.params), agent_namespace(self.params)
        what = 'DaemonSet %s/%s' % (namespace, name)
        ns_exists, ns_created = ensure_namespace(self.client, namespace, self.check_mode)
        self.result.extra['namespace_created'] = ns_created
        existing = None
        if ns_exists:
            try:
                existing = get_or_none(self.client, ds_path(namespace, name))
            except K8sApiError as exc:
                self.fail(api_error_text(exc, 'reading %s' % what))
        if existing is not None and not is_ours(existing):
            self.fail('%s exists and is not a chaos.engineering agent (it lacks the labels '
                      'app.kubernetes.io/managed-by=chaos.engineering and chaos.engineering/agent). Refusing to '
                      'replace it: choose another name or namespace.' % what)
        expires_at, duration = plan_expiry(self.params, existing, self.now)
        desired = daemonset_manifest(self.params, expires_at, duration)

        if existing is None:
            if ns_exists:
                obj = self.request('creating %s' % what, 'POST', ds_path(namespace), query=dry(self.check_mode),
                                   body=desired)
            else:
                obj = desired  # check mode, namespace to be created: nothing to validate against
            result = 'created'
        else:
            obj, result = self.update(existing, desired, what)
        self.diff = {'before': comparable(existing), 'after': comparable(obj)}

        if self.params['wait'] and not self.check_mode:
            obj = self.wait_ready(namespace, name, what)
        entry = self.add_target(obj, 'deploy', result, namespace, name)
        if not self.check_mode:
            entry['pods'] = [pod_summary(p) for p in self.pods(namespace, name)]
        if expires_at:
            self.result.set_revert(parse_time(expires_at), 'teardown', armed=False)
            self.result.revert['how'] = TEARDOWN

    def update(self, existing, desired, what):
        """(object, result): a dry-run PUT tells whether anything would change; only then the real PUT."""
        path = ds_path(desired['metadata']['namespace'], desired['metadata']['name'])
        for attempt in (1, 2):
            desired['metadata']['resourceVersion'] = existing['metadata'].get('resourceVersion')
            proposed = self.request('updating %s (dry run)' % what, 'PUT', path, query=dry(True), body=desired)
            if not differs(existing, proposed):
                return existing, 'unchanged'
            if self.check_mode:
                return proposed, 'updated'
            try:
                return self.client.request('PUT', path, body=desired), 'updated'
            except K8sApiError as exc:
                if exc.status != 409 or attempt == 2:
                    if exc.status == 422:
                        self.fail('The API server rejected %s (HTTP 422 Invalid): %s' % (what, exc.message))
                    self.fail(api_error_text(exc, 'updating %s' % what))
            # Changed meanwhile (the controller writes status, not the spec, but a user may): read it again.
            existing = self.request('reading %s' % what, 'GET', path)
        return existing, 'unchanged'  # not reached

    def wait_ready(self, namespace, name, what):
        timeout = self.params['wait_timeout']
        deadline = time.monotonic() + timeout
        path = ds_path(namespace, name)
        while True:
            obj = self.request('reading %s' % what, 'GET', path)
            ready, counts = rollout(obj)
            if ready:
                if not counts['desired']:
                    self.module.warn('%s is ready on 0 nodes: no node matches its node_selector and tolerations.'
                                     % what)
                return obj
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL)
        pending = [s for s in (pod_summary(p) for p in self.pods(namespace, name)) if not s['ready']]
        detail = '; '.join('%s on %s: %s (%s)' % (s['name'], s['node'] or 'no node', s['phase'],
                                                  s.get('reason') or 'not ready') for s in pending)
        entry = self.add_target(obj, 'deploy', 'unready', namespace, name)
        entry['pods'] = pending
        self.fail('%s is not ready on every node after %d s: %s.%s' % (
            what, timeout, describe_rollout(counts), (' Pods not ready: %s.' % detail) if detail else ''))
        return obj  # not reached

    # --- absent

    def remove_one(self):
        name, namespace = agent_name(self.params), agent_namespace(self.params)
        what = 'DaemonSet %s/%s' % (namespace, name)
        try:
            existing = get_or_none(self.client, ds_path(namespace, name))
        except K8sApiError as exc:
            self.fail(api_error_text(exc, 'reading %s' % what))
        if existing is not None and not is_ours(existing):
            self.fail('%s exists and is not a chaos.engineering agent: refusing to delete it.' % what)
        self.remove([(namespace, name, existing)])

    def remove_all(self):
        namespace = self.params.get('namespace')
        where = 'in namespace %s' % namespace if namespace else 'in all namespaces'
        try:
            found = list_agents(self.client, namespace)
        except K8sApiError as exc:
            text = api_error_text(exc, 'listing agent DaemonSets %s' % where)
            if exc.status == 403 and not namespace:
                text += ' Give namespace to search only where you may list DaemonSets.'
            self.fail(text)
        found = [obj for obj in found if is_ours(obj)]
        found.sort(key=lambda o: (o['metadata']['namespace'], o['metadata']['name']))
        self.remove([(o['metadata']['namespace'], o['metadata']['name'], o) for o in found])

    def remove(self, agents):
        """Delete each (namespace, name, object-or-None), unless expired_only keeps it; then wait until gone."""
        gone = []
        for namespace, name, obj in agents:
            what = 'DaemonSet %s/%s' % (namespace, name)
            if obj is None:
                self.add_target(None, 'remove', 'absent', namespace, name)
                gone.append((namespace, name))
                continue
            if self.params['expired_only'] and not is_expired(obj, self.now):
                self.add_target(obj, 'remove', 'kept', namespace, name)
                continue
            body = {'apiVersion': 'v1', 'kind': 'DeleteOptions', 'propagationPolicy': 'Background',
                    'preconditions': {'uid': obj['metadata']['uid']}}
            if self.check_mode:
                body['dryRun'] = ['All']
            try:
                self.client.request('DELETE', ds_path(namespace, name), query=dry(self.check_mode), body=body)
                result = 'deleted'
            except K8sApiError as exc:
                if exc.status not in (404, 409):
                    self.add_target(obj, 'remove', 'failed', namespace, name)['error'] = api_error_text(
                        exc, 'deleting %s' % what)
                    self.fail(api_error_text(exc, 'deleting %s' % what))
                result = 'absent'  # deleted meanwhile
            self.add_target(obj, 'remove', result, namespace, name)
            self.diff['before']['%s/%s' % (namespace, name)] = comparable(obj)
            gone.append((namespace, name))
        if self.params['wait'] and not self.check_mode and gone:
            self.wait_gone(gone)

    def wait_gone(self, agents):
        timeout = self.params['wait_timeout']
        deadline = time.monotonic() + timeout
        left = list(agents)
        while True:
            still = []
            for namespace, name in left:
                try:
                    ds = get_or_none(self.client, ds_path(namespace, name))
                except K8sApiError as exc:
                    self.fail(api_error_text(exc, 'reading DaemonSet %s/%s' % (namespace, name)))
                pods = self.pods(namespace, name)
                if ds is not None or pods:
                    still.append((namespace, name, ds, pods))
            if not still:
                return
            if time.monotonic() >= deadline:
                break
            left = [(ns, n) for ns, n, dummy, dummy2 in still]
            time.sleep(POLL)
        parts = []
        for namespace, name, ds, pods in still:
            text = '%s/%s: %s%d pod%s left' % (namespace, name, 'DaemonSet still there, ' if ds is not None else '',
                                               len(pods), '' if len(pods) == 1 else 's')
            if pods:
                text += ' (%s)' % ', '.join('%s on %s%s' % (p['metadata']['name'], p.get('spec', {}).get('nodeName'),
                                                            ' terminating' if p['metadata'].get('deletionTimestamp')
                                                            else '') for p in pods)
            parts.append(text)
        self.fail('The agents were deleted, but not gone after %d s: %s.' % (timeout, '; '.join(parts)))


def main():
    spec = dict(K8S_AUTH_ARGUMENT_SPEC)
    spec.update(AGENT_ARGUMENT_SPEC)
    module = AnsibleModule(
        argument_spec=spec,
        mutually_exclusive=AGENT_MUTUALLY_EXCLUSIVE,
        supports_check_mode=True,
    )
    _validate.fail_on_errors(module, _validate.validate_params(module.params, spec, BOUNDS,
                                                               types=_validate.K8S_AUTH_TYPES))
    Agent(module).run()


if __name__ == '__main__':
    main()
