# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks every module makes on its options before it connects or changes anything.

ansible-core's argument validation checks types at the top level only, and takes any number of any size: an
explicit null for an option with a default stays null, ``duration: 1e20`` is a valid int, and a list where a string
is expected inside a ``dict`` or ``list`` of ``dict`` is not looked at. Each module declares its ``BOUNDS`` next to
its argument spec and calls ``validate_params`` once, before anything else; the limits are documented per option.

Free of Ansible: the detached reverter and the pure helpers can import it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re

MINUTE = 60
HOUR = 3600
DAY = 24 * HOUR
WEEK = 7 * DAY

# Shared limits, so that the same kind of option has the same range in every module (and in its documentation).
DURATION = (1, WEEK)          # how long a fault lasts: 1 s to 7 days (a helper container's own life is 7 days)
TIMEOUT = (1, DAY)            # how long to wait for something: 1 s to 1 day
GRACE = (0, DAY)              # a grace period or stop timeout: 0 (at once) to 1 day
PARALLELISM = (1, 256)        # how many targets are worked on at once

# docker_api_version: auto, or a version such as 1.41.
API_VERSION = re.compile(r'^(auto|\d{1,2}\.\d{1,3})$')


class ValidationError(Exception):
    """An option value that cannot work; the message says which option and why."""


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value):
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return '%d' % value
    return '%s' % (value,)


def check_number(name, value, minimum=None, maximum=None, integer=False, exclusive_minimum=False, unit=None):
    """``value`` if it is a (finite) number in range; raises ValidationError naming ``name`` otherwise.

    None passes (an option that is not given). Strings are not converted: ansible-core converted the top-level
    options already, and nested values must have the declared type.
    """
    if value is None:
        return None
    suffix = ' %s' % unit if unit else ''
    if not _is_number(value) or (integer and not isinstance(value, int)):
        raise ValidationError('%s must be %s, got %r.' % (name, 'an integer' if integer else 'a number', value))
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError('%s must be a finite number, got %s.' % (name, value))
    too_low = minimum is not None and (value <= minimum if exclusive_minimum else value < minimum)
    too_high = maximum is not None and value > maximum
    if too_low or too_high:
        if minimum is not None and maximum is not None:
            what = '%s %s to %s%s' % ('more than' if exclusive_minimum else 'from', _fmt(minimum), _fmt(maximum),
                                      suffix)
        elif minimum is not None and minimum == 0 and not exclusive_minimum:
            what = '0 or more%s' % suffix
        elif minimum is not None:
            what = '%s %s%s' % ('more than' if exclusive_minimum else 'at least', _fmt(minimum), suffix)
        else:
            what = 'at most %s%s' % (_fmt(maximum), suffix)
        raise ValidationError('%s must be %s, got %s.' % (name, what, _fmt(value)))
    return value


def check_seconds(name, value, minimum, maximum, integer=True, exclusive_minimum=False):
    """A duration or timeout in seconds within [minimum, maximum]."""
    return check_number(name, value, minimum, maximum, integer=integer, exclusive_minimum=exclusive_minimum,
                        unit='seconds')


