"""Queries a REST-backed SmartObject (Invoice) through authgate's OData API with python-odata, authenticated with
a bearer token, as a report would: reflects $metadata, follows @odata.nextLink, filters, orders, limits, counts,
reads one entity. Run by tests/it/odata_rest.rs, which checks the printed JSON against the service's data.

usage: rest_client.py <service root> <bearer token>
"""
import json
import sys

import requests
from odata import ODataService


class Bearer(requests.auth.AuthBase):
    def __init__(self, token):
        self.token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


def main():
    url, token = sys.argv[1:3]
    service = ODataService(url, reflect_entities=True, auth=Bearer(token), quiet_progress=True)
    Invoice = service.entities["Invoice"]

    everything = service.query(Invoice).order_by(Invoice.Id.asc()).all()
    contoso = (service.query(Invoice)
               .filter(Invoice.Customer == "Contoso")
               .filter(Invoice.Total >= 200)
               .order_by(Invoice.Title.desc())
               .all())
    top = service.query(Invoice).order_by(Invoice.Total.desc()).limit(3).all()
    page = service.query(Invoice).order_by(Invoice.Id.asc()).offset(10).limit(5).all()
    unpaid = service.query(Invoice).filter(Invoice.Paid == False).count()  # noqa: E712
    one = service.query(Invoice).filter(Invoice.Id == 7).first()

    print(json.dumps({
        "all": [i.Id for i in everything],
        "contoso": [i.Title for i in contoso],
        "top": [i.Id for i in top],
        "page": [i.Id for i in page],
        "unpaid": unpaid,
        "seven": {"title": one.Title, "customer": one.Customer, "total": float(one.Total), "paid": one.Paid},
    }))


if __name__ == "__main__":
    main()
