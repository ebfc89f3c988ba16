// stripe-node's `stripe.webhooks.constructEvent` (verify + parse) over the benchmark payload:
// median nanoseconds per call. node verify_stripe_node.js PAYLOAD.json [ITERATIONS]
'use strict';
const fs = require('fs');
const Stripe = require('stripe');

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const iterations = Number(process.argv[3] || 20000);
const stripe = new Stripe('sk_test_benchmark_unused');
const { payload, header, secret } = spec;

// Fail loudly rather than time an error path.
const event = stripe.webhooks.constructEvent(payload, header, secret);
if (event.type !== 'customer.subscription.updated') throw new Error('unexpected event');
for (let i = 0; i < iterations / 10; i++) stripe.webhooks.constructEvent(payload, header, secret);
const samples = new Array(iterations);
for (let i = 0; i < iterations; i++) {
  const start = process.hrtime.bigint();
  stripe.webhooks.constructEvent(payload, header, secret);
  samples[i] = Number(process.hrtime.bigint() - start);
}
samples.sort((a, b) => a - b);
const path = require('path');
const version = JSON.parse(fs.readFileSync(path.join(path.dirname(require.resolve('stripe')), '..', 'package.json'), 'utf8')).version;
console.log(JSON.stringify({ iterations, median_ns: samples[iterations >> 1], version }));
