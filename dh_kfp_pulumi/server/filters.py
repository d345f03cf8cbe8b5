"""KFP list options: `filter` JSON, `sort_by`, `page_size` and opaque `page_token`, as SQL.

The rules follow the real server: predicates are AND-ed; operations by name or number; value
keys in snake or lowerCamel; only the listed keys of each resource may be filtered or sorted on;
`page_size` defaults to 20 (0 or unset), max 200, negative is an error; the default order is
`created_at` ascending; pagination is keyset-based and the token carries the query it belongs
to, so a later page is consistent with the first one; a `filter` or `sort_by` sent with a
token must be the token's own (400 otherwise, as on KFP).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from dh_kfp_pulumi.server.wire import invalid, parse_ts

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 200
TOKEN_MISMATCH = ("page token does not match the supplied sort by and/or filtering criteria. "
                  "Either specify the same criteria or leave the latter empty if page token is "
                  "specified.")

_OPERATIONS = {
    "EQUALS": "=", "NOT_EQUALS": "!=", "GREATER_THAN": ">", "GREATER_THAN_EQUALS": ">=",
    "LESS_THAN": "<", "LESS_THAN_EQUALS": "<=", "IN": "IN", "IS_SUBSTRING": "LIKE",
}
_OPERATION_NUMBERS = {1: "EQUALS", 2: "NOT_EQUALS", 3: "GREATER_THAN", 5: "GREATER_THAN_EQUALS",
                      6: "LESS_THAN", 7: "LESS_THAN_EQUALS", 8: "IN", 9: "IS_SUBSTRING"}
_VALUE_KEYS = ("int_value", "long_value", "string_value", "timestamp_value",
               "int_values", "long_values", "string_values")
_CAMEL = {"intValue": "int_value", "longValue": "long_value", "stringValue": "string_value",
          "timestampValue": "timestamp_value", "intValues": "int_values",
          "longValues": "long_values", "stringValues": "string_values"}


@dataclass(frozen=True)
class Resource:
    """A listable table: API key -> SQL column (v1 aliases included)."""

    table: str
    columns: dict[str, str]
    tags_column: str | None = None  # pipelines accept `tags.<k>` EQUALS predicates


@dataclass
class Query:
    resource: Resource
    where: str  # SQL condition (without WHERE), "1" when empty
    params: list[Any]
    order_column: str
    desc: bool
    page_size: int
    cursor: tuple[Any, int] | None  # (last sort value, last seq) of the previous page
    token_state: dict[str, Any]  # what the next token must carry


def go_query_unescape(text: str) -> str:
    """Go's url.QueryUnescape, which KFP applies to `filter` after the gateway already did."""
    if re.search(r"%(?![0-9A-Fa-f]{2})", text):
        first = re.search(r"%.{0,2}", text)
        bad = first.group(0) if first else "%"
        raise invalid(f"Invalid filter: invalid URL escape {bad!r}")
    from urllib.parse import unquote_plus
    return unquote_plus(text)


def parse_filter(text: str, resource: Resource) -> tuple[str, list[Any], Any]:
    """A `filter` query value -> (SQL condition, params, normalized filter for the token)."""
    if not text:
        return "1", [], None
    return compile_filter(_decode_filter(go_query_unescape(text)), resource)


def _decode_filter(raw: str) -> Any:
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise invalid(f"Invalid filter: failed to parse {raw!r} as JSON: {exc}",
                      f"Invalid filter: {raw!r} is not a JSON v2beta1.Filter") from None
    if not isinstance(doc, dict):
        raise invalid(f"Invalid filter: expected a JSON object with 'predicates', got {raw!r}")
    return doc


def compile_filter(doc: dict[str, Any], resource: Resource) -> tuple[str, list[Any], Any]:
    unknown = set(doc) - {"predicates"}
    if unknown:
        raise invalid(f'Invalid filter: proto: unknown field "{sorted(unknown)[0]}"')
    predicates = doc.get("predicates") or []
    if not isinstance(predicates, list):
        raise invalid("Invalid filter: 'predicates' must be a list")
    clauses, params, normalized = [], [], []
    for i, pred in enumerate(predicates):
        clause, values, norm = _predicate(pred, i, resource)
        clauses.append(clause)
        params.extend(values)
        normalized.append(norm)
    return (" AND ".join(clauses) or "1"), params, normalized


