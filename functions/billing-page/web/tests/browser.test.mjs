// Browser tests of the billing page against the local stack (infra/test.sh starts it and runs
// these): Debian's chromium driven by playwright-core, sign-in through the identity provider,
// payments through the Stripe emulator's own pages, axe-core on every main state.
//
// Environment: BILLING_PAGE_URL, STRIPE_API_BASE, STRIPE_SECRET_KEY (the emulator's test key,
// to make one-time payments for the history's second page), TIERFLOW_TEST_USERS (JSON:
// [{"username","password"}, ...], two users), SCREENSHOT_DIR (optional: PNGs of the main states).
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const PAGE_URL = must("BILLING_PAGE_URL");
const STRIPE = must("STRIPE_API_BASE");
const STRIPE_KEY = must("STRIPE_SECRET_KEY");
const [ALICE, BOB] = JSON.parse(must("TIERFLOW_TEST_USERS"));
const SCREENSHOTS = process.env.SCREENSHOT_DIR;
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

function must(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set`);
  return value;
}

const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const profiles = [];
// Every browser launched, closed after the tests even when one failed (an open one keeps node's
// test process alive, and the run would never end).
const browsers = [];
// A test that takes longer has hung: it fails rather than holding the run.
const TEST_TIMEOUT_MS = 240_000;

before(async () => {
  if (SCREENSHOTS) mkdirSync(SCREENSHOTS, { recursive: true });
  // The local router starts each function at its first call: the page and its script once first.
  for (const url of [PAGE_URL, `${PAGE_URL}/app.js`, `${PAGE_URL}/app.css`]) {
    for (let attempt = 0; ; attempt++) {
      const response = await fetch(url).catch(() => undefined);
      if (response?.ok) break;
      if (attempt > 60) throw new Error(`${url} does not answer`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
});

after(async () => {
  await Promise.allSettled(browsers.map((browser) => browser.close()));
  for (const dir of profiles) rmSync(dir, { recursive: true, force: true });
});

/** A browser of its own (a fresh --user-data-dir: no cookie or storage shared between users). */
async function freshBrowser(viewport) {
  const profile = mkdtempSync(join(tmpdir(), "tierflow-chromium-"));
  profiles.push(profile);
  const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport });
  browsers.push(browser);
  return browser;
}

/** A fresh browser context (its own storage) signed in as `user` through the identity provider. */
async function signedIn(user, viewport = { width: 1100, height: 900 }) {
  const context = await freshBrowser(viewport);
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  await page.goto(PAGE_URL);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#username").fill(user.username);
  await page.locator("#password").fill(user.password);
  await page.locator("#kc-login").click();
  await page.waitForURL((url) => url.href.startsWith(PAGE_URL));
  await page.getByTestId("signed-in-as").waitFor();
  await page.getByRole("heading", { name: /Current plan/ }).waitFor();
  return { context, page };
}

/** axe-core on the page as it is: no serious or critical violation. */
async function assertAccessible(page, state) {
  // Evaluated rather than added as a <script>: the page's CSP forbids inline scripts.
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) }));
  });
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(serious, [], `${state}: axe found ${JSON.stringify(serious)}`);
}

async function screenshot(page, name) {
  if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

async function notice(page, pattern) {
  const el = page.getByTestId("notice");
  await el.filter({ hasText: pattern }).waitFor({ timeout: 40_000 });
  return el.textContent();
}

/** Money as the page shows it ("$19.00") in cents. */
function cents(text) {
  const match = /(-?)\$([\d,]+)\.(\d\d)/.exec(text ?? "");
  assert.ok(match, `no amount in ${text}`);
  const magnitude = Number(match[2].replace(/,/g, "")) * 100 + Number(match[3]);
  return match[1] ? -magnitude : magnitude;
}

/** Picks a plan; the page goes to the emulator's Checkout (first subscription) or opens a dialog. */
async function choose(page, tier, cycle = "monthly") {
  await page.getByLabel(cycle === "monthly" ? "Monthly" : "Yearly").check();
  await page.locator(`#choose-${tier}-${cycle}`).click();
}

async function payInCheckout(page, cardLabel) {
  await page.waitForURL(/\/checkout\/cs_/);
  await page.getByLabel(new RegExp(cardLabel)).check();
  await page.getByRole("button", { name: /^Pay / }).click();
}

