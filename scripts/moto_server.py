"""Starts moto's server (the AWS emulator the tests use), with three fixes
and, on tables that ask for them, DynamoDB's limits.

moto backs up a table with copy.deepcopy before a TransactWriteItems call
so it can roll back on failure - once per item in the transaction, not once
per table. A 100-write transaction then copies the same table 100 times,
and time and memory grow with the square of the data: a few thousand
events take minutes and gigabytes. This launcher makes the backup once per
table and call (same rollback semantics).

moto serves requests on threads and does not isolate them: a transaction
checks its conditions, then applies its writes one by one, and rolls back
by restoring a copy of the whole table, while other requests run. Two
transactions that both put one membership item "if absent" can then both
pass (DynamoDB lets one fail), a reader sees half a transaction, and a
rollback can restore away another request's committed writes. A client
killed mid-request (the kill -9 tests) leaves its request running inside
moto, overlapping the restarted client's. DynamoDB serializes
transactions with the writes and reads they touch; this launcher gets the
same by running every DynamoDB item operation under one lock (moto holds
the GIL throughout anyway).

moto ignores TransactWriteItems' ClientRequestToken. DynamoDB keeps a used
token for ten minutes: the same request under it again succeeds without
being applied again (an SDK retry after a lost response), a request with
other parameters under it fails with IdempotentParameterMismatchException,
and one sent while the first is still running with
TransactionInProgressException. This launcher keeps tokens the same way, so the tests see both
(only for requests that succeeded: a cancelled transaction applied nothing,
and sending it again runs it again).

DynamoDB's limits, which moto does not enforce, apply to a table whose tags
ask for them (other tables behave as moto does):
- `emulator:transaction-hold-ms`: a TransactWriteItems call holds the items
  it wrote for this long before it answers, as DynamoDB's two-phase commit
  holds them while it runs. A transaction touching a held item is
  cancelled with the reason TransactionConflict (the others None), and a
  PutItem/UpdateItem/DeleteItem of one fails with
  TransactionConflictException, as DynamoDB reports both.
- `emulator:partition-wcu`: write units per second each partition key takes
  (DynamoDB's is 1,000; tests scale it down). Each key's bucket holds that
  many units and refills them over `emulator:refill-seconds` (default 1,
  DynamoDB's: one second's worth; a test may slow it down so that its
  writes exceed the bucket however slowly the emulator answers); a write
  costs its item's size in started kilobytes (of
  the item as sent, or as stored for an update or delete), twice inside a
  transaction. A write the bucket cannot pay for fails with
  ProvisionedThroughputExceededException, or cancels its transaction with
  the reason ThrottlingError.
`EMULATOR_DEFAULT_TAGS` (e.g. `emulator:transaction-hold-ms=15`) gives every
table those limits unless its own tags say otherwise.
Every table gets the value limits moto lacks: at most 32 levels of nested
lists and maps, and numbers of at most 38 significant digits
(ValidationException). moto already refuses items over 400 KB, keys over
2,048 / 1,024 bytes and numbers out of range.
Otherwise moto runs unchanged.
"""

import collections
import copy
import hashlib
import json
import os
import sys
import threading
import time

import math

import moto.dynamodb.exceptions as dynamodb_exceptions
import moto.dynamodb.models as dynamodb_models
import moto.dynamodb.responses as dynamodb_responses
from moto.server import main

_state = threading.local()


class _CopyOncePerTransaction:
    """Stands in for the `copy` module inside moto's DynamoDB models."""

    @staticmethod
    def deepcopy(obj, memo=None):
        cache = getattr(_state, "tables", None)
        if cache is not None and isinstance(obj, dynamodb_models.Table):
            if id(obj) not in cache:
                cache[id(obj)] = copy.deepcopy(obj, memo)
            return cache[id(obj)]
        return copy.deepcopy(obj, memo)

    def __getattr__(self, name):
        return getattr(copy, name)


_original_transact = dynamodb_models.DynamoDBBackend.transact_write_items


def _transact_write_items(self, *args, **kwargs):
    _state.tables = {}
    try:
        return _original_transact(self, *args, **kwargs)
    finally:
        _state.tables = None


dynamodb_models.copy = _CopyOncePerTransaction()
dynamodb_models.DynamoDBBackend.transact_write_items = _transact_write_items

_one_at_a_time = threading.RLock()


def _serialized(method):
    def run(self, *args, **kwargs):
        with _one_at_a_time:
            return method(self, *args, **kwargs)

    run.__name__ = method.__name__
    return run


for _name in (
    "transact_write_items",
    "transact_get_items",
    "put_item",
    "update_item",
    "delete_item",
    "batch_write_item",
    "get_item",
    "batch_get_item",
    "query",
    "scan",
):
    setattr(
        dynamodb_models.DynamoDBBackend,
        _name,
        _serialized(getattr(dynamodb_models.DynamoDBBackend, _name)),
    )

