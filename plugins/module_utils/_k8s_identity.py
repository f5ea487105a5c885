# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who the Kubernetes requests act as, and what the proxy is told: the auth options that become HTTP headers.

- ``username``/``password``: HTTP basic authentication (``Authorization: Basic``), in place of any token;
- ``impersonate_user``/``impersonate_groups``: the ``Impersonate-User`` and ``Impersonate-Group`` headers on every
  request, or the kubeconfig user's ``as``/``as-groups`` when the options are not given (as kubectl does);
- ``proxy_headers``: the headers of the connection to the proxy, as urllib3.util.make_headers builds them (as
  kubernetes.core does).

Pure: no kubernetes or urllib3 import, so the checks and the headers are unit-tested on their own. No message
here contains a secret.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64

from ansible_collections.chaos.engineering.plugins.module_utils._redact import secret_values

PROXY_HEADERS_SPEC = dict(
    proxy_basic_auth=dict(type='str', no_log=True),
    basic_auth=dict(type='str', no_log=True),
    user_agent=dict(type='str'),
)
PROXY_HEADERS_ENV = dict((key, 'K8S_AUTH_PROXY_HEADERS_%s' % key.upper()) for key in PROXY_HEADERS_SPEC)

IMPERSONATE_USER = 'Impersonate-User'
IMPERSONATE_GROUP = 'Impersonate-Group'


def split_groups(text):
    """K8S_AUTH_IMPERSONATE_GROUPS as kubernetes.core reads it: comma-separated, empty items dropped."""
    return [item.strip() for item in text.split(',') if item.strip()]


def auth_errors(auth):
    """Messages for auth settings (options or environment) that cannot work together; empty when all is well."""
    errors = []
    username, password = auth.get('username'), auth.get('password')
    if (username is None) != (password is None):
        errors.append('username and password go together: give both (or K8S_AUTH_USERNAME and K8S_AUTH_PASSWORD), '
                      'or neither; %s is missing.' % ('password' if password is None else 'username'))
    if username is not None and ':' in username:
        errors.append('username must not contain a colon: basic authentication separates the username from the '
                      'password with one.')
    if username is not None and auth.get('api_key'):
        errors.append('api_key and username/password are two ways to log in: give one of them.')
    user = auth.get('impersonate_user')
    if user is not None and not user.strip():
        errors.append('impersonate_user must not be empty.')
    groups = auth.get('impersonate_groups')
    if groups is not None and (not isinstance(groups, list) or not all(isinstance(g, str) and g.strip()
                                                                       for g in groups)):
        errors.append('impersonate_groups must be a list of group names, none of them empty.')
    for key in ('proxy_basic_auth', 'basic_auth'):
        value = (auth.get('proxy_headers') or {}).get(key)
        if value is not None and ':' not in value:
            errors.append('proxy_headers.%s must be username:password (colon-separated).' % key)
    return errors


def kubeconfig_impersonation(user_entry):
    """The impersonation a kubeconfig user entry asks for (``as``, ``as-groups``): (user or None, groups or None).

    Raises ValueError for the entries kubectl knows and this client does not send (``as-uid``, ``as-user-extra``):
    acting as the impersonator instead would be acting with other rights than the kubeconfig says.
    """
    if not user_entry:
        return None, None
    unsupported = [key for key in ('as-uid', 'as-user-extra') if user_entry.get(key)]
    if unsupported:
        raise ValueError('the kubeconfig user asks for %s, which this collection does not send; impersonate with '
                         'as/as-groups (or impersonate_user/impersonate_groups) only.' % ' and '.join(unsupported))
    groups = user_entry.get('as-groups')
    return user_entry.get('as') or None, [str(group) for group in groups] if groups else None


def impersonation(auth, kubeconfig_user=None):
    """(user, groups) to impersonate: the options first, each on its own, then the kubeconfig's ``as``/``as-groups``
    (kubectl's --as and --as-group override them the same way). Raises ValueError for groups without a user, which
    the API server refuses."""
    from_kubeconfig = kubeconfig_impersonation(kubeconfig_user)
    user = auth.get('impersonate_user') or from_kubeconfig[0]
    groups = auth.get('impersonate_groups')
    if groups is None:
        groups = from_kubeconfig[1]
    if groups and not user:
        raise ValueError('impersonate_groups needs impersonate_user: the API server impersonates groups only '
                         'together with a user.')
    return user, list(groups or [])


def basic_authorization(username, password):
    """The Authorization header value of HTTP basic authentication."""
    token = base64.b64encode(('%s:%s' % (username, password)).encode('utf-8')).decode('ascii')
    return 'Basic %s' % token


def request_headers(auth, kubeconfig_user=None):
    """The (name, value) headers every request carries for ``auth``; a header may repeat (one per group).

    Raises ValueError (see impersonation)."""
    headers = []
    if auth.get('username') is not None and auth.get('password') is not None:
        headers.append(('Authorization', basic_authorization(auth['username'], auth['password'])))
    user, groups = impersonation(auth, kubeconfig_user)
    if user:
        headers.append((IMPERSONATE_USER, user))
    headers.extend((IMPERSONATE_GROUP, group) for group in groups)
    return headers


def make_headers_arguments(proxy_headers):
    """proxy_headers as keyword arguments of urllib3.util.make_headers (the keys that are set)."""
    return dict((key, value) for key, value in (proxy_headers or {}).items()
                if key in PROXY_HEADERS_SPEC and value is not None)


def described(user, groups):
    """'user alice (groups a, b)', for messages."""
    text = 'user %s' % user
    if groups:
        text += ' (groups %s)' % ', '.join(groups)
    return text


def auth_secrets(auth):
    """The secret values among the auth settings, for no_log_values (the environment's too, which Ansible does not
    know are secrets): api_key, password, the proxy headers' credentials (whole and their password part), and a
    host URL's user:pass@ (or a token as its userinfo)."""
    values = [auth.get('api_key'), auth.get('password')] + sorted(secret_values([auth.get('host')]))
    for key in ('proxy_basic_auth', 'basic_auth'):
        value = (auth.get('proxy_headers') or {}).get(key)
        if value:
            values.append(value)
            values.append(value.split(':', 1)[-1])
    if auth.get('username') is not None and auth.get('password') is not None:
        values.append(basic_authorization(auth['username'], auth['password']).split(' ', 1)[1])
    return [value for value in values if isinstance(value, str) and value]
