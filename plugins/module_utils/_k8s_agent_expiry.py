# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""When a chaos agent expires, and how the cluster enforces it (pure).

An agent with an expiry is owned by its expiry Job: a Job that never creates a pod (parallelism 0), whose
activeDeadlineSeconds ends at the expiry and whose ttlSecondsAfterFinished is 0. At the deadline the job controller
fails it (DeadlineExceeded), the TTL-after-finished controller deletes it, and the garbage collector deletes the
DaemonSet it owns and the DaemonSet's pods: kube-controller-manager alone enforces the expiry, with no controller
of ours running, no pod scheduled and no RBAC for the agent.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import math

from ansible_collections.chaos.engineering.plugins.module_utils._k8s_agent_manifest import DURATION_ANNOTATION, EXPIRES_ANNOTATION
from ansible_collections.chaos.engineering.plugins.module_utils._k8s_agent_options import parse_time
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import iso_utc


def agent_expiry(obj):
    """The expiry of an agent object as a datetime, or None (never expires, or unreadable)."""
    text = ((obj.get('metadata') or {}).get('annotations') or {}).get(EXPIRES_ANNOTATION)
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None


def is_expired(obj, now):
    expiry = agent_expiry(obj)
    return expiry is not None and expiry <= now


def plan_expiry(params, existing, now):
    """(expires_at ISO or None, duration or None) for a deploy.

    ``expires_at`` is taken as given. A ``duration`` counts from the first deploy with that duration:
    an identical re-run keeps the deadline already on the agent (so it stays ok), unless that deadline
    has passed, or the duration changed, which start a new one.
    """
    if params.get('expires_at'):
        return iso_utc(parse_time(params['expires_at'])), None
    duration = params.get('duration')
    if duration is None:
        return None, None
    if existing is not None:
        annotations = (existing.get('metadata') or {}).get('annotations') or {}
        expiry = agent_expiry(existing)
        if annotations.get(DURATION_ANNOTATION) == str(duration) and expiry is not None and expiry > now:
            return annotations[EXPIRES_ANNOTATION], duration
    return iso_utc(now + datetime.timedelta(seconds=duration)), duration


def deadline_seconds(expires_at, start):
    """activeDeadlineSeconds for a Job started (or, before the job controller saw it, created) at ``start``,
    so that it fails at ``expires_at`` (both datetimes); at least 1, rounded up."""
    return max(1, int(math.ceil((expires_at - start).total_seconds())))


def job_start(job):
    """When the job controller counts the Job's deadline from: status.startTime, else its creation."""
    status = job.get('status') or {}
    text = status.get('startTime') or (job.get('metadata') or {}).get('creationTimestamp')
    return parse_time(text) if text else None


def job_finished(job):
    """Whether the Job is done (Failed or Complete, or about to be) or being deleted: then it and the agent it owns
    are going away."""
    if (job.get('metadata') or {}).get('deletionTimestamp'):
        return True
    for condition in (job.get('status') or {}).get('conditions') or []:
        if condition.get('type') in ('Failed', 'Complete', 'FailureTarget', 'SuccessCriteriaMet') \
                and condition.get('status') == 'True':
            return True
    return False


def job_expiry(job):
    return ((job.get('metadata') or {}).get('annotations') or {}).get(EXPIRES_ANNOTATION)


def owned_by(obj, job):
    """Whether ``obj`` has an ownerReference to ``job`` (by uid)."""
    uid = (job.get('metadata') or {}).get('uid')
    return any(ref.get('uid') == uid for ref in (obj.get('metadata') or {}).get('ownerReferences') or [])
