# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_netem's work on one engine: preflight, then apply, replace or remove our faults per container.

Faults of different names (Plan.name) coexist: each has its own helper, rules and ledger entries, and a run
touches only those of its own name (and, on an upgrade, the unnamed ones of earlier releases). The tc tree of an
interface holds one fault: a tc fault of another name there is refused, naming the holder.

The argv comes from _netem_plan.Plan; it runs in a helper container joined to the
target's network namespace, or through nsenter. Whether a fault of ours is in
place is read from the kernel (our qdisc handle, our rule comments) and from our
helpers' labels, never from memory of an earlier run. The engine is reached
through the runtime seam (_runtime); failures are raised as FaultError.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import os
import time

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.chaos.engineering.plugins.module_utils import (
    _docker_helpers, _host_exec, _ledger_store, _netem_plan, _reverter, _runtime_select)
from ansible_collections.chaos.engineering.plugins.module_utils._errors import FaultError
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import iso_utc as iso
from ansible_collections.chaos.engineering.plugins.module_utils._selection import SELECTOR_KEYS

READ_STATE = (
    ('qdiscs', ['tc', 'qdisc', 'show']),
    ('iptables', ['iptables'] + _netem_plan.IPTABLES_WAIT + ['-S']),
    ('ip6tables', ['ip6tables'] + _netem_plan.IPTABLES_WAIT + ['-S']),
)
NO_PERMISSION = ('Operation not permitted', 'Permission denied')


class TargetError(FaultError):
    """This target cannot get the fault; the message says why."""


class HelperLease:
    """A helper this run started: ``release()`` removes it, unless the fault ``adopt()``-ed it as its helper."""

    def __init__(self, runtime, helper_id):
        self.runtime = runtime
        self.helper_id = helper_id
        self.adopted = False
        self.released = False

    def adopt(self):
        self.adopted = True

    def release(self):
        if not self.adopted and not self.released:
            self.runtime.remove_helper(self.helper_id)
            self.released = True


class HelperExecutor:
    """Runs argv in a helper container that shares the target's network namespace.

    ``lease`` is None for a helper found there (it is the earlier fault's, not this run's to remove).
    """

    def __init__(self, runtime, helper_id, labels=None, lease=None):
        self.runtime = runtime
        self.helper_id = helper_id
        self.labels = labels or {}
        self.lease = lease

    @property
    def transient(self):
        """Started by this run and not adopted: ``release()`` removes it."""
        return self.lease is not None and not self.lease.adopted

    def adopt(self):
        if self.lease is not None:
            self.lease.adopt()

    def release(self):
        if self.lease is not None:
            self.lease.release()

    def run(self, argv):
        return self.runtime.exec(self.helper_id, argv)


class NsenterExecutor:
    """Runs the host's own tools in the target's network namespace (method nsenter): nothing to release."""

    transient = False

    def __init__(self, pid):
        self.helper_id = None
        self.labels = {}
        self.pid = pid

    def adopt(self):
        pass

    def release(self):
        pass

    def run(self, argv):
        return _host_exec.nsenter_run(self.pid, argv)


class TargetWork:
    """One target between the phases of ``present``: what was read, what will run, and through what."""

    def __init__(self, target, helpers, pending, fault_id):
        self.target = target
        self.helpers = helpers      # this fault's helpers found in its namespace
        self.pending = pending      # this fault's pending ledger entries for it
        self.tc_devices = []        # the interfaces whose tc tree this fault holds now
        self.same_helper = None     # the helper of exactly this fault, when it is in place already
        self.outcome = dict(fault_id=fault_id)
        self.reader = None          # the executor that read it
        self.before = None          # the state read
        self.same = False           # exactly this fault of ours is in place already
        self.steps = None           # the argv removing what of ours is there
        self.executor = None        # the executor that will hold the fault
        self.entry = None           # the ledger entry written ahead of the fault

    def release(self):
        """Remove the helpers this run made for the target that hold no fault."""
        for executor in (self.reader, self.executor):
            if executor is not None:
                executor.release()


def _explain(result, interface):
    """A clear message for a failed tc/iptables command."""
    text = (result.stderr or result.stdout).strip()
    if _netem_plan.lacks_netem(text):
        return _netem_plan.NO_NETEM_MESSAGE
    if any(marker in text for marker in NO_PERMISSION):
        return ('%s was refused the NET_ADMIN capability (%s). The helper needs cap_add NET_ADMIN, which a '
                'rootless or restricted engine may not grant.' % (result.argv[0], text))
    if 'Cannot find device' in text:
        return 'the container has no interface %s (%s).' % (interface, text)
    return '%s failed with rc %s: %s' % (' '.join(result.argv), result.rc, text)


