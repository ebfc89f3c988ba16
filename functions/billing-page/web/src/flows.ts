// What the buttons do: loading, plan changes with their previews, cancel and resume, the portal,
// the history's pages.
import { openDowngradeDialog, openUpgradeDialog } from "./dialogs";
import { formatDate, formatMoney, titleCase } from "./format";
import { act, api, ApiFailure, call, type Cycle, isSubscribed, type Notice, pageConfig, planOf, type Preview, state, type Subscription, type Tier } from "./state";
import { authenticatePayment } from "./stripe";

const HISTORY_PAGE_SIZE = 5;

/** The cursor the history page on screen was fetched with (undefined: the first page). */
let shownCursor: string | undefined;

async function loadHistory(cursor: string | undefined): Promise<void> {
  state.history = await call(
    api.GET("/api/v1/billing/history", { params: { query: { limit: HISTORY_PAGE_SIZE, ...(cursor ? { cursor } : {}) } } }),
  );
  shownCursor = cursor;
}

export async function loadAll(): Promise<void> {
  const [catalog, subscription, cards] = await Promise.all([
    state.catalog ?? call(api.GET("/api/v1/billing/config")),
    call(api.GET("/api/v1/subscriptions/current")),
    call(api.GET("/api/v1/billing/payment-methods")),
  ]);
  state.catalog = catalog;
  state.subscription = subscription;
  state.cards = cards.payment_methods;
  if (subscription.billing_cycle) state.cycle = subscription.billing_cycle;
  state.historyCursors = [];
  try {
    await loadHistory(undefined);
  } catch (e) {
    if (!(e instanceof ApiFailure) || e.code !== "invalid_cursor") throw e;
  }
}

/** Waits until the subscription shows `done` (a webhook applies 3-D Secure and Checkout payments). */
async function waitFor(done: (s: Subscription) => boolean, seconds = 30): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const current = await call(api.GET("/api/v1/subscriptions/current"));
    state.subscription = current;
    if (done(current)) return true;
    await new Promise((r) => setTimeout(r, 700));
  }
  return false;
}

async function startCheckout(tier: Tier, cycle: Cycle): Promise<void> {
  const session = await call(api.POST("/api/v1/billing/checkout", { body: { tier, billing_cycle: cycle } }));
  location.assign(session.checkout_url);
}

// A card-less trial of a tier that offers one, started without Checkout; with Stripe Tax on,
// the API sends it to Checkout, which collects the address the tax needs (still no card).
export function startTrial(tier: Tier, buttonId: string): Promise<void> {
  return act(buttonId, async () => {
    let s: Subscription;
    try {
      s = await call(api.POST("/api/v1/subscriptions/trial", { body: { tier } }));
    } catch (e) {
      if (!(e instanceof ApiFailure) || e.code !== "trial_requires_checkout") throw e;
      return startCheckout(tier, state.cycle);
    }
    await loadAll();
    const name = planOf(tier)?.name ?? titleCase(tier);
    return { kind: "success", text: `Your ${name} trial has started; it ends on ${formatDate(s.trial_end)}.` };
  });
}

export function changePlan(tier: Tier, cycle: Cycle, buttonId: string): Promise<void> {
  return act(buttonId, async () => {
    if (!isSubscribed(state.subscription)) return startCheckout(tier, cycle);
    const preview = await call(
      api.GET("/api/v1/subscriptions/preview-change", { params: { query: { target_tier: tier, billing_cycle: cycle } } }),
    );
    if (preview.change === "new_subscription") return startCheckout(tier, cycle);
    if (preview.change === "upgrade") openUpgradeDialog(preview, () => upgrade(preview));
    else openDowngradeDialog(preview, () => downgrade(preview));
  });
}

async function upgrade(preview: Preview): Promise<Notice | void> {
  const name = planOf(preview.target_tier)?.name ?? titleCase(preview.target_tier);
  const request = api.POST("/api/v1/subscriptions/upgrade", {
    body: { target_tier: preview.target_tier, billing_cycle: preview.billing_cycle, proration_date: preview.proration_date ?? null },
  });
  const answer = await call(request);
  const applied = (s: Subscription) => s.tier === preview.target_tier && s.billing_cycle === preview.billing_cycle;
  if (answer.status === "upgraded") {
    await loadAll();
    return { kind: "success", text: `You are now on ${name}. Charged ${formatMoney(answer.amount_charged, answer.currency)}.` };
  }
  if (answer.status === "checkout_required") {
    location.assign(answer.checkout_url);
    return;
  }
  // 3-D Secure: Stripe.js runs the bank's check; the webhook applies the upgrade once paid.
  if (answer.client_secret && state.catalog) {
    const outcome = await authenticatePayment(pageConfig.stripe_js_url, state.catalog.publishable_key, answer.client_secret);
    if (!outcome.ok) {
      await loadAll();
      return { kind: "error", text: `The upgrade was not paid: ${outcome.message} Your plan is unchanged.` };
    }
  } else if (answer.action_url) {
    location.assign(answer.action_url);
    return;
  }
  const done = await waitFor(applied);
  await loadAll();
  return done
    ? { kind: "success", text: `Card confirmed. You are now on ${name}; charged ${formatMoney(preview.amount_due, preview.currency)}.` }
    : { kind: "info", text: "Payment confirmed. The new plan appears here in a moment." };
}

async function downgrade(preview: Preview): Promise<Notice> {
  const answer = await call(
    api.POST("/api/v1/subscriptions/downgrade", { body: { target_tier: preview.target_tier, billing_cycle: preview.billing_cycle } }),
  );
  await loadAll();
  const name = planOf(answer.target_tier)?.name ?? titleCase(answer.target_tier);
  return { kind: "success", text: `${name} is scheduled for ${formatDate(answer.effective_at)}.` };
}

export async function withdrawChange(): Promise<Notice> {
  await call(api.DELETE("/api/v1/subscriptions/pending-change"));
  await loadAll();
  return { kind: "success", text: "The scheduled change was withdrawn. Your plan stays as it is." };
}

export async function cancelAtPeriodEnd(): Promise<Notice> {
  const s = await call(api.POST("/api/v1/subscriptions/cancel", { body: { at_period_end: true } }));
  await loadAll();
  return { kind: "success", text: `Your subscription ends on ${formatDate(s.current_period_end)}. You can resume it until then.` };
}

export async function resume(): Promise<Notice> {
  await call(api.POST("/api/v1/subscriptions/resume"));
  await loadAll();
  return { kind: "success", text: "Your subscription renews again." };
}

// `flow` opens one of the portal's flows directly: the trial-ending email links to the page's
// `#add-card`, which opens the card form.
export async function openPortal(flow?: "payment_method_update"): Promise<void> {
  const portal = await call(api.POST("/api/v1/billing/portal", { params: { query: flow ? { flow } : {} } }));
  location.assign(portal.portal_url);
}

export async function pageHistory(direction: "older" | "newer"): Promise<void> {
  if (direction === "older" && state.history?.next_cursor) {
    const cursors = [...state.historyCursors, shownCursor];
    await loadHistory(state.history.next_cursor);
    state.historyCursors = cursors;
  } else if (direction === "newer" && state.historyCursors.length > 0) {
    const cursors = state.historyCursors.slice(0, -1);
    await loadHistory(state.historyCursors[state.historyCursors.length - 1]);
    state.historyCursors = cursors;
  }
}
