# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every Kubernetes fault module does the same way, as ContainerFaultModule does it for Docker.

The auth options merged into the module's spec, the checks before anything connects, one client, API errors turned
into messages, concurrent actions, and one report: the module's work raises a FaultError (K8sError, SelectionError)
with a message fit for the user, and ``run`` fails with it and the ``chaos`` result so far, or exits with the result.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.chaos.engineering.plugins.module_utils import _validate
from ansible_collections.chaos.engineering.plugins.module_utils._errors import FaultError
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_client import (
    K8S_AUTH_ARGUMENT_SPEC,
    REQUIREMENT,
    K8sApiError,
    K8sError,
    api_error_text,
    auth_params,
    kubernetes_lib,
    make_client,
)
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_identity import auth_secrets
from ansible_collections.chaos.engineering.plugins.module_utils._parallel import map_parallel


class K8sFaultModule:
    """An AnsibleModule for a fault on Kubernetes objects.

    ``result`` is the FaultResult once there is one (a failure returns it as ``chaos`` too); ``changed`` says,
    from the result, whether anything was changed; ``diff`` is returned in diff mode when set.
    """

    def __init__(self, fault, argument_spec, mutually_exclusive=None, bounds=None):
        spec = dict(K8S_AUTH_ARGUMENT_SPEC)
        spec.update(argument_spec)
        self.module = AnsibleModule(
            argument_spec=spec,
            mutually_exclusive=list(mutually_exclusive or []),
            supports_check_mode=True,
        )
        self.fault = fault
        self.params = self.module.params
        self.client = None
        self.result = None
        self.changed = lambda: False
        self.diff = None
        # Before anything connects: explicit nulls, and every duration, timeout and count in its documented range.
        _validate.fail_on_errors(self.module, _validate.validate_params(self.params, spec, bounds,
                                                                        types=_validate.K8S_AUTH_TYPES))

    @property
    def check_mode(self):
        return self.module.check_mode

    def warn(self, text):
        self.module.warn(text)

    def connect(self, pool_size=10):
        """The client, made once; fails naming the host and the credentials tried."""
        lib = kubernetes_lib()
        if lib.error is not None:
            self.module.fail_json(msg=missing_required_lib(REQUIREMENT), exception=lib.error)
        auth = auth_params(self.params)
        # The connection's secrets, those from K8S_AUTH_* and a host URL's user:pass@ included: masked in all the
        # module returns (Ansible masks only the no_log options it was given).
        self.module.no_log_values.update(auth_secrets(auth))
        try:
            self.client = make_client(auth, pool_size=pool_size)
        except K8sApiError as exc:
            self.fail(exc.message if exc.status == 401 else 'Kubernetes API error: %s' % exc)
        except K8sError as exc:
            self.fail(str(exc))
        return self.client

    def call(self, what, method, path, **kwargs):
        """One request while doing ``what``; an API error becomes a K8sError that says so."""
        try:
            return self.client.request(method, path, **kwargs)
        except K8sApiError as exc:
            raise api_failure(exc, what, rejected=what)

    def run_each(self, targets, action):
        """``action(target)`` for each target, ``parallelism`` at a time; the results in the targets' order."""
        return map_parallel(action, targets, self.params['parallelism'])

    def fail(self, msg):
        extra = {}
        if self.result is not None:
            extra.update(changed=self.changed(), chaos=self.result.as_dict())
        self.module.fail_json(msg=msg, **extra)

    def run(self, work):
        """Do ``work()``, then report once: exit with the result, or fail with what ``work`` raised."""
        try:
            work()
        except FaultError as exc:
            self.fail(str(exc))
        extra = dict(diff=self.diff) if self.diff is not None and self.module._diff else {}
        self.module.exit_json(changed=self.changed(), chaos=self.result.as_dict(), **extra)


def api_failure(exc, what, rejected=None):
    """The K8sError for a K8sApiError while doing ``what``."""
    if exc.status == 422 and rejected:
        return K8sError('The API server rejected %s (HTTP 422 Invalid): %s' % (rejected, exc.message))
    return K8sError(api_error_text(exc, what))
