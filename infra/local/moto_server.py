"""A local DynamoDB: moto's server app, served single-threaded.

The stock `moto_server` is threaded, and two conditional transactions racing on it can both
win. Serving one request at a time makes every request atomic, as DynamoDB's are.

Prints `listening <port>` once it accepts connections (use --port 0 for a free port).
Exits when its parent does, so a killed test run or gateway never leaves it behind.

Transactions roll back only what they touched (see `fast_transactions`): stock moto copies
every table a transaction names, which makes each transaction cost ~150 us per item and per
stream record, half a second at a few thousand items.
"""

import argparse
import copy
import os
import sys
import threading
import time

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server


def exit_with_parent() -> None:
    parent = os.getppid()

    def watch() -> None:
        # Reparenting (to init or a subreaper) is how an orphan learns its parent is gone.
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


class _TablesNotCopied:
    """Stands in for the `copy` module inside moto.dynamodb.models, whose transactions
    snapshot whole tables with `copy.deepcopy` to roll back: tables are returned as they are
    (so the rollback is a no-op), everything else is copied as before."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value, memo=None):
        if isinstance(value, self._table_type):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name):
        return getattr(copy, name)


def fast_transactions() -> None:
    """TransactWriteItems with the same outcome as stock moto, at a cost that does not grow
    with the table: before a transaction runs, the items it names (and the length of each
    table's stream) are saved; if it fails, exactly those are put back."""
    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    models.copy = _TablesNotCopied(Table)
    stock = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        saved = []  # (table, hash value, range value, deep copy of the item or None)
        streams = {}  # id(table) -> (table, number of stream records)
        for entry in transact_items if isinstance(transact_items, list) else []:
            try:
                _, op = next(iter(entry.items()))
                table = self.tables.get(op.get("TableName"))
                attrs = op.get("Key") or op.get("Item") or {}
                hash_value = DynamoType(attrs[table.hash_key_attr])
                range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
            except (AttributeError, KeyError, StopIteration, TypeError):
                continue  # moto rejects it before writing anything for it
            if table.range_key_attr:
                current = table.items.get(hash_value, {}).get(range_value)
            else:
                current = table.items.get(hash_value)
            saved.append((table, hash_value, range_value, copy.deepcopy(current)))
            if table.stream_shard is not None:
                streams.setdefault(id(table), (table, len(table.stream_shard.items)))
        try:
            return stock(self, transact_items)
        except Exception:
            # Later snapshots of a key repeated in the transaction are newer: restore oldest last.
            for table, hash_value, range_value, item in reversed(saved):
                if range_value is None:
                    if item is None:
                        table.items.pop(hash_value, None)
                    else:
                        table.items[hash_value] = item
                else:
                    bucket = table.items[hash_value]
                    if item is None:
                        bucket.pop(range_value, None)
                        if not bucket:
                            del table.items[hash_value]
                    else:
                        bucket[range_value] = item
            for table, length in streams.values():
                del table.stream_shard.items[length:]
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    exit_with_parent()
    fast_transactions()
    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    app = DomainDispatcherApplication(create_backend_app)
    try:
        server = make_server(args.host, args.port, app, threaded=False)
    except OSError as err:
        sys.exit(f"moto: cannot listen on {args.host}:{args.port}: {err}")
    print(f"listening {server.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
