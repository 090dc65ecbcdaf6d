"""The one DynamoDB item codec round-trips what the stores write."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service import dynamo

_values = st.recursive(
    st.one_of(st.text(), st.integers(-(10**30), 10**30), st.booleans(), st.binary()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(item=st.dictionaries(st.text(min_size=1, max_size=8), _values, max_size=6))
def test_what_is_encoded_decodes_to_the_same(item):
    assert dynamo.decode(dynamo.encode(item)) == item


def test_the_wire_form_is_dynamodbs():
    assert dynamo.encode({"pk": "a#b", "n": 12, "on": True, "l": ["x", 1], "gone": None}) == {
        "pk": {"S": "a#b"},
        "n": {"N": "12"},
        "on": {"BOOL": True},
        "l": {"L": [{"S": "x"}, {"N": "1"}]},
    }


def test_sets_and_nulls_are_read():
    assert dynamo.decode({"s": {"SS": ["a"]}, "n": {"NS": ["1", "2"]}, "x": {"NULL": True}}) == {
        "s": {"a"},
        "n": {1, 2},
        "x": None,
    }


def test_floats_are_refused():
    with pytest.raises(TypeError, match="float"):
        dynamo.encode({"latitude": 19.4})
