"""Fuzzes the HTTP API of the local stack with schemathesis, driven by openapi.yaml: valid and
invalid inputs for every operation, as a signed-in user who has a live subscription (so the
subscription routes run their real paths, not only "no subscription"). Fails on any 5xx and on
any response that does not conform to the document (status, content type, headers, schema).
Prints the number of requests sent and of 5xx answers.

Needs TIERFLOW_E2E_BASE, KEYCLOAK_URL, KEYCLOAK_ADMIN_PASSWORD, STRIPE_API_BASE and STRIPE_SECRET_KEY
(infra/test.sh): the user is created in Keycloak's realm tierflow and signed in there.
Usage: python3 infra/fuzz.py [--max-examples N] [--max-time SECONDS] [--seed N]
"""

import argparse
import json
import os
import pathlib
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The schemathesis checks every fuzzed response is held to.
CHECK_NAMES = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
CHECKS = ",".join(CHECK_NAMES)


def http(method, url, *, headers=None, form=None):
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if form is not None:
        req.add_header("content-type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"null")


def subscribe(stripe_base, stripe_key, user):
    """Subscribes `user` to starter monthly through a completed Checkout session, as a customer would."""
    # The pinned version, as every Tierflow call sends it (infra/stripe_conformance.py checks).
    auth = {"authorization": f"Bearer {stripe_key}", "stripe-version": "2025-04-30.basil"}
    prices = http(
        "GET", f"{stripe_base}/v1/prices?lookup_keys[]=tierflow_starter_monthly", headers=auth
    )
    session = http(
        "POST",
        f"{stripe_base}/v1/checkout/sessions",
        headers=auth,
        form={
            "mode": "subscription",
            "customer_email": f"{user}@example.com",
            "client_reference_id": user,
            "line_items[0][price]": prices["data"][0]["id"],
            "line_items[0][quantity]": "1",
            "success_url": "https://app.example/billing/done",
            "subscription_data[metadata][user_id]": user,
        },
    )
    http(
        "POST",
        f"{stripe_base}/_emulator/checkout/sessions/{session['id']}/complete",
        headers=auth,
        form={"payment_method": "pm_card_visa"},
    )
    return http("GET", f"{stripe_base}/v1/checkout/sessions/{session['id']}", headers=auth)[
        "customer"
    ]


def wait_for_quiet_webhooks(stripe_base, stripe_key, timeout=600):
    """Waits until the Stripe emulator has no webhook left to deliver. Earlier suites advance its
    clock, which renews every subscription they made: hundreds of events that the emulator delivers
    one at a time, and the fuzzing user's checkout would queue behind them."""
    auth = {"authorization": f"Bearer {stripe_key}"}
    deadline = time.monotonic() + timeout
    reported = None
    while True:
        queued = http(
            "GET", f"{stripe_base}/_emulator/webhooks/deliveries?event_id=none", headers=auth
        )["queued"]
        if queued == 0:
            return
        if time.monotonic() > deadline:
            raise SystemExit(
                f"fuzz: the Stripe emulator still had {queued} webhooks to deliver after {timeout} s"
            )
        if reported is None or time.monotonic() - reported > 15:
            print(
                f"fuzz: waiting for the Stripe emulator to deliver {queued} queued webhooks",
                flush=True,
            )
            reported = time.monotonic()
        time.sleep(1)


def deliveries_for(stripe_base, stripe_key, customer):
    """The emulator's delivery attempts of the events about `customer`, for a failure report."""
    auth = {"authorization": f"Bearer {stripe_key}"}
    events = http("GET", f"{stripe_base}/v1/events?limit=100", headers=auth)["data"]
    mine = {
        e["id"]
        for e in events
        if customer in (e["data"]["object"].get("customer"), e["data"]["object"].get("id"))
    }
    log = http("GET", f"{stripe_base}/_emulator/webhooks/deliveries", headers=auth)
    attempts = [
        f"{d['event_type']} attempt {d['attempt']}: status {d['status_code']} {d['error'] or ''}".strip()
        for d in log["data"]
        if d["event_id"] in mine
    ]
    return f"{len(mine)} events about {customer}, {log['queued']} webhooks still queued; attempts: {attempts}"


def wait_for_tier(base, token, tier, timeout=180):
    deadline = time.monotonic() + timeout
    while True:
        current = http(
            "GET",
            f"{base}/api/v1/subscriptions/current",
            headers={"authorization": f"Bearer {token}"},
        )
        if current["tier"] == tier:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"fuzz: the fuzzing user never became {tier}: {current}")
        time.sleep(0.3)


