from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.chaos.engineering.plugins.module_utils._selection import (
    HELPER_LABEL,
    PROTECTED_LABEL,
    SelectionError,
    require_targets,
    select_targets,
    validate_criteria,
)


def container(idx, name=None, **labels):
    return dict(id=hashlib.sha256(str(idx).encode()).hexdigest(), name=name or 'c%d' % idx, labels=labels)


FLEET = [
    container(0, 'web-1', app='web'),
    container(1, 'web-2', app='web'),
    container(2, 'web-3', app='web', canary='yes'),
    container(3, 'db-1', app='db'),
    container(4, 'db-2', app='db', **{PROTECTED_LABEL: 'true'}),
    container(5, 'helper', **{HELPER_LABEL: 'true', 'app': 'web'}),
]


def names(selection):
    return sorted(c['name'] for c in selection['selected'])


def test_no_selector_is_refused_without_allow_all():
    with pytest.raises(SelectionError, match='allow_all'):
        select_targets(FLEET, {})


def test_allow_all_still_skips_protected_and_helpers():
    sel = select_targets(FLEET, dict(allow_all=True))
    assert names(sel) == ['db-1', 'web-1', 'web-2', 'web-3']
    assert sel['protected'] == ['db-2', 'helper']


def test_names_match_name_full_id_and_short_id():
    short = FLEET[1]['id'][:12]
    sel = select_targets(FLEET, dict(names=['web-1', short, FLEET[3]['id'], 'nope']))
    assert names(sel) == ['db-1', 'web-1', 'web-2']
    assert sel['missing'] == ['nope']


def test_short_id_prefix_under_12_chars_is_not_a_match():
    sel = select_targets(FLEET, dict(names=[FLEET[1]['id'][:6]]))
    assert sel['selected'] == []


def test_pattern_is_searched_not_matched():
    assert names(select_targets(FLEET, dict(name_pattern='b-'))) == ['db-1', 'web-1', 'web-2', 'web-3']
    assert names(select_targets(FLEET, dict(name_pattern='^web-[12]$'))) == ['web-1', 'web-2']


def test_labels_all_must_match_and_exclusions_win():
    assert names(select_targets(FLEET, dict(labels=dict(app='web', canary='yes')))) == ['web-3']
    assert names(select_targets(FLEET, dict(labels=dict(app='web'), exclude_labels=dict(canary=None)))) == [
        'web-1', 'web-2']
    assert names(select_targets(FLEET, dict(labels=dict(canary='')))) == ['web-3']


def test_selectors_combine_with_and():
    sel = select_targets(FLEET, dict(name_pattern='1$', labels=dict(app='web')))
    assert names(sel) == ['web-1']


def test_protected_named_explicitly_is_still_skipped():
    sel = select_targets(FLEET, dict(names=['db-2']))
    assert sel['selected'] == [] and sel['protected'] == ['db-2']
    with pytest.raises(SelectionError, match='Protected or chaos helpers, never touched: db-2'):
        require_targets(sel, allow_no_targets=False)


def test_protected_annotation_counts_too():
    pod = dict(id='p1', name='pod-1', labels={}, annotations={PROTECTED_LABEL: 'True'})
    assert select_targets([pod], dict(allow_all=True))['selected'] == []


@pytest.mark.parametrize('value', ['y', 'T', ' yes ', 'on', '1'])
def test_protected_takes_ansible_words_for_true(value):
    pod = dict(id='p1', name='pod-1', labels={PROTECTED_LABEL: value})
    assert select_targets([pod], dict(allow_all=True))['protected'] == ['pod-1']


def test_empty_selection_message_and_allow_no_targets():
    sel = select_targets(FLEET, dict(names=['ghost']))
    with pytest.raises(SelectionError, match='No container matched.*ghost.*allow_no_targets'):
        require_targets(sel, allow_no_targets=False)
    require_targets(sel, allow_no_targets=True)


@pytest.mark.parametrize('criteria, message', [
    (dict(allow_all=True, count=0), 'count must be at least 1'),
    (dict(allow_all=True, percent=0), 'percent must be greater than 0'),
    (dict(allow_all=True, percent=101), 'at most 100'),
    (dict(allow_all=True, count=1, percent=5), 'mutually exclusive'),
    (dict(name_pattern='web-('), 'not a valid regular expression'),
])
def test_bad_criteria_are_clear(criteria, message):
    with pytest.raises(SelectionError, match=message):
        validate_criteria(criteria)


