"""Starts moto's server (the AWS emulator the tests use), with one fix.

moto backs up a table with copy.deepcopy before a TransactWriteItems call
so it can roll back on failure - once per item in the transaction, not once
per table. A 100-write transaction then copies the same table 100 times,
and time and memory grow with the square of the data: a few thousand
events take minutes and gigabytes. This launcher makes the backup once per
table and call (same rollback semantics) and otherwise runs moto unchanged.
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

if __name__ == "__main__":
    sys.exit(main())