def read_state(executor, interface, tc=True):
    """The target's qdiscs and rules, parsed; raises TargetError when they cannot be read.

    The reads run at once: each is a round trip to the engine, and none depends on another. Without ``tc``
    the qdiscs are not read (taken as none): for a fault without tc that holds no tc tree there, they change
    nothing, and each read is a container exec.
    """
    reads = [(key, argv) for key, argv in READ_STATE if tc or key != 'qdiscs']
    with ThreadPoolExecutor(max_workers=len(reads)) as pool:
        results = list(pool.map(executor.run, [argv for dummy, argv in reads]))
    state = dict(text=dict(qdiscs=''))
    for (key, dummy), result in zip(reads, results):
        if not result.ok:
            if key == 'ip6tables' and not any(m in result.stderr for m in NO_PERMISSION):
                result.stdout = ''  # no IPv6 in this namespace: nothing of ours can be there
            else:
                raise TargetError('Reading the network state failed: ' + _explain(result, interface))
        state['text'][key] = result.stdout
    state['qdiscs'] = _netem_plan.parse_qdiscs(state['text']['qdiscs'])
    state['rules'] = (_netem_plan.parse_rules(state['text']['iptables'], 'iptables')
                      + _netem_plan.parse_rules(state['text']['ip6tables'], 'ip6tables'))
    state['root'] = _netem_plan.root_qdisc(state['qdiscs'], interface)
    return state


def state_text(state):
    """For diff mode: the qdiscs, then the rules (ours and others), as the tools print them."""
    lines = ['# tc qdisc show'] + [q['line'] for q in state['qdiscs']]
    for key in ('iptables', 'ip6tables'):
        lines.append('# %s -S' % key)
        lines += [ln for ln in state['text'][key].splitlines() if ln.startswith('-A ')]
    return '\n'.join(lines) + '\n'