def check_string(name, value, allow_empty=True):
    """None, or a string (not a list, dict or number); raises ValidationError."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError('%s must be a string, got %r.' % (name, value))
    if not allow_empty and not value.strip():
        raise ValidationError('%s must not be empty.' % name)
    return value


def check_api_version(name, value):
    if value is not None and not API_VERSION.match(value):
        raise ValidationError('%s must be auto or an API version such as 1.41, got %r.' % (name, value))
    return value


def null_to_default(params, argument_spec):
    """An explicit null for an option that has a default means the default, as when it is left out.

    ansible-core keeps an explicit null (``parallelism: null``, ``state: null``), which the modules would then
    use as a value. Sub-options of dict options are treated the same way.
    """
    for name, spec in argument_spec.items():
        if params.get(name) is None and spec.get('default') is not None:
            params[name] = spec['default']
        options = spec.get('options')
        if options and isinstance(params.get(name), dict):
            null_to_default(params[name], options)
        elif options and isinstance(params.get(name), list):
            for item in params[name]:
                if isinstance(item, dict):
                    null_to_default(item, options)
    return params


def bound(minimum=None, maximum=None, unit='seconds', integer=True, exclusive_minimum=False, elements=False):
    """One entry of a BOUNDS dict (see validate_bounds)."""
    return dict(minimum=minimum, maximum=maximum, unit=unit, integer=integer, exclusive_minimum=exclusive_minimum,
                elements=elements)


def seconds(limits, integer=True):
    return bound(limits[0], limits[1], integer=integer)


def count(limits):
    return bound(limits[0], limits[1], unit=None)


def validate_bounds(params, bounds, prefix=''):
    """Messages for every option in ``bounds`` that is out of range (or a list of them, with elements=True).

    ``bounds`` maps an option name to a bound() dict, or to a dict of bounds for its sub-options.
    """
    errors = []
    for name, limits in bounds.items():
        value = params.get(name)
        label = prefix + name
        if 'minimum' not in limits:  # sub-options
            if isinstance(value, dict):
                errors += validate_bounds(value, limits, prefix=label + '.')
            continue
        values = value if limits['elements'] and isinstance(value, list) else [value]
        for item in values:
            try:
                check_number(label, item, limits['minimum'], limits['maximum'], integer=limits['integer'],
                             exclusive_minimum=limits['exclusive_minimum'], unit=limits['unit'])
            except ValidationError as exc:
                errors.append(str(exc))
                break
    return errors


def check_required_if(params, required_if):
    """ansible-core's required_if again, with an explicit null counted as missing (ansible-core counts it as
    given: ``state: paused`` with ``duration: null`` passes its check)."""
    errors = []
    for rule in required_if or []:
        key, value, requirements = rule[:3]
        any_of = len(rule) > 3 and rule[3]
        if params.get(key) != value:
            continue
        missing = [name for name in requirements if params.get(name) is None]
        if missing and (not any_of or len(missing) == len(requirements)):
            errors.append('%s is %s but %s of the following %s null or missing: %s.' % (
                key, value, 'all' if any_of else 'some', 'are' if len(missing) > 1 else 'is', ', '.join(missing)))
    return errors


def validate_params(params, argument_spec, bounds=None, types=None, api_versions=(), required_if=None):
    """The shared checks, in place on ``params``; returns a list of messages (empty when all is well).

    Explicit nulls become defaults, then ``bounds`` are checked, ``types`` (name -> (python types, what they
    are called)) are the types a ``raw`` option may have when given, ``api_versions`` must be auto or a version,
    and ``required_if`` is checked again with nulls counted as missing.
    """
    null_to_default(params, argument_spec)
    errors = check_required_if(params, required_if)
    errors += validate_bounds(params, bounds or {})
    for name, (kinds, what) in sorted((types or {}).items()):
        value = params.get(name)
        if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
            errors.append('%s must be %s, got %r.' % (name, what, value))
    for name in api_versions:
        try:
            check_api_version(name, params.get(name))
        except ValidationError as exc:
            errors.append(str(exc))
    return errors


def fail_on_errors(module, errors):
    """fail_json with every message at once (nothing was done yet)."""
    if errors:
        module.fail_json(msg='Invalid options: %s' % ' '.join(errors) if len(errors) > 1 else errors[0])


# The bounds of the option sets shared by several modules (documented in their doc fragments).
# Not in _docker.py: the detached reverter runs from a copy of a declared list of files (_reverter.RUNTIME_MODULES),
# and this one, which imports Ansible, is not among them.
DOCKER_BOUNDS = dict(timeout=seconds(TIMEOUT))
DOCKER_API_VERSIONS = ('api_version',)
PARALLELISM_BOUNDS = dict(parallelism=count(PARALLELISM))
K8S_AUTH_TYPES = dict(kubeconfig=((str, dict), 'a path or a dictionary (the kubeconfig itself)'))
