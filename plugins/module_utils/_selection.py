# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Target selection: candidates + criteria -> the targets a fault may harm.

Pure: no I/O, so check mode reports exactly the targets a real run would pick.
Used for Docker containers and Kubernetes pods: a candidate is any mapping
with ``id``, ``name`` and ``labels`` (and optionally ``annotations``).
``name`` is the name reported in results; a candidate may also carry a
``match_name`` (a pod's own name, when ``name`` is ``namespace/name``) that
``names`` and ``name_pattern`` are matched against.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import random
import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.chaos.engineering.plugins.module_utils._docker_helpers import HELPER_LABEL
from ansible_collections.chaos.engineering.plugins.module_utils._errors import FaultError

# Containers and pods carrying it are never chosen (HELPER_LABEL marks our own helpers).
PROTECTED_LABEL = 'chaos.engineering/protected'

# Shared by every module that selects targets; documented once in the
# chaos.engineering.selection doc fragment.
SELECTION_ARGUMENT_SPEC = dict(
    names=dict(type='list', elements='str'),
    name_pattern=dict(type='str'),
    labels=dict(type='dict'),
    exclude_labels=dict(type='dict'),
    count=dict(type='int'),
    percent=dict(type='float'),
    seed=dict(type='int'),
    allow_all=dict(type='bool', default=False),
    allow_no_targets=dict(type='bool', default=False),
)

SELECTION_MUTUALLY_EXCLUSIVE = [('count', 'percent')]

SELECTOR_KEYS = ('names', 'name_pattern', 'labels')


class SelectionError(FaultError):
    """The criteria are invalid, or nothing may be harmed."""


def is_protected(candidate):
    """Protected targets and our own helpers are never harmed; nor is a candidate whose caller gave a
    ``protected_reason`` (a kubelet's sandbox or kube-system container, see _kubelet.py)."""
    if candidate.get('protected_reason'):
        return True
    for mapping in (candidate.get('labels') or {}, candidate.get('annotations') or {}):
        if boolean(mapping.get(PROTECTED_LABEL, ''), strict=False) or boolean(mapping.get(HELPER_LABEL, ''), strict=False):
            return True
    return False


def _labels_match(labels, wanted):
    """Every wanted key must be present; a value of None (or '') only needs the key."""
    for key, value in wanted.items():
        if key not in labels:
            return False
        if value not in (None, '') and str(labels[key]) != str(value):
            return False
    return True


def _labels_excluded(labels, excluded):
    """A candidate is excluded when it carries any one of the excluded labels."""
    for key, value in excluded.items():
        if key in labels and (value in (None, '') or str(labels[key]) == str(value)):
            return True
    return False


def _match_name(candidate):
    """The name that ``name_pattern`` is searched in."""
    return candidate.get('match_name') or candidate.get('name') or ''


def _name_matches(candidate, names):
    cid = candidate.get('id') or ''
    for name in names:
        if name in (candidate.get('name'), candidate.get('match_name'), cid):
            return True
        # A short container ID (12+ hex chars, as `docker ps` shows) is unambiguous enough.
        if len(name) >= 12 and cid.startswith(name):
            return True
    return False


def is_helper(candidate):
    """Is this one of the collection's own helper containers (by its label)?"""
    return boolean((candidate.get('labels') or {}).get(HELPER_LABEL, ''), strict=False)


def matches_criteria(candidate, criteria):
    """Does a candidate meet the selectors of ``criteria`` (names, name_pattern, labels, exclude_labels)?
    Protection is not looked at: select_targets skips protected matches, a probe only observes."""
    labels = candidate.get('labels') or {}
    if criteria.get('names') and not _name_matches(candidate, criteria['names']):
        return False
    if criteria.get('name_pattern') and not re.search(criteria['name_pattern'], _match_name(candidate)):
        return False
    if criteria.get('labels') and not _labels_match(labels, criteria['labels']):
        return False
    if criteria.get('exclude_labels') and _labels_excluded(labels, criteria['exclude_labels']):
        return False
    return True


def validate_criteria(criteria, selector_keys=SELECTOR_KEYS):
    """Raise SelectionError for criteria that cannot be evaluated.

    ``selector_keys`` are the criteria that count as a selector for the ``allow_all``
    guard (a Kubernetes module adds its server-side ``label_selector``, for example).
    """
    count = criteria.get('count')
    percent = criteria.get('percent')
    if count is not None and percent is not None:
        raise SelectionError('count and percent are mutually exclusive.')
    if count is not None and count < 1:
        raise SelectionError('count must be at least 1, got %s.' % count)
    if percent is not None and not 0 < percent <= 100:
        raise SelectionError('percent must be greater than 0 and at most 100, got %s.' % percent)
    pattern = criteria.get('name_pattern')
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise SelectionError('name_pattern %r is not a valid regular expression: %s.' % (pattern, exc))
    has_selector = any(criteria.get(key) for key in selector_keys)
    if not has_selector and not criteria.get('allow_all'):
        raise SelectionError(
            'No selector given (%s or %s). Refusing to target everything; '
            'set allow_all=true if you really mean every eligible target.' % (
                ', '.join(selector_keys[:-1]), selector_keys[-1]))


def sample_size(total, count=None, percent=None):
    """How many of ``total`` matches to pick. Percent rounds up, so a non-empty match picks at least one."""
    if count is not None:
        return min(count, total)
    if percent is not None:
        return min(total, int(math.ceil(total * percent / 100.0)))
    return total


def select_targets(candidates, criteria, rng_seed=None, selector_keys=SELECTOR_KEYS):
    """Pick targets from ``candidates`` according to ``criteria``.

    Returns a dict with ``selected`` (list of candidates, in a stable order),
    ``matched`` (how many matched before sampling), ``protected`` (names of
    matching candidates skipped as protected), ``missing`` (requested names not
    among the candidates) and ``seed`` (the seed used for sampling, so a run can
    be reproduced). ``rng_seed`` is the seed to use when the criteria give none.
    ``selector_keys``: see validate_criteria.
    """
    validate_criteria(criteria, selector_keys)
    names = criteria.get('names') or []

    matched = []
    protected = []
    for candidate in candidates:
        if not matches_criteria(candidate, criteria):
            continue
        if is_protected(candidate):
            protected.append(candidate.get('name'))
            continue
        matched.append(candidate)

    # Sort by id so that the same seed and the same candidates give the same choice,
    # whatever order the engine listed them in.
    matched.sort(key=lambda c: (c.get('id') or '', c.get('name') or ''))
    missing = [name for name in names if not any(_name_matches(c, [name]) for c in candidates)]

    seed = criteria.get('seed')
    if seed is None:
        seed = rng_seed
    size = sample_size(len(matched), criteria.get('count'), criteria.get('percent'))
    if size < len(matched):
        if seed is None:
            seed = random.SystemRandom().randint(0, 2 ** 31 - 1)
        chosen_ids = set(c['id'] for c in random.Random(seed).sample(matched, size))
        selected = [c for c in matched if c['id'] in chosen_ids]
    else:
        selected = list(matched)

    return dict(
        selected=selected,
        matched=len(matched),
        candidates=len(candidates),
        protected=sorted(p for p in protected if p is not None),
        missing=missing,
        seed=seed,
    )


def require_targets(selection, allow_no_targets, what='container', reasons=None, left_out=None):
    """Raise SelectionError with a clear message when nothing was selected and that is not allowed.

    ``reasons``: name -> why that protected candidate is protected, when the caller knows more than the label.
    ``left_out``: what the caller dropped before the selection rules saw them, and why (one sentence)."""
    if selection['selected'] or allow_no_targets:
        return
    details = [left_out] if left_out else []
    if selection['missing']:
        details.append('Not found (or not in a state this fault applies to): %s' % ', '.join(selection['missing']))
    if selection['protected']:
        reasons = reasons or {}
        details.append('Protected or chaos helpers, never touched: %s' % ', '.join(
            '%s (%s)' % (name, reasons[name]) if reasons.get(name) else name for name in selection['protected']))
    msg = 'No %s matched the selection (%d candidates considered).' % (what, selection['candidates'])
    if details:
        msg += ' ' + '. '.join(details) + '.'
    msg += ' Set allow_no_targets=true to accept an empty selection.'
    raise SelectionError(msg)


def criteria_from_params(params):
    """The selection criteria found in a module's params."""
    return dict((key, params.get(key)) for key in SELECTION_ARGUMENT_SPEC)