# --- DynamoDB's limits, on tables that ask for them ---------------------------

HOLD_TAG = "emulator:transaction-hold-ms"
WCU_TAG = "emulator:partition-wcu"
REFILL_TAG = "emulator:refill-seconds"
MAX_NESTING = 32
MAX_DIGITS = 38


class TransactionConflict(dynamodb_exceptions.DynamodbException):
    error_type = dynamodb_exceptions.ERROR_TYPE_PREFIX + "TransactionConflictException"

    def __init__(self):
        super().__init__(self.error_type, message="Transaction is ongoing for the item")


class ThroughputExceeded(dynamodb_exceptions.DynamodbException):
    error_type = dynamodb_exceptions.ERROR_TYPE_PREFIX + "ProvisionedThroughputExceededException"

    def __init__(self):
        super().__init__(
            self.error_type,
            message="The level of configured provisioned throughput for the table was exceeded.",
        )


def _default_tags():
    """`EMULATOR_DEFAULT_TAGS` (`key=value,...`): limits for every table whose
    own tags do not say, so that a suite whose tables the code under test
    creates (the black-box suite's stacks) runs under them too."""
    pairs = (pair.split("=", 1) for pair in os.environ.get("EMULATOR_DEFAULT_TAGS", "").split(",") if "=" in pair)
    return {key.strip(): value.strip() for key, value in pairs}


DEFAULT_TAGS = _default_tags()


def _tag(backend, table_name, name):
    table = backend.tables.get(table_name)
    if table is None:
        return None
    value = DEFAULT_TAGS.get(name)
    for tag in getattr(table, "tags", None) or []:
        if tag.get("Key") == name:
            value = tag.get("Value")
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _key_of(backend, table_name, attrs):
    """The (table, hash key, range key) an item or key names, as text."""
    table = backend.get_table(table_name)
    hash_value = json.dumps(attrs.get(table.hash_key_attr), sort_keys=True)
    range_value = json.dumps(attrs.get(table.range_key_attr), sort_keys=True) if table.range_key_attr else None
    return (table_name, hash_value, range_value)


def _size_in_kb(backend, table_name, attrs, key):
    """Started kilobytes of the item as sent, or else as stored."""
    item = attrs
    if item is None:
        stored = backend.get_item(table_name, key)
        item = stored.to_json()["Attributes"] if stored is not None else key
    return max(1, math.ceil(len(json.dumps(item)) / 1024))


def _check_values(value, depth=0):
    """Refuses what DynamoDB refuses and moto stores: deep nesting, long numbers."""
    if not isinstance(value, dict):
        return
    for kind, inner in value.items():
        if kind in ("M", "L"):
            if depth + 1 > MAX_NESTING:
                raise dynamodb_exceptions.MockValidationException(
                    "Nesting Levels have exceeded supported limits"
                )
            children = inner.values() if kind == "M" else inner
            for child in children:
                _check_values(child, depth + 1)
        elif kind in ("N", "NS"):
            for number in [inner] if kind == "N" else inner:
                digits = number.lstrip("+-").lower().split("e")[0].replace(".", "").strip("0")
                if len(digits) > MAX_DIGITS:
                    raise dynamodb_exceptions.MockValidationException(
                        "Attempting to store more than 38 significant digits in a Number"
                    )


def _check_item(attrs):
    for value in (attrs or {}).values():
        _check_values(value)


# Items held by transactions in flight: (table, hash, range) -> holder.
_held = {}
# Write capacity per (table, hash key): (units left, when last refilled).
_buckets = {}
_inside = threading.local()


def _take_capacity(backend, table_name, key, units):
    """Whether the partition of `key` can pay `units()` now (and takes them)."""
    capacity = _tag(backend, table_name, WCU_TAG)
    if not capacity:
        return True
    units = units()
    refill = capacity / (_tag(backend, table_name, REFILL_TAG) or 1)
    partition = key[:2]
    now = time.monotonic()
    left, at = _buckets.get(partition, (capacity, now))
    left = min(capacity, left + (now - at) * refill)
    if left < units:
        _buckets[partition] = (left, now)
        return False
    _buckets[partition] = (left - units, now)
    return True


def _single_write(method, item_of, key_of_call):
    """PutItem/UpdateItem/DeleteItem, refused on a held item or an empty bucket."""

    def run(self, table_name, first, *args, **kwargs):
        if getattr(_inside, "transaction", False):
            return method(self, table_name, first, *args, **kwargs)
        with _one_at_a_time:
            item = item_of(first)
            _check_item(item)
            if item is None:
                _check_item(kwargs.get("expression_attribute_values"))
            key = _key_of(self, table_name, first)
            if key in _held:
                raise TransactionConflict()
            if not _take_capacity(
                self, table_name, key, lambda: _size_in_kb(self, table_name, item, key_of_call(first))
            ):
                raise ThroughputExceeded()
            return method(self, table_name, first, *args, **kwargs)

    run.__name__ = method.__name__
    return run


