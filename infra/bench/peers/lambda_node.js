// The Node peer for the cold-start comparison: what a Node Stripe webhook Lambda does, under the
// same Lambda Runtime API stand-in as Tierflow's binaries. Init loads stripe and the AWS SDK
// DynamoDB client; each invocation verifies the signature with `stripe.webhooks.constructEvent`
// and records the event id once (a conditional PutItem). The runtime loop is the Runtime API's.
'use strict';
const http = require('http');
const Stripe = require('stripe');
const { DynamoDBClient, PutItemCommand, ConditionalCheckFailedException } = require('@aws-sdk/client-dynamodb');

const TABLE = process.env.TABLE_NAME;
const SECRET = process.env.STRIPE_WEBHOOK_SECRETS.split(',')[0];
const stripe = new Stripe('sk_test_benchmark_unused');
const dynamodb = new DynamoDBClient({});
const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
const agent = new http.Agent({ keepAlive: true });

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path, agent, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function handle(event) {
  const headers = Object.fromEntries(Object.entries(event.headers || {}).map(([k, v]) => [k.toLowerCase(), v]));
  let stripeEvent;
  try {
    stripeEvent = stripe.webhooks.constructEvent(event.body || '', headers['stripe-signature'] || '', SECRET);
  } catch (e) {
    return { statusCode: 400, body: 'invalid signature' };
  }
  try {
    await dynamodb.send(new PutItemCommand({
      TableName: TABLE,
      Item: { PK: { S: `PEER#${stripeEvent.id}` }, SK: { S: 'EVENT' }, type: { S: stripeEvent.type } },
      ConditionExpression: 'attribute_not_exists(PK)',
    }));
  } catch (e) {
    if (!(e instanceof ConditionalCheckFailedException)) throw e;
  }
  return { statusCode: 200, body: JSON.stringify({ received: true }) };
}

(async () => {
  for (;;) {
    const next = await call('GET', '/2018-06-01/runtime/invocation/next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    const result = await handle(JSON.parse(next.body));
    await call('POST', `/2018-06-01/runtime/invocation/${id}/response`, JSON.stringify(result));
  }
})();
