"""Drives authgate's SmartObject OData API with a third-party OData v4 client (python-odata), the way a report
or script would: it reads $metadata, follows @odata.nextLink, and creates, updates and deletes through the
entity classes it reflected. Run by tests/it/odata_client.rs against a gateway seeded with 2,500 customers
(Name 'Customer 0000'..'Customer 2499', Region North/South/East/West by i % 4, CreditLimit i, Active i even).

usage: client.py <service root> <user> <password>
"""
import json
import sys

import requests
from odata import ODataService

ROWS = 2500


def check(label, actual, expected):
    if actual != expected:
        raise SystemExit(f"{label}: expected {expected!r}, got {actual!r}")


def main():
    url, user, password = sys.argv[1:4]
    service = ODataService(url, reflect_entities=True, auth=requests.auth.HTTPBasicAuth(user, password),
                           quiet_progress=True)
    Customer = service.entities["Customer"]

    # List: every row, across server-driven pages.
    everyone = service.query(Customer).order_by(Customer.CustomerId.asc()).all()
    check("rows listed", len(everyone), ROWS)
    ids = [c.CustomerId for c in everyone]
    check("distinct ids in order", ids, sorted(set(ids)))
    check("names", sorted(c.Name for c in everyone), [f"Customer {i:04}" for i in range(ROWS)])

    # Filter and order.
    north = (service.query(Customer)
             .filter(Customer.Region == "North")
             .filter(Customer.CreditLimit >= 2400)
             .order_by(Customer.Name.desc())
             .all())
    expected = [f"Customer {i:04}" for i in range(ROWS - 1, 2399, -1) if i % 4 == 0]
    check("filtered, ordered", [c.Name for c in north], expected)

    # Functions.
    tens = service.query(Customer).filter(Customer.Name.endswith("10")).order_by(Customer.Name.asc()).all()
    check("endswith", [c.Name for c in tens], [f"Customer {i:04}" for i in range(ROWS) if i % 100 == 10])

    # Select: raw values of the chosen properties only.
    selected = (service.query(Customer)
                .select(Customer.Name, Customer.Region)
                .filter(Customer.Name.startswith("Customer 000"))
                .order_by(Customer.Name.asc())
                .all())
    check("selected rows", len(selected), 10)
    check("selected properties", sorted(k for k in selected[3] if not k.startswith("@")), ["Name", "Region"])
    check("selected value", selected[3]["Region"], "West")

    # Count, and client paging with $skip / $top.
    check("count", service.query(Customer).filter(Customer.Active == True).count(), ROWS // 2)  # noqa: E712
    page = service.query(Customer).order_by(Customer.CustomerId.asc()).offset(10).limit(5).all()
    check("skip/top", [c.CustomerId for c in page], ids[10:15])

    # Create, update, delete.
    created = Customer()
    created.Name = "Created by python-odata"
    created.Region = "Central"
    created.CreditLimit = 12.5
    service.save(created)
    new_id = created.CustomerId
    if not isinstance(new_id, int) or new_id <= ids[-1]:
        raise SystemExit(f"the service did not assign a new key: {new_id!r}")
    created.Region = "Updated"
    service.save(created)
    again = service.query(Customer).filter(Customer.CustomerId == new_id).first()
    check("updated", (again.Name, again.Region, float(again.CreditLimit)), ("Created by python-odata", "Updated", 12.5))
    service.delete(again)
    check("deleted", service.query(Customer).filter(Customer.CustomerId == new_id).count(), 0)

    print(json.dumps({"ok": True, "listed": len(everyone), "created": new_id}))


if __name__ == "__main__":
    main()
