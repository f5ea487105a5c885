# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # Pod selection, shared by every Kubernetes pod fault module. The rules are those of the container
    # selection (chaos.engineering.selection): the same code chooses the targets.
    DOCUMENTATION = r'''
options:
  namespace:
    description:
      - The namespace to select pods in. Mutually exclusive with O(namespaces).
      - With neither O(namespace) nor O(namespaces), pods are selected in all namespaces except O(exclude_namespaces).
      - A namespace that does not exist fails the task. So does a namespace listed in O(exclude_namespaces).
    type: str
  namespaces:
    description:
      - Several namespaces to select pods in. Mutually exclusive with O(namespace).
    type: list
    elements: str
  exclude_namespaces:
    description:
      - Namespaces whose pods are never selected.
      - The default holds the system namespaces and C(chaos-engineering), the namespace of the chaos agent.
        Setting this option replaces the whole list.
    type: list
    elements: str
    default: [kube-system, kube-public, kube-node-lease, chaos-engineering]
  label_selector:
    description:
      - A label selector in C(kubectl) syntax, for example V(app=web,tier!=cache) or V(app in (web,api)). The API
        server evaluates it; a syntax error fails the task with the server's message.
    type: str
  field_selector:
    description:
      - A field selector in C(kubectl) syntax, for example V(spec.nodeName=node-1). The API server evaluates it.
    type: str
  names:
    description:
      - Pod names (V(web-0)), C(namespace/name) (V(shop/web-0)) or pod UIDs.
      - All given selectors must match (they are combined with AND).
    type: list
    elements: str
  name_pattern:
    description:
      - A Python regular expression searched in each pod's name (not its namespace; use C(^...$) to anchor it).
    type: str
  owner_kinds:
    description:
      - Only pods whose controller chain contains one of these kinds, for example V(Deployment), V(StatefulSet),
        V(DaemonSet), V(ReplicaSet) or V(Job). A Deployment's pods are found through their ReplicaSet, so they match
        both V(Deployment) and V(ReplicaSet). Compared case-insensitively. Pods without a controller never match.
    type: list
    elements: str
  count:
    description:
      - Choose this many of the matching pods at random. Mutually exclusive with O(percent).
    type: int
  percent:
    description:
      - Choose this percentage of the matching pods at random, rounded up, so any match picks at least one.
      - Must be greater than 0 and at most 100. Mutually exclusive with O(count).
    type: float
  seed:
    description:
      - Seed for the random choice made by O(count) or O(percent). The same seed and the same candidates give the
        same choice. The seed used is returned in C(chaos.selection.seed), so a run can be repeated.
    type: int
  allow_all:
    description:
      - Allow a task with no selector (O(names), O(name_pattern), O(label_selector) or O(field_selector)) to
        target every eligible pod of its namespaces. A namespace alone is a scope, not a selector. Without this
        option such a task fails, and touches nothing.
    type: bool
    default: false
  allow_no_targets:
    description:
      - Succeed without changes when nothing matches. Without it an empty selection fails with a message that
        says why.
    type: bool
    default: false
notes:
  - Only pods in phase C(Running) that are not being deleted are candidates.
  - Pods labelled or annotated C(chaos.engineering/protected=true), and the collection's own agents
    (C(chaos.engineering/helper=true)), are never selected, whatever the selectors say.
  - Targets are reported by C(namespace/name), with the pod's UID as C(id).
'''
