"""The hand-spelt canonical form that entry_hash() hashes is byte for byte canonical_json()."""

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from fundapp.compliance.ledger import canonical_json, entry_hash

text = st.text(max_size=40)


@given(seq=st.integers(min_value=1, max_value=10**12), recorded_at=text, actor=text, action=text,
       subject_type=text, subject_id=text, payload=text, prev_hash=text)
def test_entry_hash_is_sha256_of_canonical_json(**fields):
    expected = hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()
    assert entry_hash(**fields) == expected


def test_chinese_text_is_hashed_as_utf8_not_escaped():
    fields = dict(seq=1, recorded_at="2026-01-01T00:00:00.000000Z", actor="王经理",
                  action="grant.signed", subject_type="grant", subject_id="7",
                  payload='{"company":"示例科技"}', prev_hash="0" * 64)
    assert "示例科技" in canonical_json(fields)
    assert entry_hash(**fields) == hashlib.sha256(canonical_json(fields).encode()).hexdigest()
