"""decode.loads: the API's JSON without managedFields, never anything else changed."""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from botfleet_operator.decode import loads, without_managed_fields

# As the API server writes them (field order of ObjectMeta: managedFields last), with the key forms
# of fieldsV1: f: fields, k: list keys (escaped JSON, with brackets and braces), v: set values, `.`.
MANAGED = [
    {"manager": "botfleet-operator", "operation": "Apply", "apiVersion": "apps/v1", "time": "2026-12-06T17:00:00Z",
     "fieldsType": "FieldsV1", "fieldsV1": {
         "f:metadata": {"f:annotations": {"f:botfleet.io/desired-hash": {}}, "f:labels": {".": {}, "f:app": {}},
                        "f:ownerReferences": {"k:{\"uid\":\"0b1c\"}": {}}},
         "f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"bot\"}": {
             ".": {}, "f:ports": {"k:{\"containerPort\":9100,\"protocol\":\"TCP\"}": {".": {}}},
             "f:args": {"v:[\"a\",\"]}\"]": {}}}}}}}}},
    {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
     "time": "2026-12-06T17:00:01Z", "fieldsType": "FieldsV1",
     "fieldsV1": {"f:status": {"f:conditions": {"k:{\"type\":\"Available\"}": {".": {}, "f:status": {}}}}},
     "subresource": "status"},
]


def deployment(managed: Any = MANAGED, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "a", "namespace": "ns", "uid": "0b1c", "resourceVersion": "7",
                         "labels": {"botfleet.io/bot": "a"}, "annotations": {"note": "x"}, **meta,
                         "managedFields": managed},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "bot", "args": ["]}", "[", "\\"]}]}}},
            "status": {"conditions": [{"type": "Available", "status": "True"}]}}


def without(obj: Any) -> Any:
    """What loads must give: the same object, with no metadata.managedFields anywhere."""
    obj = copy.deepcopy(obj)
    for o in obj.get("items", [obj.get("object", obj)]):
        o.get("metadata", {}).pop("managedFields", None)
    return obj


def test_a_watch_event_loses_only_its_managed_fields() -> None:
    event = {"type": "MODIFIED", "object": deployment()}
    raw = json.dumps(event, separators=(",", ":")).encode()
    assert b"managedFields" not in without_managed_fields(raw)
    assert loads(raw) == without(event)


def test_every_item_of_a_list_answer_and_the_comma_on_either_side() -> None:
    first = {"kind": "ConfigMap", "metadata": {"managedFields": MANAGED, "name": "first"}, "data": {"k": "v"}}
    only = {"kind": "ConfigMap", "metadata": {"managedFields": []}}
    page = {"kind": "List", "metadata": {"resourceVersion": "9"}, "items": [deployment(), first, only, deployment()]}
    raw = json.dumps(page, separators=(",", ":")).encode()
    assert loads(raw) == without(page)
    assert loads(raw)["items"][2]["metadata"] == {}


def test_strings_that_look_like_structure_are_left_alone() -> None:
    # A manager name ending in `]},`, escaped quotes and backslashes inside fieldsV1 keys, and text
    # naming managedFields in an annotation (inside a string its quotes are escaped).
    managed = [{"manager": "x]},", "operation": "Update", "fieldsV1": {"f:a\\\"]": {}, "k:{\"v\":[\"]\"]}": {}}},
               {"manager": "\u00e9\\\"]", "operation": "Apply", "fieldsV1": {}}]
    obj = deployment(managed, annotations={"doc": '{"metadata":{"managedFields":[1,2]}}'})
    for dumps in (lambda o: json.dumps(o, separators=(",", ":")).encode(), orjson.dumps):
        raw = dumps(obj)
        assert loads(raw) == without(obj)
        assert loads(raw)["metadata"]["annotations"]["doc"] == '{"metadata":{"managedFields":[1,2]}}'


def test_anything_it_cannot_cut_is_decoded_whole() -> None:
    # An array inside an entry (not what the API writes today): the cut would not decode, so the
    # object comes back whole rather than wrong.
    obj = deployment([{"manager": "m", "fieldsV1": {"f:x": {}}, "future": [1, [2]]}])
    raw = json.dumps(obj, separators=(",", ":")).encode()
    assert loads(raw) == obj
    # JSON not written as the API server writes it (compact) is decoded whole as well.
    spaced = json.dumps(deployment()).encode()
    assert loads(spaced) == deployment()


def test_unterminated_json_is_still_an_error() -> None:
    import pytest

    with pytest.raises(orjson.JSONDecodeError):
        loads(b'{"metadata":{"managedFields":[{"manager":"m"}')
    assert loads(b'{"metadata":{"name":"a"}}') == {"metadata": {"name": "a"}}


_text = st.text(alphabet=st.sampled_from(list('ab]}[{,":\\\u00e9 \n')), max_size=12)
_fields = st.recursive(st.just({}), lambda inner: st.dictionaries(_text, inner, max_size=3), max_leaves=12)
_entry = st.fixed_dictionaries({"manager": _text, "operation": st.sampled_from(["Apply", "Update"]),
                                "fieldsV1": _fields}, optional={"subresource": _text})


@settings(max_examples=300, deadline=None)
@given(managed=st.lists(_entry, max_size=3), labels=st.dictionaries(_text, _text, max_size=3),
       ascii_only=st.booleans())
def test_any_managed_fields_of_the_api_form_are_cut_exactly(managed: list[Any], labels: dict[str, str],
                                                             ascii_only: bool) -> None:
    obj = deployment(managed, labels=labels)
    raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=ascii_only).encode()
    assert without_managed_fields(raw) != raw
    assert loads(raw) == without(obj)
