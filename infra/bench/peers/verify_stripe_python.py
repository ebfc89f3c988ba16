"""stripe-python's `stripe.Webhook.construct_event` (verify + parse) over the benchmark payload:
median nanoseconds per call. python3 verify_stripe_python.py PAYLOAD.json [ITERATIONS]"""

import json
import sys
import time

import stripe


def main() -> None:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    payload, header, secret = spec["payload"], spec["header"], spec["secret"]
    # Fail loudly rather than time an error path.
    event = stripe.Webhook.construct_event(payload, header, secret)
    assert event["type"] == "customer.subscription.updated"
    for _ in range(iterations // 10):
        stripe.Webhook.construct_event(payload, header, secret)
    samples = []
    clock = time.perf_counter_ns
    for _ in range(iterations):
        start = clock()
        stripe.Webhook.construct_event(payload, header, secret)
        samples.append(clock() - start)
    samples.sort()
    print(
        json.dumps(
            {
                "iterations": iterations,
                "median_ns": samples[len(samples) // 2],
                "version": stripe.VERSION,
            }
        )
    )


if __name__ == "__main__":
    main()
