# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one exception for failures a user reads: module_utils raise it, and the module reports it once."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class FaultError(Exception):
    """A failure whose message reads well as it is (it names the option, target or engine and says why).

    ``extra`` holds more keys for the failed task's result. A per-target FaultError becomes that target's
    ``error`` as it is; any other exception there gets its type name for context.
    """

    def __init__(self, msg, **extra):
        super(FaultError, self).__init__(msg)
        self.msg = msg
        self.extra = extra


def error_text(exc):
    """What a target's ``error`` says for ``exc``."""
    return str(exc) if isinstance(exc, FaultError) else '%s: %s' % (type(exc).__name__, exc)