def _predicate(pred: Any, index: int, resource: Resource) -> tuple[str, list[Any], dict[str, Any]]:
    where = f"predicates[{index}]"
    if not isinstance(pred, dict):
        raise invalid(f"Invalid filter: {where} must be an object")
    pred = {_CAMEL.get(k, k): v for k, v in pred.items()}
    unknown = set(pred) - {"operation", "key", *_VALUE_KEYS}
    if unknown:
        raise invalid(f'Invalid filter: proto: unknown field "{sorted(unknown)[0]}" in {where}')
    op = pred.get("operation", 0)
    if isinstance(op, int) and not isinstance(op, bool):
        op = _OPERATION_NUMBERS.get(op, op)
    if op not in _OPERATIONS:
        raise invalid(f"Invalid filter: {where}.operation {pred.get('operation')!r} is not one of "
                      f"{', '.join(_OPERATIONS)} (or their numbers 1-3, 5-9)")
    key = pred.get("key")
    if not isinstance(key, str) or not key:
        raise invalid(f"Invalid filter: {where}.key is empty")
    present = [k for k in _VALUE_KEYS if k in pred]
    if len(present) != 1:
        raise invalid(f"Invalid filter: {where} needs exactly one value field "
                      f"({', '.join(_VALUE_KEYS)}), got {present or 'none'}")
    kind = present[0]
    value = _value(kind, pred[kind], f"{where}.{kind}")
    norm = {"operation": op, "key": key, kind: pred[kind]}
    if key.startswith("tags.") and resource.tags_column:
        if op != "EQUALS" or kind != "string_value":
            raise invalid(f"Invalid filter: {where}: tags can only be filtered with EQUALS and a "
                          "string_value")
        return f"json_extract({resource.tags_column}, ?) = ?", [f'$."{key[5:]}"', value], norm
    column = resource.columns.get(key)
    if column is None:
        raise invalid(f"Invalid filter: no support for filtering on unrecognized field {key!r} "
                      f"(valid keys: {', '.join(sorted(resource.columns))})")
    is_list = kind.endswith("_values")
    if op == "IN":
        if not is_list:
            raise invalid(f"Invalid filter: {where}: IN needs int_values, long_values or "
                          "string_values")
        if not value:
            return "0", [], norm
        return f"{column} IN ({', '.join('?' * len(value))})", list(value), norm
    if is_list:
        raise invalid(f"Invalid filter: {where}: {op} takes a single value, not {kind}")
    if op == "IS_SUBSTRING":
        if kind != "string_value":
            raise invalid(f"Invalid filter: {where}: IS_SUBSTRING needs a string_value")
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"{column} LIKE ? ESCAPE '\\'", [f"%{escaped}%"], norm
    return f"{column} {_OPERATIONS[op]} ?", [value], norm


def _value(kind: str, value: Any, where: str) -> Any:
    def as_int(v: Any) -> int:
        if isinstance(v, bool) or not (isinstance(v, int) or (isinstance(v, str) and
                                                              re.fullmatch(r"-?\d+", v))):
            raise invalid(f"Invalid filter: {where} must be an integer, got {v!r}")
        return int(v)

    if kind in ("int_value", "long_value"):
        return as_int(value)
    if kind == "string_value":
        if not isinstance(value, str):
            raise invalid(f"Invalid filter: {where} must be a string, got {value!r}")
        return value
    if kind == "timestamp_value":
        return parse_ts(value, where)
    if not isinstance(value, dict) or set(value) - {"values"}:
        raise invalid(f"Invalid filter: {where} must be {{\"values\": [...]}}")
    items = value.get("values") or []
    if not isinstance(items, list):
        raise invalid(f"Invalid filter: {where}.values must be a list")
    if kind == "string_values":
        if not all(isinstance(v, str) for v in items):
            raise invalid(f"Invalid filter: {where}.values must be strings")
        return items
    return [as_int(v) for v in items]


