"""The same reservation WITHOUT a transaction, as a bug would have it: the stock check and
the update are separate statements, each committed on its own, and `reserved` is
written from the value read earlier. Concurrent calls overwrite each other's
reservations and oversell; the scenario's invariants catch it."""

from app import conn, pg8000  # noqa: F401  (the same connection and token)


def handler(event, context):
    item_id, qty = int(event["item_id"]), int(event["qty"])
    c = conn()
    rows = c.run("SELECT stock, reserved FROM items WHERE id = :id", id=item_id)
    if not rows:
        return {"error": f"no item {item_id}", "retries": 0}
    stock, reserved = rows[0]
    if stock - reserved < qty:
        return {"error": "out of stock", "retries": 0}
    c.run("UPDATE items SET reserved = :r WHERE id = :id", r=reserved + qty, id=item_id)
    c.run("INSERT INTO reservations (item_id, qty) VALUES (:id, :qty)", id=item_id, qty=qty)
    return {"reserved": qty, "retries": 0}
