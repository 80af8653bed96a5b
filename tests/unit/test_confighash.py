from rollout_operator.confighash import combined_hash, content_hash


def test_hash_ignores_key_order_and_metadata():
    a = {"metadata": {"name": "x", "labels": {"a": "1"}}, "data": {"a": "1", "b": "2"}}
    b = {"metadata": {"name": "x", "resourceVersion": "9"}, "data": {"b": "2", "a": "1"}}
    assert content_hash(a) == content_hash(b)


def test_hash_covers_data_and_binary_data():
    base = {"data": {"a": "1"}}
    assert content_hash(base) != content_hash({"data": {"a": "2"}})
    assert content_hash(base) != content_hash({**base, "binaryData": {"a": "MQ=="}})
    # the same bytes under data or under binaryData are different content
    assert content_hash({"data": {"k": "v"}}) != content_hash({"binaryData": {"k": "v"}})


def test_empty_and_missing_data_are_equal():
    assert content_hash({}) == content_hash({"data": {}, "binaryData": None})


def test_combined_hash_is_order_independent_and_sensitive():
    one = combined_hash({"ConfigMap/a": "1", "Secret/b": "2"})
    assert one == combined_hash({"Secret/b": "2", "ConfigMap/a": "1"})
    assert one != combined_hash({"ConfigMap/a": "1", "Secret/b": "3"})
    assert one != combined_hash({"ConfigMap/b": "1", "Secret/a": "2"})