def test_percent_rounds_up():
    sel = select_targets(FLEET, dict(labels=dict(app='web'), percent=10, seed=1))
    assert len(sel['selected']) == 1
    sel = select_targets(FLEET, dict(labels=dict(app='web'), percent=50, seed=1))
    assert len(sel['selected']) == 2


def test_seed_is_reported_when_generated():
    sel = select_targets(FLEET, dict(allow_all=True, count=2))
    again = select_targets(FLEET, dict(allow_all=True, count=2, seed=sel['seed']))
    assert names(sel) == names(again)


# --- properties -----------------------------------------------------------------------------------

label_values = st.sampled_from(['a', 'b', 'true', 'false'])
candidate_lists = st.lists(
    st.fixed_dictionaries(dict(
        name=st.text(alphabet='abcxyz-0123', min_size=1, max_size=8),
        labels=st.dictionaries(st.sampled_from(['app', 'tier', PROTECTED_LABEL, HELPER_LABEL, 'skip']),
                               label_values, max_size=4),
    )),
    max_size=30,
).map(lambda items: [dict(item, id='%064x' % (i + 1)) for i, item in enumerate(items)])


@st.composite
def criteria_strategy(draw):
    criteria = dict(allow_all=True)
    if draw(st.booleans()):
        criteria['labels'] = draw(st.dictionaries(st.sampled_from(['app', 'tier']), label_values, max_size=2))
    if draw(st.booleans()):
        criteria['exclude_labels'] = draw(st.dictionaries(st.sampled_from(['skip', 'tier']), label_values,
                                                          min_size=1, max_size=2))
    if draw(st.booleans()):
        criteria['name_pattern'] = draw(st.sampled_from(['a', '^x', '[0-3]$', '-']))
    mode = draw(st.sampled_from(['all', 'count', 'percent']))
    if mode == 'count':
        criteria['count'] = draw(st.integers(min_value=1, max_value=40))
    elif mode == 'percent':
        criteria['percent'] = draw(st.floats(min_value=0.01, max_value=100))
    criteria['seed'] = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=2 ** 31)))
    return criteria


def _is_protected(candidate):
    return any(str(candidate['labels'].get(key, '')).lower() == 'true' for key in (PROTECTED_LABEL, HELPER_LABEL))


@settings(max_examples=300, deadline=None)
@given(candidate_lists, criteria_strategy())
def test_never_selects_protected_or_excluded(candidates, criteria):
    sel = select_targets(candidates, criteria)
    for chosen in sel['selected']:
        assert not _is_protected(chosen)
        for key, value in (criteria.get('exclude_labels') or {}).items():
            assert chosen['labels'].get(key) != value
        for key, value in (criteria.get('labels') or {}).items():
            assert chosen['labels'].get(key) == value


@settings(max_examples=300, deadline=None)
@given(candidate_lists, criteria_strategy())
def test_count_and_percent_bounds_hold(candidates, criteria):
    sel = select_targets(candidates, criteria)
    chosen = len(sel['selected'])
    assert chosen <= sel['matched'] <= len(candidates)
    assert len(set(c['id'] for c in sel['selected'])) == chosen
    if 'count' in criteria:
        assert chosen == min(criteria['count'], sel['matched'])
    elif 'percent' in criteria:
        assert chosen == min(sel['matched'], math.ceil(sel['matched'] * criteria['percent'] / 100.0))
        if sel['matched']:
            assert chosen >= 1
    else:
        assert chosen == sel['matched']


@settings(max_examples=200, deadline=None)
@given(candidate_lists, criteria_strategy(), st.randoms(use_true_random=False))
def test_seed_reproducible_whatever_the_listing_order(candidates, criteria, shuffler):
    first = select_targets(candidates, criteria)
    shuffled = list(candidates)
    shuffler.shuffle(shuffled)
    replay = dict(criteria, seed=first['seed'])
    second = select_targets(shuffled, replay)
    assert [c['id'] for c in first['selected']] == [c['id'] for c in second['selected']]
