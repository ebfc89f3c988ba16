#!/usr/bin/env python3
"""A Lago API v1 emulator for Tierflow's tests and local stack (standard library + cryptography).

In memory: customers (with the Stripe link and the Stripe-side customer update it triggers),
billable metrics, plans, subscriptions by external id with lago-api's plan-change rules, events,
the invoices that termination and upgrades bill, API keys with permissions, and signed webhook
deliveries (hmac, or jwt with `iss` = this emulator's API URL). Behaviour follows lago-api's
services (named in each module); shapes follow the published client models (checked by
infra/lago-emulator/test_lago_emulator.py against `lago-python-client`).

One deliberate strictness: a request field Lago's API does not document is refused with 400
(Lago itself ignores it), so a misspelt field fails Tierflow's tests instead of passing unseen.

Control endpoints for tests (no API key): `GET /_emulator/webhooks[?wait_idle=1]` lists the
deliveries (waiting for pending ones), `GET /_emulator/calls` the API calls received,
`POST /_emulator/faults` makes the next N calls to a path answer a given status.

Layout: organization.py holds the state and mixes in one module per family of lago-api services
(customers.py, plans.py, subscriptions.py, usage.py, webhooks.py); routes.py maps HTTP to them;
lago_api.py holds the documented fields and the error envelope, dates.py the calendar.
"""

import argparse
import threading
from http.server import ThreadingHTTPServer

from organization import Lago
from routes import make_handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000, help="0 picks a free port")
    parser.add_argument("--api-key", required=True, help="a key with every permission")
    parser.add_argument(
        "--restricted-key",
        action="append",
        help="KEY=resource:read+write,resource:read (repeatable)",
    )
    parser.add_argument("--api-url", help="this API's URL as Lago's LAGO_API_URL (the jwt iss)")
    parser.add_argument("--currency", default="USD")
    parser.add_argument("--plan", action="append", help="CODE:AMOUNT_CENTS[:INTERVAL] (repeatable)")
    parser.add_argument("--stripe-api-base", default="https://api.stripe.com")
    parser.add_argument("--stripe-secret-key", default="")
    parser.add_argument("--stripe-provider-code", default="stripe")
    parser.add_argument("--webhook-url")
    parser.add_argument("--webhook-signature", choices=["jwt", "hmac"], default="jwt")
    parser.add_argument("--hmac-key")
    parser.add_argument("--webhook-attempts", type=int, default=3)
    parser.add_argument(
        "--private-key",
        help="PEM file of the RSA key that signs jwt webhooks (default: a new one per start)",
    )
    args = parser.parse_args()
    lago = Lago(args)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(lago))
    server.daemon_threads = True
    lago.api_url = (args.api_url or f"http://{args.host}:{server.server_address[1]}").rstrip("/")
    threading.Thread(target=lago.deliver_forever, daemon=True).start()
    print(f"lago-emulator listening on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