class NetworkFault:
    """container_netem on the engine of one ContainerFaultModule."""

    def __init__(self, fault):
        self.fault = fault
        self.params = params = fault.params
        self.interface = params['interface']
        # containerd has no helper containers: its faults go in through nsenter (see _runtime_containerd).
        self.method = 'nsenter' if params.get('runtime') == 'containerd' else params['method']
        self.plan = None
        self.deadline = None
        self.duration = params.get('duration')
        self.untimed = bool(params.get('untimed'))
        self.fault_name = params.get('fault_name')
        if self.duration is not None and self.duration < 1:
            raise FaultError('duration must be at least 1 second, got %d.' % self.duration)
        if params.get('lease') is not None and params['state'] == 'present' and self.duration is None:
            raise FaultError('lease needs duration: only a timed network fault has a revert in the ledger that the '
                             'lease can bring forward.')
        if params['state'] == 'present':
            # Validate the whole spec before connecting: names in destinations are resolved later.
            _netem_plan.Plan(self._spec(), self.interface,
                             [d for d in params.get('destinations') or [] if _netem_plan.is_ip_or_cidr(d)],
                             params.get('ports'), params.get('source_ports'), params.get('protocol'),
                             local_addresses=[d for d in params.get('local_addresses') or []
                                              if _netem_plan.is_ip_or_cidr(d)],
                             name=self.fault_name)
            if self.untimed and self.duration is not None:
                raise FaultError('Nothing was changed: give either duration or untimed=true, not both.')
            if not self.untimed and self.duration is None:
                # Safe by default: a fault that nobody removes must have been asked for.
                raise FaultError('Nothing was changed: a network fault needs a duration (the seconds it stays; '
                                 'its revert is armed in the ledger), or untimed=true to keep it on purpose until '
                                 'state=absent or the chaos.engineering.teardown role removes it.')
        elif self.fault_name is not None:
            _netem_plan.fault_name(self.fault_name, {}, self.interface, None)
        if self.method == 'nsenter':
            if os.geteuid() != 0:
                raise FaultError('method=nsenter needs root on the Docker host; the module runs as uid %d.'
                                 % os.geteuid())
            for tool in ('nsenter', 'tc', 'iptables'):
                if not fault.module.get_bin_path(tool):
                    raise FaultError('method=nsenter needs %s on the host running the module; it is not in PATH.'
                                     % tool)

    def _spec(self):
        return dict((k, self.params.get(k)) for k in _netem_plan.FAULT_KEYS)

    @property
    def runtime(self):
        return self.fault.runtime

    # --- preflight ------------------------------------------------------------------------------------

    def _resolve_addresses(self, option):
        resolved = []
        for value in self.params.get(option) or []:
            if _netem_plan.is_ip_or_cidr(value):
                resolved.append(value)
                continue
            addresses = self.runtime.addresses(value)
            if addresses is None:
                raise FaultError('%s: %r is not an IP address or CIDR, and no container of that name exists '
                                 'on %s.' % (option, value, self.fault.engine))
            if not addresses:
                raise FaultError('%s: container %r has no IP address.' % (option, value))
            resolved += addresses
        return resolved

    def _network_modes(self):
        """id -> network mode, and each network namespace's members, from one listing."""
        listing = self.runtime.running_containers()
        modes = dict((c['id'], c['network_mode']) for c in listing)
        names = dict((c['id'], c['name']) for c in listing)
        by_ref = {}
        for cid in modes:
            by_ref[cid] = cid
            by_ref[names[cid]] = cid
        owner = {}
        for cid, mode in modes.items():
            if mode.startswith('container:'):
                owner[cid] = by_ref.get(mode[len('container:'):], mode[len('container:'):])
            else:
                owner[cid] = cid
        return modes, names, owner

    def preflight(self, targets, need_netem):
        """Everything that must hold before anything changes; raises FaultError with a clear message if not."""
        modes, names, owner = self._network_modes()
        helpers = set(h['Id'] for h in self.runtime.list_helpers())
        for target in targets:
            mode = modes.get(target['id'], 'default')
            if mode == 'host' and not self.params['allow_host_network']:
                raise FaultError('%s uses the host\'s network (network_mode host): a network fault would hit the whole '
                                 'Docker host. Set allow_host_network=true to do it anyway.' % target['name'])
            if mode == 'none':
                raise FaultError('%s has no network (network_mode none).' % target['name'])
            namespace = owner.get(target['id'], target['id'])
            target['shares_network_with'] = sorted(
                names[c] for c in modes
                if owner.get(c) == namespace and c != target['id'] and c not in helpers)
        if self.method == 'helper':
            if not self.runtime.has_image(self.params['helper_image']):
                raise FaultError('The helper image %r is not on %s, and no image is ever pulled. Build it '
                                 'from the Docker host\'s own iproute2 and iptables with the '
                                 'chaos.engineering.nethelper_image role, or set helper_image.'
                                 % (self.params['helper_image'], self.fault.engine))
        if need_netem:
            self._probe_netem()

    def _probe_netem(self):
        """Try netem on a throwaway namespace's loopback: the target is never touched by the probe."""
        argv = ['tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']
        if self.method == 'nsenter':
            result = _host_exec.run_argv(['unshare', '--net', '--'] + argv)
        else:
            probe = self.runtime.start_helper(self.params['helper_image'], 'none',
                                              {_docker_helpers.FAULT_LABEL: 'container_netem-probe'},
                                              network_mode='none')
            try:
                result = self.runtime.exec(probe, argv)
            finally:
                self.runtime.remove_helper(probe)
        if not result.ok:
            raise FaultError('Preflight on %s: %s' % (self.fault.engine, _explain(result, 'lo')))

    # --- executors ------------------------------------------------------------------------------------------

    def _helpers_by_target(self):
        found = {}
        for helper in self.runtime.list_helpers():
            labels = helper.get('Labels') or {}
            # Our fault helpers, and read/revert helpers a killed run may have left behind.
            if not labels.get(_docker_helpers.FAULT_LABEL, '').startswith(self.fault.fault):
                continue
            target_id = labels.get(_docker_helpers.TARGET_LABEL)
            found.setdefault(target_id, []).append(helper)
        return found

    def _labels(self, target, deadline):
        labels = {
            _docker_helpers.FAULT_LABEL: self.fault.fault,
            _docker_helpers.FAULT_ID_LABEL: self.plan.fault_id,
            _docker_helpers.FAULT_NAME_LABEL: self.plan.name,
            _docker_helpers.TARGET_NAME_LABEL: target['name'],
            _docker_helpers.EXPIRES_LABEL: iso(deadline) if deadline else 'never',
        }
        if self.plan.uses_tc:
            labels[_docker_helpers.TC_INTERFACE_LABEL] = self.interface
        return labels

    # --- which fault holds what -------------------------------------------------------------------------------

    @staticmethod
    def _holder(item):
        """(fault name, tc interface) of a helper or a ledger entry; the name is None before fault names."""
        if 'details' in item:
            details = item.get('details') or {}
            return details.get('fault_name'), details.get('tc_interface')
        labels = item.get('Labels') or {}
        return labels.get(_docker_helpers.FAULT_NAME_LABEL), labels.get(_docker_helpers.TC_INTERFACE_LABEL)

    def _split(self, items, name, legacy=True):
        """(this fault's helpers or entries, the others'). ``legacy``: unnamed ones count as this fault's."""
        mine, others = [], []
        for item in items:
            holder = self._holder(item)[0]
            (mine if holder == name or (legacy and holder is None) else others).append(item)
        return mine, others

    def _tc_devices(self, items):
        return sorted(set(dev for dummy, dev in (self._holder(i) for i in items) if dev))

    def _tc_holders(self, items):
        """The names of the faults among ``items`` that hold the tc tree of our interface."""
        return sorted(set(name or '(unnamed)' for name, dev in (self._holder(i) for i in items)
                          if dev == self.interface))

    def _new_helper(self, target, labels, deadline=None):
        """A helper in the target's namespace, leased to this run. One that may become a fault's helper lives
        until the fault's ``deadline`` plus the reverter's grace (an untimed fault's: HELPER_SLEEP_SECONDS); a mere
        reader expires after READ_HELPER_SECONDS. Past that, the engine removes it by itself."""
        if labels.get(_docker_helpers.FAULT_ID_LABEL) is None:
            expires_at = time.time() + _docker_helpers.READ_HELPER_SECONDS
        elif deadline:
            expires_at = deadline + _docker_helpers.HELPER_GRACE_SECONDS
        else:
            expires_at = None
        helper_id = self.runtime.start_helper(self.params['helper_image'], target['id'], labels,
                                              expires_at=expires_at)
        return HelperExecutor(self.runtime, helper_id, labels, lease=HelperLease(self.runtime, helper_id))

    def _reader(self, target, helpers, labels=None, deadline=None):
        """An executor to read (and clean) the target's namespace: a running helper of ours, or a new one.

        A new one carries ``labels`` (the fault's own, when putting a fault in) and is released at the end,
        unless the fault adopts it as its helper: one container per target, not two.
        """
        if self.method == 'nsenter':
            return NsenterExecutor(self.runtime.netns_pid(target['id']))
        for helper in helpers:
            if helper.get('State') == 'running':
                return HelperExecutor(self.runtime, helper['Id'], helper.get('Labels') or {})
        return self._new_reader(target, labels, deadline)

    def _new_reader(self, target, labels=None, deadline=None):
        """A new leased helper in the target's namespace: with ``labels``, or marked as a mere reader."""
        return self._new_helper(target, labels or {_docker_helpers.FAULT_LABEL: self.fault.fault + '-read'},
                                deadline=deadline)

    def _lost(self, reader, exc, holder=False):
        """Did ``exc`` come from our fault's helper stopping or vanishing under us? The reverter removes it at
        the fault's deadline, which may fall between our read and our cleanup: that is no error of ours."""
        if self.method != 'helper' or (reader.transient and not holder):
            return False  # a reader this run made is no fault's helper: nobody removes it under us
        return self.runtime.helper_lost(reader.helper_id, exc)

    def _fresh_read(self, target, labels, deadline=None, tc=True):
        """(reader, state) through a new leased helper; the helper is released again if the read fails."""
        reader = self._new_reader(target, labels, deadline)
        try:
            return reader, read_state(reader, self.interface, tc)
        except Exception:
            reader.release()
            raise

    def _read(self, target, helpers, labels=None, deadline=None, tc=True):
        """(reader, state): the namespace's state read through ``_reader`` (``tc``: see read_state). When our
        helper stops or vanishes under us (see ``_lost``), read through a new one instead."""
        reader = self._reader(target, helpers, labels, deadline)
        try:
            return reader, read_state(reader, self.interface, tc)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            reader.release()
            if not self._lost(reader, exc):
                raise
        return self._fresh_read(target, labels, deadline, tc)

    def _scope(self, work):
        """What of ours a run of this fault may remove (see cleanup_argv)."""
        return dict(name=self.plan.name, tc_devices=work.tc_devices)

    def _clear(self, target, reader, steps, what, labels=None, replace_root=False, deadline=None, holder=False,
               scope=None):
        """Run ``steps`` (removing what of ours ``reader`` read) and return the reader that finished the job.

        When our helper stops or vanishes under us (see ``_lost``), the namespace is read again through a new
        leased helper, and whatever of ours is still there is removed through that one. With ``holder``,
        ``reader`` is to hold the new fault (its armed revert may remove it at the deadline).
        """
        try:
            self._run(reader, steps, what)
            return reader
        except Exception as exc:  # pylint: disable=broad-exception-caught
            if not self._lost(reader, exc, holder):
                raise
        reader, state = self._fresh_read(target, labels, deadline)
        try:
            self._run(reader, self._clearing_steps(state, replace_root, scope), what)
        except Exception:
            reader.release()
            raise
        return reader

    def _clearing_steps(self, state, replace_root, scope=None):
        """The argv removing everything of ours in ``state`` (with ``scope``, a dict of cleanup_argv's name,
        tc_devices and legacy, only that fault's); with ``replace_root`` (a fault with tc is going in), also a
        root qdisc that is not ours, which only ``force`` allows."""
        steps = _netem_plan.cleanup_argv(state['qdiscs'], state['rules'], **(scope or {}))
        root = state['root']
        if replace_root and root is not None and not root['ours'] and not _netem_plan.is_default_root(root):
            if not self.params['force']:
                raise TargetError('its root qdisc on %s is not ours (%s); it is left alone. Set force=true to '
                                  'replace it.' % (self.interface, root['line']))
            steps.append(['tc', 'qdisc', 'del', 'dev', self.interface, 'root'])
        return steps

    def _run(self, executor, steps, what):
        dummy, failed = _host_exec.run_steps(executor.run, steps, _netem_plan.ALREADY_GONE)
        if failed is not None:
            raise TargetError('%s: %s' % (what, _explain(failed, self.interface)))

    # --- state=present --------------------------------------------------------------------------------------

    def _plan(self, deadline=None):
        return _netem_plan.Plan(self._spec(), self.interface, self.destinations, self.params.get('ports'),
                                self.params.get('source_ports'), self.params.get('protocol'), expires_at=deadline,
                                duration=self.duration, local_addresses=self.local_addresses,
                                name=self.fault_name)

    def present(self):
        fault = self.fault
        targets = fault.select(['running'])
        self.destinations = self._resolve_addresses('destinations')
        self.local_addresses = self._resolve_addresses('local_addresses')
        self.plan = self._plan()
        fault.result.extra['spec'] = self.plan.describe()
        self.preflight(targets, self.plan.needs_netem)
        helpers = self._helpers_by_target()
        pending = {}
        for entry in fault.pending_for([t['id'] for t in targets]):
            pending.setdefault(entry['target']['id'], []).append(entry)
        # A helper made while reading may become the fault's helper: it lives until about the deadline.
        self.deadline = time.time() + self.duration if self.duration else None
        # Phase 1 reads every target first, so a refusal anywhere changes nothing anywhere.
        inspected = fault.map_each(
            targets, lambda t: self._inspect_one(t, helpers.get(t['id'], []), pending.get(t['id'], [])))
        works = [work for work, dummy in inspected if work is not None]
        try:
            refused = ['%s: %s' % (t['name'], error) for t, (dummy, error) in zip(targets, inspected) if error]
            if refused:
                raise FaultError('Nothing was changed: %s' % '; '.join(refused))
            # The deadline counts from now, after preflight and reads: on a whole second, so that a timed drop
            # also expires in the kernel by itself.
            if self.duration:
                fault.start_reverter()
            self.deadline = math.ceil(time.time() + self.duration) if self.duration else None
            self.plan = self._plan(self.deadline)
            prepared = fault.map_each(works, self._prepare_one)
            failed = ['%s: %s' % (t['name'], error) for t, (dummy, error) in zip(targets, prepared) if error]
            entries = [work.entry for work in works if work.entry is not None]
            problem = 'Nothing was changed: %s' % '; '.join(failed) if failed else fault.try_arm(entries)
            if problem:
                raise FaultError(problem)
            notes = self._note_untimed(works)
            outcomes = fault.run_each(works, self._apply_one)
        finally:
            # Every helper this run made that holds no fault (readers, and helpers of faults that did not go in).
            self._release(works)
        armed = []
        kept = []
        failed_ids = set(t['id'] for t, outcome in zip(targets, outcomes) if outcome.get('error'))
        self._close_notes([n for n in notes if n['target']['id'] in failed_ids], 'not-applied')
        if not fault.check_mode:
            # This fault replaced an earlier untimed one of the same name on those targets: its note is closed too.
            changed_ids = [t['id'] for t, outcome in zip(targets, outcomes)
                           if outcome.get('changed') and not outcome.get('error')]
            new_ids = set(n['id'] for n in notes)
            self._close_notes([n for n in self._untimed_notes(changed_ids, self.plan.name) if n['id'] not in new_ids],
                              'replaced')
        for target, work, outcome in zip(targets, works, outcomes):
            if work.entry is not None:
                if outcome.get('error'):
                    fault.close_unapplied([work.entry])
                else:
                    armed.append(work.entry)
            if outcome.get('kept_deadline'):
                kept.append(outcome.pop('kept_deadline'))
            self._add(target, outcome)
        if armed:
            fault.report_revert(armed)
        elif kept:
            fault.result.set_revert(max(kept), _reverter.METHOD, armed=_reverter.reverter_running(fault.ledger_dir))

    def _note_untimed(self, works):
        """Write-ahead for an untimed fault: no revert to arm, a note in the ledger that it stays (see
        _ledger_store.note_untimed). One per target that changes; a re-run of the same fault notes nothing."""
        if not self.untimed or self.fault.check_mode:
            return []
        notes = []
        for work in works:
            if work.same:
                continue
            try:
                notes.append(_ledger_store.note_untimed(
                    self.fault.ledger_dir, self.fault.fault, dict(id=work.target['id'], name=work.target['name']),
                    self.fault.connection, fault_id=self.plan.fault_id, fault_name=self.plan.name,
                    method=self.method))
            except (OSError, IOError, _ledger_store.LedgerError) as exc:
                self._close_notes(notes, 'not-applied')
                raise FaultError('Nothing was changed: could not note the untimed fault in the ledger at %s: %s'
                                 % (self.fault.ledger_dir, exc))
        self.fault.result.extra['untimed'] = True
        return notes

    def _close_notes(self, notes, status):
        if notes:
            try:
                _ledger_store.close_untimed(self.fault.ledger_dir, notes, status)
            except (OSError, IOError, _ledger_store.LedgerError):
                pass

    def _untimed_notes(self, target_ids=None, name=None):
        """The ledger's notes of untimed faults of ours on this engine: on these containers (or all), of the fault
        ``name`` (or any; a note from before fault names has none, and so is any fault's)."""
        wanted = None if target_ids is None else set(target_ids)
        engine = _runtime_select.engine_key(self.fault.connection)
        return [n for n in _ledger_store.list_untimed(self.fault.ledger_dir)
                if n.get('fault') == self.fault.fault and (wanted is None or n['target'].get('id') in wanted)
                and (name is None or (n.get('details') or {}).get('fault_name') in (name, None))
                and _runtime_select.engine_key(n['docker']) == engine]

    def _release(self, works):
        for work in works:
            work.release()

    def _add(self, target, outcome):
        diff = outcome.pop('diff', None)
        if diff is not None:
            self.fault.diffs.append(diff)
        self.fault.result.add_target(target['id'], target['name'], outcome.pop('action', 'netem'),
                                     shares_network_with=target.get('shares_network_with', []), **outcome)

    def _same(self, work):
        """Is exactly this fault of ours in place already?"""
        plan, state = self.plan, work.before
        if self.method == 'helper':
            labelled = [h for h in work.helpers if h.get('State') == 'running'
                        and (h.get('Labels') or {}).get(_docker_helpers.FAULT_ID_LABEL) == plan.fault_id]
            if labelled:
                work.same_helper = labelled[0]['Id']
            elif not (work.reader.transient
                      and work.reader.labels.get(_docker_helpers.FAULT_ID_LABEL) == plan.fault_id):
                return False  # (a reader made with this fault's labels may mark rules whose helper is gone)
        elif not any(e['details'].get('fault_id') == plan.fault_id for e in work.pending):
            return False  # nsenter leaves no label: only a pending revert of this fault id vouches for the tc tree
        root = state['root']
        tc_ok = (root is not None and root['handle'] == _netem_plan.ROOT_HANDLE) if plan.uses_tc else \
            not (root is not None and root['ours'] and root['dev'] in work.tc_devices)
        rules = [r for r in state['rules'] if r['fault_name'] in (plan.name, None)]
        return tc_ok and len(rules) == len(plan.iptables_rules) and all(r['fault_id'] == plan.fault_id for r in rules)

    def _inspect_one(self, target, helpers, pending):
        """Phase 1, read only: what is in the target's namespace, and what we would do there."""
        mine, others = self._split(helpers, self.plan.name)
        mine_pending, others_pending = self._split(pending, self.plan.name)
        work = TargetWork(target, mine, mine_pending, self.plan.fault_id)
        work.tc_devices = self._tc_devices(mine + mine_pending)
        # Any running helper of ours reads the namespace; the fault gets one of its own (see _prepare_one).
        # The qdiscs matter to a tc fault, to one that holds a tc tree there now, and to the diff.
        tc = bool(self.plan.uses_tc or work.tc_devices or self.fault.module._diff)
        work.reader, work.before = self._read(target, mine + others, self._labels(target, self.deadline),
                                              self.deadline, tc=tc)
        try:
            root = work.before['root']
            holders = [n for n in self._tc_holders(others + others_pending) if n != self.plan.name]
            if self.plan.uses_tc and root is not None and root['ours'] and holders:
                raise TargetError('its %s already holds the tc fault %s of ours, and one interface holds one tc '
                                  'fault (one root qdisc). Remove that one first (state=absent, fault_name=%s), '
                                  'or give both in one task.' % (self.interface, ', '.join(repr(n) for n in holders),
                                                                 holders[0]))
            if self.plan.uses_tc and root is not None and root['ours'] and self.interface not in work.tc_devices:
                work.tc_devices.append(self.interface)  # ours, and no other fault claims it: this one replaces it
            if self._same(work):
                work.same = True
            else:
                work.steps = self._clearing_steps(work.before, replace_root=self.plan.uses_tc, scope=self._scope(work))
        except Exception:
            work.reader.release()
            raise
        return work

    def _prepare_one(self, work):
        """Between the phases: the helper that will hold the fault, and the ledger entry that undoes it (written
        ahead of the fault by ``present``). The entry also removes whatever of ours is there now: once the old
        fault's entry is closed, this one covers it."""
        plan = self.plan
        work.outcome.update(apply=plan.apply_argv, revert=plan.revert_argv)
        if work.same or self.fault.check_mode:
            return work
        executor = work.reader
        if self.method == 'helper' and not work.reader.transient:
            # The reader is the earlier fault's helper, whose labels name that fault: a new one holds this one.
            executor = self._new_helper(work.target, self._labels(work.target, self.deadline),
                                        deadline=self.deadline)
        work.executor = executor
        if self.deadline:
            steps = []
            for argv in (_netem_plan.cleanup_argv(work.before['qdiscs'], work.before['rules'], **self._scope(work))
                         + plan.revert_argv):
                if argv not in steps:
                    steps.append(argv)
            work.entry = self._ledger_entry(work.target, executor, self.deadline, steps)
        return work

    def _apply_one(self, work):
        """Phase 2: replace whatever of ours is there by this fault (its revert is armed already)."""
        plan = self.plan
        target, reader, before, outcome = work.target, work.reader, work.before, work.outcome
        if work.same:
            if not self.fault.check_mode:
                reader.adopt()  # our rules were there without their helper: a new one marks them again
            outcome.update(action='unchanged', changed=False, helper=work.same_helper or reader.helper_id,
                           note='this fault of ours is already in place; deadline unchanged')
            if work.pending:
                outcome['kept_deadline'] = max(e['deadline'] for e in work.pending)
                outcome['revert_at'] = iso(outcome['kept_deadline'])
            return outcome
        steps = work.steps
        outcome.update(action='netem', changed=True, removes=steps)
        if self.fault.check_mode:
            if self.deadline:
                outcome['revert_at'] = iso(self.deadline)
            if self.fault.module._diff:
                outcome['diff'] = dict(before_header=target['name'], before=state_text(before),
                                       after_header=target['name'] + ' (predicted)',
                                       after='# would run:\n' + '\n'.join(
                                           ' '.join(a) for a in steps + plan.apply_argv) + '\n')
            return outcome
        # Our earlier fault's revert must not fire on the one we are about to put in: close it, and wait for
        # the reverter if it is performing it right now.
        closed = set(e['id'] for e in _ledger_store.discard(self.fault.ledger_dir, work.pending, status='replaced'))
        _ledger_store.wait_done(self.fault.ledger_dir, [e['id'] for e in work.pending if e['id'] not in closed])
        executor = self._clear(target, work.executor, steps, 'removing the previous fault',
                               self._labels(target, self.deadline), replace_root=plan.uses_tc, deadline=self.deadline,
                               holder=True, scope=self._scope(work))
        if executor is not work.executor:
            work.executor = executor  # ours vanished under us: the new one holds the fault
        if self.method == 'helper':
            for helper in work.helpers:
                if helper['Id'] != executor.helper_id:
                    self.runtime.remove_helper(helper['Id'])
        try:
            self._run(executor, plan.apply_argv, 'applying the fault')
        except TargetError:
            # Leave nothing half-applied behind; the helper, never adopted, is released by ``present``.
            _host_exec.run_steps(executor.run, plan.revert_argv, _netem_plan.ALREADY_GONE)
            raise
        executor.adopt()  # the fault's helper now: it stays
        outcome['acted_at'] = time.time()
        self.fault.result.mark_applied(outcome['acted_at'])
        if work.entry is not None:
            self.fault.settle(work.entry)
        outcome['helper'] = executor.helper_id
        if self.fault.module._diff:
            outcome['diff'] = dict(before_header=target['name'], before=state_text(before),
                                   after_header=target['name'],
                                   after=state_text(read_state(executor, self.interface)))
        if self.deadline:
            outcome['revert_at'] = iso(self.deadline)
        return outcome

    def _ledger_entry(self, target, executor, deadline, steps):
        action = 'helper_exec' if self.method == 'helper' else 'nsenter_exec'
        return _ledger_store.new_entry(self.fault.fault, action, dict(id=target['id'], name=target['name']),
                                       self.fault.connection, deadline,
                                       steps=steps, ok_if=list(_netem_plan.ALREADY_GONE),
                                       helper_id=executor.helper_id, helper_image=self.params['helper_image'],
                                       fault_id=self.plan.fault_id, fault_name=self.plan.name,
                                       tc_interface=self.interface if self.plan.uses_tc else None,
                                       batches=_netem_plan.batch_steps(steps) if executor.helper_id else None)

    # --- state=absent ---------------------------------------------------------------------------------------

    def absent(self):
        fault = self.fault
        # A paused container keeps its namespace, and our helper in it still runs: remove its faults too.
        targets = fault.select(['running', 'paused'])
        if self.method == 'helper' and targets:
            self.preflight(targets, need_netem=False)
        helpers = self._helpers_by_target()
        pending = {}
        for entry in fault.pending_for([t['id'] for t in targets]):
            pending.setdefault(entry['target']['id'], []).append(entry)
        outcomes = fault.run_each(
            targets, lambda t: self._absent_one(t, helpers.get(t['id'], []), pending.get(t['id'], [])))
        if not fault.check_mode:
            self._close_notes(self._untimed_notes(
                [t['id'] for t, outcome in zip(targets, outcomes) if not outcome.get('error')], self.fault_name),
                'removed')
        for target, outcome in zip(targets, outcomes):
            self._add(target, outcome)
        teardown = self.params['allow_all'] and not any(self.params.get(k) for k in SELECTOR_KEYS)
        orphans = []
        if teardown:
            alive = set(c['id'] for c in self.runtime.running_containers())  # running and paused
            for target_id, found in helpers.items():
                if target_id in alive:
                    continue
                for helper in found:
                    orphans.append((helper.get('Names') or [helper['Id'][:12]])[0].lstrip('/'))
                    if not fault.check_mode:
                        self.runtime.remove_helper(helper['Id'])
            if not fault.check_mode:
                # Untimed faults on containers that are gone (or stopped: their namespace went with them).
                self._close_notes([n for n in self._untimed_notes() if n['target'].get('id') not in alive],
                                  'container-gone')
            if orphans:
                fault.result.targets.append(dict(id=None, name='(orphaned helpers)', action='remove',
                                                 changed=True, removed=orphans))
        fault.result.extra['orphans_removed'] = orphans

    def _absent_one(self, target, helpers, pending):
        """Remove our faults from one target: all of them, or with fault_name only that one (its rules, the tc
        tree it holds, its helpers and ledger entries; other faults stay, and so do their helpers)."""
        readers = helpers
        if self.fault_name is not None:
            helpers = self._split(helpers, self.fault_name, legacy=False)[0]
            pending = self._split(pending, self.fault_name, legacy=False)[0]
        scope = None
        if self.fault_name is not None:
            scope = dict(name=self.fault_name, tc_devices=self._tc_devices(helpers + pending), legacy=False)
        reader, before = self._read(target, readers)
        try:
            steps = _netem_plan.cleanup_argv(before['qdiscs'], before['rules'], **(scope or {}))
            if not steps and not helpers and not pending:
                return dict(action='none', changed=False, note='no fault of ours here')
            outcome = dict(action='remove', changed=True, revert=steps,
                           helpers=[(h.get('Names') or [h['Id'][:12]])[0].lstrip('/') for h in helpers])
            if self.fault.check_mode:
                return outcome
            _ledger_store.discard(self.fault.ledger_dir, pending, status='reverted-by-module')
            reader = self._clear(target, reader, steps, 'removing the fault', scope=scope)
            if self.fault.module._diff:
                outcome['diff'] = dict(before_header=target['name'], before=state_text(before),
                                       after_header=target['name'],
                                       after=state_text(read_state(reader, self.interface)))
            return outcome
        finally:
            if self.method == 'helper':
                reader.release()
                if not self.fault.check_mode:
                    for helper in helpers:
                        self.runtime.remove_helper(helper['Id'])
