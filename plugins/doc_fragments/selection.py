# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # Target selection, shared by every container fault module.
    DOCUMENTATION = r'''
options:
  names:
    description:
      - Exact container names, full IDs, or ID prefixes of at least 12 characters.
      - All given selectors must match (they are combined with AND).
    type: list
    elements: str
  name_pattern:
    description:
      - A Python regular expression searched in each container's name (use C(^...$) to anchor it).
    type: str
  labels:
    description:
      - Labels that a container must all carry. An empty or null value only requires the key.
    type: dict
  exclude_labels:
    description:
      - Containers carrying any of these labels are never selected. An empty or null value matches any value.
    type: dict
  count:
    description:
      - Choose this many of the matching containers at random.
      - Mutually exclusive with O(percent).
    type: int
  percent:
    description:
      - Choose this percentage of the matching containers at random, rounded up, so any match picks at least one.
      - Must be greater than 0 and at most 100. Mutually exclusive with O(count).
    type: float
  seed:
    description:
      - Seed for the random choice made by O(count) or O(percent). The same seed and the same candidates give the
        same choice. The seed used is returned in C(chaos.selection.seed), so a run can be repeated.
    type: int
  allow_all:
    description:
      - Allow a task with no selector at all (O(names), O(name_pattern) or O(labels)) to target every eligible
        container. Without it such a task fails, and touches nothing.
    type: bool
    default: false
  allow_no_targets:
    description:
      - Succeed without changes when nothing matches. Without it an empty selection fails with a message that
        says why.
    type: bool
    default: false
notes:
  - Containers labelled C(chaos.engineering/protected=true), and the collection's own helper containers
    (label C(chaos.engineering/helper=true)), are never selected, whatever the selectors say.
'''
