"""verify_rows() hashes through its own format string for speed: it must accept exactly the
chains entry_hash() builds and name the first entry of any that differ."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fundapp.compliance.ledger import GENESIS_HASH, entry_hash, verify_rows

text = st.text(max_size=30)
entry = st.tuples(text, text, text, text, text, text)  # recorded_at actor action type id payload


def chain(fields: list[tuple[str, ...]]) -> list[tuple]:
    rows, prev = [], GENESIS_HASH
    for seq, (recorded_at, actor, action, subject_type, subject_id, payload) in enumerate(
            fields, start=1):
        digest = entry_hash(seq, recorded_at, actor, action, subject_type, subject_id, payload,
                            prev)
        rows.append((seq, recorded_at, actor, action, subject_type, subject_id, payload, prev,
                     digest))
        prev = digest
    return rows


@settings(max_examples=200, deadline=None)
@given(fields=st.lists(entry, min_size=1, max_size=6), data=st.data())
def test_verify_rows_accepts_entry_hash_chains_and_names_a_changed_entry(fields, data):
    rows = chain(fields)
    result = verify_rows(rows)
    assert result.ok and result.count == len(rows) and result.last_hash == rows[-1][-1]

    index = data.draw(st.integers(min_value=0, max_value=len(rows) - 1))
    column = data.draw(st.integers(min_value=1, max_value=6))
    changed = list(rows[index])
    changed[column] = changed[column] + "x"
    rows[index] = tuple(changed)
    broken = verify_rows(rows)
    assert not broken.ok and broken.problem.seq == index + 1 and broken.count == index