/** One-time payments through the API and the emulator, so the history has a second page. */
async function makeOneTimePayments(page, count) {
  for (let n = 0; n < count; n++) {
    const intent = await page.evaluate(async (n) => {
      const token = JSON.parse(sessionStorage.getItem("tierflow.billing.tokens")).access_token;
      const r = await fetch("/api/v1/billing/payment-intent", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: JSON.stringify({ amount: 500 + n, currency: "usd", description: `Credits pack ${n + 1}` }),
      });
      return r.json();
    }, n);
    assert.ok(intent.payment_intent_id, JSON.stringify(intent));
    const confirmed = await fetch(`${STRIPE}/v1/payment_intents/${intent.payment_intent_id}/confirm`, {
      method: "POST",
      // As Stripe's SDKs send it (the conformance check after the tests holds every request to it).
      headers: { Authorization: `Bearer ${STRIPE_KEY}`, "Content-Type": "application/x-www-form-urlencoded", "Stripe-Version": "2025-04-30.basil" },
      body: "payment_method=pm_card_visa",
    });
    assert.equal(confirmed.status, 200);
  }
}

describe("billing page", () => {
  test("subscribe through Checkout, upgrade at the previewed amount, downgrade and withdraw, cancel and resume, history", { timeout: TEST_TIMEOUT_MS }, async () => {
    const { context, page } = await signedIn(ALICE);
    await page.getByRole("heading", { name: "Choose a plan" }).waitFor();
    await assertAccessible(page, "signed in, no subscription");
    await screenshot(page, "1-choose-a-plan");

    // A declined card first: the Checkout page says so and the session stays payable.
    await choose(page, "starter");
    assert.equal(await page.getByTestId("checkout-total").textContent(), "$19.00");
    await payInCheckout(page, "Declined");
    await page.getByRole("alert").filter({ hasText: "declined" }).waitFor();
    await payInCheckout(page, "Succeeds");
    await page.waitForURL((url) => url.href.startsWith(PAGE_URL));
    await notice(page, /subscribed to Starter/);
    assert.equal(await page.getByTestId("current-plan").textContent(), "Starter");
    assert.equal(await page.getByTestId("current-price").textContent(), "$19.00 per month");
    assert.match(await page.getByTestId("current-next-invoice").textContent(), /^\$19\.00 on /);
    await page.getByTestId("saved-card").filter({ hasText: "4242" }).waitFor();

    // Upgrade: the dialog's amount is what is charged.
    await choose(page, "professional");
    const dialog = page.getByRole("dialog");
    await dialog.getByRole("heading", { name: "Upgrade to Professional" }).waitFor();
    const due = cents(await dialog.getByTestId("preview-amount-due").textContent());
    assert.ok(due > 0 && due <= 4900 - 1900, `prorated amount ${due}`);
    const credit = cents(await dialog.getByTestId("preview-credit").textContent());
    const charge = cents(await dialog.getByTestId("preview-charge").textContent());
    assert.ok(credit < 0 && charge > 0, `credit ${credit}, charge ${charge}`);
    assert.equal(credit + charge, due, "the credit and charge lines add up to the amount due");
    // Same cycle: the renewal bills at the current period's end, as the plan card says.
    assert.equal(await dialog.getByTestId("preview-next-renewal-at").textContent(), await page.getByTestId("current-period-end").textContent());
    await assertAccessible(page, "upgrade preview");
    await screenshot(page, "2-upgrade-preview");
    await dialog.getByRole("button", { name: /and upgrade$/ }).click();
    const charged = cents((await notice(page, /Charged/)).split("Charged")[1]);
    assert.equal(charged, due, "the amount charged is the amount previewed");
    assert.equal(credit + charge, charged, "the preview's lines add up to the amount charged");
    assert.equal(await page.getByTestId("current-plan").textContent(), "Professional");

    // Downgrade at period end, then withdraw it.
    await choose(page, "starter");
    await dialog.getByRole("heading", { name: "Downgrade to Starter" }).waitFor();
    const effective = await dialog.getByTestId("preview-effective-at").textContent();
    await dialog.getByRole("button", { name: "Schedule the downgrade" }).click();
    await page.getByTestId("scheduled-badge").waitFor();
    assert.match(await page.locator(".scheduled").textContent(), new RegExp(`Starter.*${effective}`));
    await assertAccessible(page, "downgrade scheduled");
    await screenshot(page, "3-downgrade-scheduled");
    await page.getByRole("button", { name: "Withdraw change" }).click();
    await notice(page, /withdrawn/);
    assert.equal(await page.getByTestId("scheduled-badge").count(), 0);

    // Cancel at period end, then resume.
    await page.getByRole("button", { name: "Cancel subscription" }).click();
    await dialog.getByRole("button", { name: "Cancel at period end" }).click();
    await page.getByTestId("banner-canceling").waitFor();
    await screenshot(page, "4-canceling");
    await page.getByRole("button", { name: "Resume subscription" }).click();
    await notice(page, /renews again/);
    assert.equal(await page.getByTestId("banner-canceling").count(), 0);

    // History: a second page, and invoice links that open.
    await makeOneTimePayments(page, 5);
    await page.reload();
    await page.getByTestId("history-row").first().waitFor();
    const older = page.locator("#history-older");
    for (let i = 0; i < 40 && (await older.isDisabled()); i++) {
      await page.waitForTimeout(500);
      await page.reload();
      await page.getByTestId("history-row").first().waitFor();
    }
    assert.equal(await page.getByTestId("history-row").count(), 5);
    const firstPage = await page.getByTestId("history-row").allTextContents();
    await older.click();
    await page.getByTestId("history-page").filter({ hasText: "Page 2" }).waitFor();
    const secondPage = await page.getByTestId("history-row").allTextContents();
    assert.ok(secondPage.length >= 1 && secondPage.every((row) => !firstPage.includes(row)), "page 2 holds other payments");
    // A paid subscription payment links its invoice (a PDF) and its charge's receipt, each in a new tab.
    const paid = page.getByTestId("history-row").filter({ hasText: "Starter" }).filter({ has: page.getByTestId("history-status").filter({ hasText: "Succeeded" }) });
    assert.ok((await paid.count()) >= 1, `a paid Starter payment on page 2: ${secondPage.join(" | ")}`);
    for (const [testId, label, type, body] of [
      ["invoice-link", /^Invoice PDF for .* \(opens in a new tab\)$/, "application/pdf", /^%PDF-/],
      ["receipt-link", /^Receipt for .* \(opens in a new tab\)$/, "text/html", /Receipt/],
    ]) {
      const link = paid.first().getByTestId(testId);
      assert.equal(await link.count(), 1, `${testId} on the paid subscription payment`);
      assert.equal(await link.getAttribute("target"), "_blank");
      assert.match(await link.getAttribute("aria-label"), label);
      const href = await link.getAttribute("href");
      const opened = await page.request.get(href);
      assert.equal(opened.status(), 200, href);
      assert.match(opened.headers()["content-type"], new RegExp(type), href);
      assert.match((await opened.body()).toString("latin1"), body, href);
    }
    await page.locator("#history-newer").click();
    await page.getByTestId("history-page").filter({ hasText: "Page 1" }).waitFor();
    await assertAccessible(page, "subscribed");
    await screenshot(page, "5-subscribed-with-history");

    // Phone width: nothing wider than the screen.
    await page.setViewportSize({ width: 375, height: 800 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone`);
    await screenshot(page, "6-phone");
    await context.close();
  });

  test("3-D Secure on Checkout and on an upgrade; a failed check leaves the plan; a second user sees only their own billing", { timeout: TEST_TIMEOUT_MS }, async () => {
    const { context, page } = await signedIn(BOB);
    await page.getByRole("heading", { name: "Choose a plan" }).waitFor();
    await page.getByTestId("no-history").waitFor();
    await page.getByTestId("no-cards").waitFor();

    await choose(page, "starter");
    await payInCheckout(page, "3-D Secure");
    await page.getByRole("button", { name: "Complete authentication" }).click();
    await page.waitForURL((url) => url.href.startsWith(PAGE_URL));
    await notice(page, /subscribed to Starter/);
    const cards = await page.getByTestId("saved-card").allTextContents();
    assert.deepEqual(cards.map((c) => /•••• (\d{4})/.exec(c)?.[1]), ["3220"], "only Bob's card");

    // Upgrade with a card that always asks: Stripe.js (the emulator's stand-in) shows the bank's page.
    await choose(page, "professional");
    const dialog = page.getByRole("dialog");
    const due = cents(await dialog.getByTestId("preview-amount-due").textContent());
    await dialog.getByRole("button", { name: /and upgrade$/ }).click();
    const bank = page.frameLocator('iframe[title="3-D Secure authentication"]');
    assert.equal(cents(await bank.getByTestId("3ds-amount").textContent()), due);
    await screenshot(page, "7-three-d-secure");
    await bank.getByRole("button", { name: "Complete" }).click();
    await notice(page, /Card confirmed/);
    assert.equal(await page.getByTestId("current-plan").textContent(), "Professional");

    // A failed check: nothing changes.
    await choose(page, "enterprise");
    await dialog.getByRole("button", { name: /and upgrade$/ }).click();
    await bank.getByRole("button", { name: "Fail" }).click();
    await notice(page, /not paid/);
    assert.equal(await page.getByTestId("current-plan").textContent(), "Professional");

    // Bob's history is Bob's: his two payments, none of Alice's one-time packs.
    const rows = await page.getByTestId("history-row").allTextContents();
    assert.ok(rows.length >= 2, rows.join("\n"));
    assert.ok(rows.every((r) => !r.includes("Credits pack")), rows.join("\n"));
    await assertAccessible(page, "after 3-D Secure");
    await context.close();
  });
});
