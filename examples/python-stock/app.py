"""Stock reservations on Aurora DSQL: reserve(item_id, qty) must never oversell.

One transaction per call: read the item's stock and what is reserved, refuse when too
little is left, else raise `reserved` and record the reservation. DSQL adjudicates
conflicts at COMMIT (SQLSTATE 40001, OC000): the call retries the whole transaction and
reports how many times it did. Answers {"reserved": n, "left": n, "retries": n} or, for
a refusal, {"error": "...", "retries": n} (no function error), like the workshop's.
"""

import os
import ssl

import boto3
import pg8000.native

REGION = os.environ.get("AWS_REGION", "us-east-1")
HOST = os.environ["CLUSTER_ENDPOINT"]
USER = os.environ.get("DB_USER", "myapp")
MAX_RETRIES = int(os.environ.get("MAX_RETRIES", "50"))

_connection = None


def connect():
    """A connection as the application role, with an IAM token as its password."""
    token = boto3.client("dsql", region_name=REGION).generate_db_connect_auth_token(HOST, REGION)
    # PGSSLROOTCERT names a CA to trust besides the system's (the local stack's); on AWS
    # it is unset and the system's roots verify the cluster.
    context = ssl.create_default_context(cafile=os.environ.get("PGSSLROOTCERT"))
    return pg8000.native.Connection(
        USER, host=HOST, port=5432, database="postgres", password=token, ssl_context=context
    )


def conn():
    global _connection
    if _connection is None:
        _connection = connect()
    return _connection


def reserve(c, item_id, qty):
    """One attempt; returns the answer, or raises the database's error."""
    c.run("BEGIN")
    try:
        rows = c.run("SELECT stock, reserved FROM items WHERE id = :id FOR UPDATE", id=item_id)
        if not rows:
            c.run("ROLLBACK")
            return {"error": f"no item {item_id}"}
        stock, reserved = rows[0]
        if stock - reserved < qty:
            c.run("ROLLBACK")
            return {"error": "out of stock", "left": stock - reserved}
        c.run("UPDATE items SET reserved = reserved + :qty WHERE id = :id", qty=qty, id=item_id)
        c.run("INSERT INTO reservations (item_id, qty) VALUES (:id, :qty)", id=item_id, qty=qty)
        c.run("COMMIT")
        return {"reserved": qty, "left": stock - reserved - qty}
    except Exception:
        try:
            c.run("ROLLBACK")
        except Exception:
            pass
        raise


def is_conflict(error):
    return isinstance(error, pg8000.native.DatabaseError) and error.args and error.args[0].get("C") == "40001"


def handler(event, context):
    item_id, qty = int(event["item_id"]), int(event["qty"])
    if qty < 1:
        raise ValueError("qty must be at least 1")
    global _connection
    for retries in range(MAX_RETRIES + 1):
        try:
            answer = reserve(conn(), item_id, qty)
            answer["retries"] = retries
            return answer
        except pg8000.native.DatabaseError as e:
            if not is_conflict(e) or retries == MAX_RETRIES:
                raise
        except (pg8000.native.InterfaceError, OSError):
            _connection = None  # a broken connection: reconnect on the next attempt
            if retries == MAX_RETRIES:
                raise
    raise RuntimeError("unreachable")
