"""Starts moto's server (the AWS emulator the tests use), with two fixes.

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
the GIL throughout anyway). Otherwise moto runs unchanged.
"""

import copy
import sys
import threading

import moto.dynamodb.models as dynamodb_models
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

if __name__ == "__main__":
    sys.exit(main())
