# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # How many targets a container fault module acts on at once (ContainerFaultModule's parallelism).
    DOCUMENTATION = r'''
options:
  parallelism:
    description:
      - How many containers to act on at the same time.
      - From 1 to 256.
    type: int
    default: 8
'''