dynamodb_models.DynamoDBBackend.put_item = _single_write(
    dynamodb_models.DynamoDBBackend.put_item, lambda attrs: attrs, lambda attrs: attrs
)
dynamodb_models.DynamoDBBackend.update_item = _single_write(
    dynamodb_models.DynamoDBBackend.update_item, lambda key: None, lambda key: key
)
dynamodb_models.DynamoDBBackend.delete_item = _single_write(
    dynamodb_models.DynamoDBBackend.delete_item, lambda key: None, lambda key: key
)

_serialized_transaction = dynamodb_models.DynamoDBBackend.transact_write_items


def _transact_within_limits(self, transact_items):
    writes = []
    for entry in transact_items:
        op_type, op = next(iter(entry.items()))
        table_name = op.get("TableName")
        if table_name not in self.tables:
            return _serialized_transaction(self, transact_items)
        item = op.get("Item") if op_type == "Put" else None
        _check_item(item)
        _check_item(op.get("ExpressionAttributeValues"))
        key_attrs = item if item is not None else op.get("Key", {})
        key = _key_of(self, table_name, key_attrs)
        writes.append((op_type, table_name, key, item, key_attrs))
    hold = max([_tag(self, table, HOLD_TAG) or 0 for _, table, _, _, _ in writes] or [0]) / 1000
    with _one_at_a_time:
        conflicts = [key in _held for _, _, key, _, _ in writes]
        if any(conflicts):
            raise dynamodb_exceptions.TransactionCanceledException(
                [
                    ("TransactionConflict", "Transaction is ongoing for the item", None) if held else (None, None, None)
                    for held in conflicts
                ]
            )
        throttled = [
            op_type != "ConditionCheck"
            and not _take_capacity(self, table, key, lambda: 2 * _size_in_kb(self, table, item, key_attrs))
            for op_type, table, key, item, key_attrs in writes
        ]
        if any(throttled):
            raise dynamodb_exceptions.TransactionCanceledException(
                [
                    ("ThrottlingError", "Throughput exceeds the current capacity of your table or index.", None)
                    if refused
                    else (None, None, None)
                    for refused in throttled
                ]
            )
        _inside.transaction = True
        try:
            answer = _serialized_transaction(self, transact_items)
        finally:
            _inside.transaction = False
        if hold <= 0:
            return answer
        holder = object()
        for _, _, key, _, _ in writes:
            _held[key] = holder
    try:
        time.sleep(hold)
    finally:
        with _one_at_a_time:
            for _, _, key, _, _ in writes:
                if _held.get(key) is holder:
                    del _held[key]
    return answer


dynamodb_models.DynamoDBBackend.transact_write_items = _transact_within_limits


# How long DynamoDB remembers a client request token.
TOKEN_SECONDS = 600


class TransactionInProgress(dynamodb_exceptions.DynamodbException):
    error_type = dynamodb_exceptions.ERROR_TYPE_PREFIX + "TransactionInProgressException"

    def __init__(self):
        super().__init__(self.error_type, message="The transaction with the given request token is already in progress.")


class IdempotentParameterMismatch(dynamodb_exceptions.DynamodbException):
    error_type = dynamodb_exceptions.ERROR_TYPE_PREFIX + "IdempotentParameterMismatchException"

    def __init__(self):
        super().__init__(
            self.error_type,
            message="The request uses the same client token as a previous, but non-identical request.",
        )


# token -> (a digest of the request's parameters but the token, when it
# succeeded, its answer), oldest first: expired ones leave from the front.
_tokens = collections.OrderedDict()
# Tokens of requests still running.
_running_tokens = set()
_handle_transaction = dynamodb_responses.DynamoHandler.transact_write_items


def _transact_with_token(self):
    token = self.body.get("ClientRequestToken")
    if token is None:
        return _handle_transaction(self)
    parameters = {k: v for k, v in self.body.items() if k != "ClientRequestToken"}
    request = hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()
    with _one_at_a_time:
        now = time.monotonic()
        while _tokens and now - next(iter(_tokens.values()))[1] > TOKEN_SECONDS:
            _tokens.popitem(last=False)
        if token in _tokens:
            used_for, _, answer = _tokens[token]
            if used_for != request:
                raise IdempotentParameterMismatch()
            return answer
        if token in _running_tokens:
            raise TransactionInProgress()
        _running_tokens.add(token)
    # Not under the lock: a transaction that holds its items sleeps in here.
    try:
        answer = _handle_transaction(self)
        with _one_at_a_time:
            _tokens[token] = (request, time.monotonic(), answer)
        return answer
    finally:
        with _one_at_a_time:
            _running_tokens.discard(token)


dynamodb_responses.DynamoHandler.transact_write_items = _transact_with_token

if __name__ == "__main__":
    sys.exit(main())
