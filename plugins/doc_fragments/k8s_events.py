# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The Kubernetes Events a k8s fault module records on the objects it acts on (_k8s_events).
    DOCUMENTATION = r'''
options:
  record_events:
    description:
      - Record a Kubernetes Event (type C(Normal), source C(chaos.engineering)) on each object acted on, as Chaos Mesh
        and Litmus do, so that C(kubectl describe) and C(kubectl get events) show it with the fault id and the run id.
      - Check mode records none. Without C(create) on C(events) in a namespace, the module warns once for that
        namespace and goes on; the fault is not undone.
    type: bool
    default: true
  run_id:
    description:
      - The id of the experiment run this fault belongs to, named in the Events' messages and returned in
        RV(chaos.events.run_id). The experiment role passes its own.
    type: str
'''