def keycloak_user(username):
    """Creates `username` in realm tierflow; returns (their id, an access token Keycloak issued)."""
    kc = os.environ["KEYCLOAK_URL"]
    admin = http(
        "POST",
        f"{kc}/realms/master/protocol/openid-connect/token",
        form={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": "admin",
            "password": os.environ["KEYCLOAK_ADMIN_PASSWORD"],
        },
    )["access_token"]
    password = secrets.token_hex(16)
    body = json.dumps(
        {
            "username": username,
            "email": f"{username}@example.com",
            "enabled": True,
            "credentials": [{"type": "password", "value": password, "temporary": False}],
        }
    ).encode()
    req = urllib.request.Request(
        f"{kc}/admin/realms/tierflow/users",
        data=body,
        method="POST",
        headers={"authorization": f"Bearer {admin}", "content-type": "application/json"},
    )
    urllib.request.urlopen(req, timeout=60).close()
    found = http(
        "GET",
        f"{kc}/admin/realms/tierflow/users?exact=true&username={username}",
        headers={"authorization": f"Bearer {admin}"},
    )
    token = http(
        "POST",
        f"{kc}/realms/tierflow/protocol/openid-connect/token",
        form={
            "grant_type": "password",
            "client_id": "tierflow-e2e",
            "username": username,
            "password": password,
        },
    )["access_token"]
    return found[0]["id"], token


def count_responses(har_path):
    """(requests, [(status, method, url, HAR entry)] of the 5xx) from the HAR report."""
    har = json.loads(pathlib.Path(har_path).read_text())
    entries = har.get("log", {}).get("entries", [])
    errors = [
        (e["response"]["status"], e["request"]["method"], e["request"]["url"], e)
        for e in entries
        if e.get("response", {}).get("status", 0) >= 500
    ]
    return len(entries), errors


def describe(entry):
    """A 5xx's request headers (credentials left out), its time and its answer, so a failure
    that happened once can be read back from the CI log."""
    request, response = entry.get("request", {}), entry.get("response", {})
    headers = {
        h["name"]: h["value"]
        for h in request.get("headers", [])
        if h["name"].lower() not in ("authorization", "cookie")
    }
    body = (response.get("content") or {}).get("text", "")[:300]
    return f"    at {entry.get('startedDateTime')}, {entry.get('time')} ms; request headers {headers}; answer {body!r}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--max-examples", type=int, default=20, help="test cases per operation and phase"
    )
    parser.add_argument(
        "--max-time", type=int, default=150, help="time budget of the whole run, seconds"
    )
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()

    base = os.environ["TIERFLOW_E2E_BASE"]
    user, token = keycloak_user(f"fuzz-{os.getpid()}-{int(time.time())}")
    stripe_base, stripe_key = os.environ["STRIPE_API_BASE"], os.environ["STRIPE_SECRET_KEY"]
    wait_for_quiet_webhooks(stripe_base, stripe_key)
    customer = subscribe(stripe_base, stripe_key, user)
    try:
        wait_for_tier(base, token, "starter")
    except TimeoutError as e:
        raise SystemExit(f"{e}\n{deliveries_for(stripe_base, stripe_key, customer)}")

    with tempfile.TemporaryDirectory(prefix="tierflow-fuzz-") as report_dir:
        har = os.path.join(report_dir, "fuzz.har")
        command = [
            "st",
            "run",
            str(ROOT / "openapi.yaml"),
            "--url",
            base,
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            CHECKS,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            str(args.max_examples),
            "--max-time",
            str(args.max_time),
            "--request-timeout",
            "60",
            # Non-UTF-8 bodies reach only the local emulator's limits: see infra/fuzz_hooks.py.
            "--generation-codec",
            "utf-8",
            "--workers",
            "2",
            "--report",
            "har",
            "--report-har-path",
            har,
            "--output-sanitize",
            "true",
        ]
        if args.seed is not None:
            command += ["--seed", str(args.seed)]
        # The token is a secret: never echo the command line.
        print(
            f"fuzz: schemathesis against {base} as {user} ({args.max_examples} examples per "
            f"operation and phase, {args.max_time} s budget)",
            flush=True,
        )
        env = dict(
            os.environ,
            SCHEMATHESIS_HOOKS="fuzz_hooks",
            PYTHONPATH=os.pathsep.join(
                filter(None, [str(ROOT / "infra"), os.environ.get("PYTHONPATH")])
            ),
        )
        # Its exit status is read below, with the 5xx count from the report.
        run = subprocess.run(command, cwd=report_dir, env=env, check=False)
        requests, server_errors = count_responses(har) if os.path.exists(har) else (0, [])

    print(f"fuzz: {requests} requests, {len(server_errors)} answered 5xx")
    for status, method, url, entry in server_errors[:20]:
        print(f"  {status} {method} {url}")
        print(describe(entry))
    if run.returncode != 0 or server_errors or requests == 0:
        sys.exit(1)


if __name__ == "__main__":
    main()