def parse_sort(text: str, resource: Resource) -> tuple[str, bool, str]:
    """`"field"`, `"field asc"` or `"field desc"` -> (column, descending, api key)."""
    words = text.split()
    if not words:
        return resource.columns["created_at"], False, "created_at"
    if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
        raise invalid(f"Invalid sorting field: {text!r}: expected \"<field>\", \"<field> asc\" or "
                      "\"<field> desc\"")
    column = resource.columns.get(words[0])
    if column is None:
        raise invalid(f"Invalid sorting field: {words[0]!r} (valid keys: "
                      f"{', '.join(sorted(resource.columns))})")
    return column, len(words) == 2 and words[1].lower() == "desc", words[0]


def parse_page_size(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_PAGE_SIZE
    try:
        size = int(text)
    except ValueError:
        raise invalid(f"Invalid page_size {text!r}: expected an integer") from None
    if size < 0:
        raise invalid(f"Invalid page size: {size}. It must be a non-negative integer",
                      f"The page size should be greater than 0. Got {size}")
    if size == 0:
        return DEFAULT_PAGE_SIZE
    return min(size, MAX_PAGE_SIZE)


def build_query(resource: Resource, *, filter_text: str = "", sort_by: str = "",
                page_size: str | None = None, page_token: str = "") -> Query:
    """List options -> a Query. With a token, the token's own filter and order are used."""
    size = parse_page_size(page_size)
    if page_token:
        state = _decode_token(page_token)
        where, params, norm = compile_filter({"predicates": state.get("f") or []}, resource)
        column, desc, sort_key = parse_sort(f"{state['s']} {'desc' if state['d'] else 'asc'}",
                                            resource)
        cursor = (state["v"], int(state["k"]))
        if sort_by or filter_text:  # KFP: they must be the token's own (or left empty)
            _, _, asked_norm = parse_filter(filter_text, resource)
            asked_column, asked_desc, _ = parse_sort(sort_by, resource)
            if (asked_column, asked_desc, asked_norm or []) != (column, desc, norm or []):
                raise invalid(f"Failed to create list options: Invalid input error: "
                              f"{TOKEN_MISMATCH}", TOKEN_MISMATCH)
    else:
        where, params, norm = parse_filter(filter_text, resource)
        column, desc, sort_key = parse_sort(sort_by, resource)
        cursor = None
    return Query(resource=resource, where=where, params=params, order_column=column, desc=desc, page_size=size,
                 cursor=cursor, token_state={"s": sort_key, "d": desc, "f": norm})


def next_token(query: Query, last_value: Any, last_seq: int) -> str:
    state = dict(query.token_state, v=last_value, k=last_seq)
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


def _decode_token(token: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
        if not isinstance(state, dict) or not {"s", "d", "v", "k"} <= set(state):
            raise ValueError("missing fields")
        return state
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid(f"Invalid page token {token!r}: it was not returned by this server as "
                      "next_page_token", "Invalid page token") from None


def select(conn: Any, query: Query, *, extra_where: str = "1",
           extra_params: list[Any] | None = None) -> tuple[list[Any], int, str | None]:
    """Run the query on its resource table: (rows of one page, total_size, next_page_token)."""
    table = query.resource.table
    base_where = f"({query.where}) AND ({extra_where})"
    base_params = [*query.params, *(extra_params or [])]
    total = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {base_where}",
                         base_params).fetchone()[0]
    col, cmp = query.order_column, (">" if not query.desc else "<")
    page_where, page_params = base_where, list(base_params)
    if query.cursor is not None:
        value, seq = query.cursor
        page_where += f" AND ({col} {cmp} ? OR ({col} = ? AND seq {cmp} ?))"
        page_params += [value, value, seq]
    direction = "DESC" if query.desc else "ASC"
    rows = conn.execute(
        f"SELECT *, {col} AS _sort_value FROM {table} WHERE {page_where} "
        f"ORDER BY {col} {direction}, seq {direction} LIMIT ?",
        [*page_params, query.page_size + 1]).fetchall()
    token = None
    if len(rows) > query.page_size:
        rows = rows[:query.page_size]
        token = next_token(query, rows[-1]["_sort_value"], rows[-1]["seq"])
    return rows, total, token
