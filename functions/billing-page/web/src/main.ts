// The reference billing page: the caller's plan, plan changes with exact previews, cancel and
// resume, saved cards, payment history. Everything it shows comes from the Tierflow API through
// the typed client generated from openapi.yaml.
import { createTierflowClient, type Schema } from "../../../../clients/typescript/src/index";
import { Session } from "./auth";
import { h } from "./dom";
import { describeError } from "./errors";
import { formatDate, formatEntitlement, formatMoney, titleCase } from "./format";
import { authenticatePayment } from "./stripe";

type BillingConfig = Schema<"BillingConfig">;
type Plan = BillingConfig["plans"][number];
type Subscription = Schema<"Subscription">;
type Preview = Schema<"Preview">;
type Cycle = Schema<"BillingCycle">;
type Tier = Schema<"Tier">;
type Card = Schema<"PaymentMethods">["payment_methods"][number];
type History = Schema<"History">;
type Transaction = History["transactions"][number];

/** The configuration the function puts in the page (see functions/billing-page/src/page.rs). */
interface PageConfig {
  api_base_url: string;
  oidc_issuer: string;
  oidc_client_id: string;
  stripe_js_url: string;
}

/** An API answer other than success, with what to tell the person. */
class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(describeError(status, body));
  }
}

const HISTORY_PAGE_SIZE = 5;
const pageConfig = JSON.parse(document.getElementById("billing-config")?.textContent ?? "{}") as PageConfig;
const pageUrl = `${location.origin}${location.pathname}`;
const session = new Session(pageConfig.oidc_issuer, pageConfig.oidc_client_id, pageUrl);
const api = createTierflowClient({
  baseUrl: pageConfig.api_base_url || location.origin,
  accessToken: () => session.accessToken(),
});

interface Notice {
  kind: "error" | "success" | "info";
  text: string;
}

const state: {
  catalog?: BillingConfig;
  subscription?: Subscription;
  cards?: Card[];
  history?: History;
  /** Cursors of the history pages before the one shown (`undefined` is the first page). */
  historyCursors: (string | undefined)[];
  cycle: Cycle;
  /** The action in flight, by the id of the button that started it. */
  busy?: string;
  notice?: Notice;
  loading: boolean;
} = { historyCursors: [], cycle: "monthly", loading: true };

const root = document.getElementById("app") as HTMLElement;
const dialog = document.getElementById("dialog") as HTMLDialogElement;

/** The answer's data, or an {@link ApiFailure}; a 401 also signs the person out. */
async function call<T>(request: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let answer;
  try {
    answer = await request;
  } catch {
    throw new ApiFailure(0, undefined);
  }
  if (answer.error !== undefined || answer.data === undefined) {
    if (answer.response.status === 401) session.forget();
    throw new ApiFailure(answer.response.status, answer.error);
  }
  return answer.data;
}

function planOf(tier: Tier): Plan | undefined {
  return state.catalog?.plans.find((p) => p.tier === tier);
}

function priceOf(tier: Tier, cycle: Cycle | null | undefined) {
  return planOf(tier)?.prices.find((p) => p.billing_cycle === (cycle ?? "monthly"));
}

function rankOf(tier: Tier): number {
  return state.catalog?.plans.findIndex((p) => p.tier === tier) ?? -1;
}

/** A subscription that renews or will end, as opposed to none at all. */
function isSubscribed(s: Subscription | undefined): s is Subscription {
  return !!s && !["none", "canceled", "incomplete_expired"].includes(s.status) && s.tier !== "free";
}

// ---- loading ------------------------------------------------------------------------------

/** The cursor the history page on screen was fetched with (undefined: the first page). */
let shownCursor: string | undefined;

async function loadHistory(cursor: string | undefined): Promise<void> {
  state.history = await call(
    api.GET("/api/v1/billing/history", { params: { query: { limit: HISTORY_PAGE_SIZE, ...(cursor ? { cursor } : {}) } } }),
  );
  shownCursor = cursor;
}

async function loadAll(): Promise<void> {
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
    if (!(e instanceof ApiFailure) || (e.body as { error?: { code?: string } })?.error?.code !== "invalid_cursor") throw e;
  }
}

/** Runs an action started by button `id`: busy state, then the outcome as a notice. */
async function act(id: string, action: () => Promise<Notice | void>): Promise<void> {
  if (state.busy) return;
  state.busy = id;
  state.notice = undefined;
  render();
  try {
    const notice = await action();
    state.notice = notice ?? undefined;
  } catch (e) {
    state.notice = { kind: "error", text: e instanceof Error ? e.message : String(e) };
  } finally {
    state.busy = undefined;
    render();
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

// ---- flows --------------------------------------------------------------------------------

async function startCheckout(tier: Tier, cycle: Cycle): Promise<void> {
  const session = await call(api.POST("/api/v1/billing/checkout", { body: { tier, billing_cycle: cycle } }));
  location.assign(session.checkout_url);
}

function changePlan(tier: Tier, cycle: Cycle, buttonId: string): Promise<void> {
  return act(buttonId, async () => {
    if (!isSubscribed(state.subscription)) return startCheckout(tier, cycle);
    const preview = await call(
      api.GET("/api/v1/subscriptions/preview-change", { params: { query: { target_tier: tier, billing_cycle: cycle } } }),
    );
    if (preview.change === "new_subscription") return startCheckout(tier, cycle);
    if (preview.change === "upgrade") openUpgradeDialog(preview);
    else openDowngradeDialog(preview);
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

async function withdrawChange(): Promise<Notice> {
  await call(api.DELETE("/api/v1/subscriptions/pending-change"));
  await loadAll();
  return { kind: "success", text: "The scheduled change was withdrawn. Your plan stays as it is." };
}

async function cancelAtPeriodEnd(): Promise<Notice> {
  const s = await call(api.POST("/api/v1/subscriptions/cancel", { body: { at_period_end: true } }));
  await loadAll();
  return { kind: "success", text: `Your subscription ends on ${formatDate(s.current_period_end)}. You can resume it until then.` };
}

async function resume(): Promise<Notice> {
  await call(api.POST("/api/v1/subscriptions/resume"));
  await loadAll();
  return { kind: "success", text: "Your subscription renews again." };
}

async function openPortal(): Promise<void> {
  const portal = await call(api.POST("/api/v1/billing/portal"));
  location.assign(portal.portal_url);
}

async function pageHistory(direction: "older" | "newer"): Promise<void> {
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

// ---- dialogs ------------------------------------------------------------------------------

function showDialog(title: string, body: Node[], confirmLabel: string, confirm: () => Promise<Notice | void>): void {
  const confirmButton = h(
    "button",
    {
      type: "button",
      class: "primary",
      id: "dialog-confirm",
      onclick: () => {
        dialog.close();
        void act("dialog-confirm", confirm);
      },
    },
    confirmLabel,
  );
  dialog.replaceChildren(
    h("h2", { id: "dialog-title" }, title),
    ...body,
    h("div", { class: "actions" }, h("button", { type: "button", id: "dialog-cancel", onclick: () => dialog.close() }, "Keep my plan"), confirmButton),
  );
  dialog.setAttribute("aria-labelledby", "dialog-title");
  dialog.showModal();
  confirmButton.focus();
}

function line(label: string, value: string, testId: string, strong = false): HTMLElement {
  return h("div", { class: strong ? "line total" : "line" }, h("dt", {}, label), h("dd", { "data-testid": testId }, value));
}

function openUpgradeDialog(p: Preview): void {
  const name = planOf(p.target_tier)?.name ?? titleCase(p.target_tier);
  const current = planOf(p.current_tier)?.name ?? titleCase(p.current_tier);
  const cycle = p.billing_cycle === "yearly" ? "year" : "month";
  showDialog(
    `Upgrade to ${name}`,
    [
      h("p", {}, `You move from ${current} to ${name} now. The difference for the rest of this period is charged to your card today.`),
      h(
        "dl",
        { class: "lines" },
        // Stripe's own lines: the credit for unused time (negative) and the charge for the rest of the period.
        ...p.lines.map((l) => line(l.description, formatMoney(l.amount, p.currency), l.amount < 0 ? "preview-credit" : "preview-charge")),
        line(`Due now`, formatMoney(p.amount_due, p.currency), "preview-amount-due", true),
        line(`Then each renewal`, `${formatMoney(p.next_renewal, p.currency)} per ${cycle}`, "preview-next-renewal"),
        line(`Next renewal on`, formatDate(p.next_renewal_at), "preview-next-renewal-at"),
      ),
    ],
    `Pay ${formatMoney(p.amount_due, p.currency)} and upgrade`,
    () => upgrade(p),
  );
}

function openDowngradeDialog(p: Preview): void {
  const name = planOf(p.target_tier)?.name ?? titleCase(p.target_tier);
  const current = planOf(p.current_tier)?.name ?? titleCase(p.current_tier);
  const cycle = p.billing_cycle === "yearly" ? "year" : "month";
  showDialog(
    `Downgrade to ${name}`,
    [
      h("p", {}, `You keep ${current} until ${formatDate(p.effective_at)}. From then on you are on ${name}; nothing is charged today.`),
      h(
        "dl",
        { class: "lines" },
        line("Takes effect", formatDate(p.effective_at), "preview-effective-at", true),
        line("New price", `${formatMoney(p.new_price, p.currency)} per ${cycle}`, "preview-new-price"),
      ),
    ],
    `Schedule the downgrade`,
    () => downgrade(p),
  );
}

function openCancelDialog(s: Subscription): void {
  showDialog(
    "Cancel your subscription",
    [h("p", {}, `Your plan stays active until ${formatDate(s.current_period_end)} and is not renewed after that. You can resume it until then.`)],
    "Cancel at period end",
    cancelAtPeriodEnd,
  );
}

// ---- rendering ----------------------------------------------------------------------------

function button(id: string, label: string, onclick: () => void, options: { primary?: boolean; disabled?: boolean; describedBy?: string } = {}): HTMLButtonElement {
  const busy = state.busy === id;
  return h(
    "button",
    {
      type: "button",
      id,
      class: options.primary ? "primary" : undefined,
      disabled: options.disabled || (state.busy !== undefined && !busy) || busy,
      "aria-busy": busy ? "true" : undefined,
      "aria-describedby": options.describedBy,
      onclick,
    },
    busy ? "Working…" : label,
  );
}

function badge(text: string, kind: string, testId?: string): HTMLElement {
  return h("span", { class: `badge ${kind}`, "data-testid": testId }, text);
}

const STATUS_KIND: Record<string, string> = {
  active: "ok",
  trialing: "ok",
  succeeded: "ok",
  past_due: "warn",
  incomplete: "warn",
  requires_action: "warn",
  partially_refunded: "warn",
  unpaid: "bad",
  failed: "bad",
  disputed: "bad",
  dispute_won: "ok",
  dispute_lost: "bad",
  canceled: "muted",
  refunded: "muted",
};

function renderBanners(s: Subscription): Node[] {
  const banners: Node[] = [];
  if (s.access === "grace") {
    banners.push(
      h(
        "div",
        { class: "banner warn", role: "status", "data-testid": "banner-grace" },
        h("strong", {}, "Your last payment failed. "),
        `You keep ${planOf(s.tier)?.name ?? titleCase(s.tier)} until ${formatDate(s.grace_until)}. Update your card to keep it.`,
        " ",
        button("banner-portal", "Update card", () => void act("banner-portal", openPortal)),
      ),
    );
  }
  if (s.access === "revoked") {
    banners.push(
      h(
        "div",
        { class: "banner bad", role: "status", "data-testid": "banner-revoked" },
        h("strong", {}, "Access to paid features is paused. "),
        "Payment did not come through. Update your card or choose a plan to restore it.",
        " ",
        button("banner-portal", "Update card", () => void act("banner-portal", openPortal)),
      ),
    );
  }
  if (s.cancel_at_period_end) {
    banners.push(
      h(
        "div",
        { class: "banner info", role: "status", "data-testid": "banner-canceling" },
        `Your subscription ends on ${formatDate(s.current_period_end)}. `,
        button("resume", "Resume subscription", () => void act("resume", resume), { primary: true }),
      ),
    );
  }
  return banners;
}

function renderCurrent(s: Subscription): HTMLElement {
  const plan = planOf(s.tier);
  const subscribed = isSubscribed(s);
  // The API answers both from what the subscriber pays (a grandfathered price included), so
  // the page never recomputes them from the catalog.
  const price = subscribed ? s.price : null;
  const cycleWord = price?.interval ?? (s.billing_cycle === "yearly" ? "year" : "month");
  const next = s.next_invoice;
  const rows: [string, Node | string, string][] = [
    ["Status", badge(titleCase(s.status), STATUS_KIND[s.status] ?? "muted", "current-status"), "status"],
    ["Price", price ? `${formatMoney(price.amount, price.currency)} per ${cycleWord}` : "Free", "current-price"],
  ];
  if (subscribed) {
    if (s.current_period_start) rows.push(["Current period started", formatDate(s.current_period_start), "current-period-start"]);
    rows.push([s.cancel_at_period_end ? "Ends on" : "Current period ends", formatDate(s.current_period_end), "current-period-end"]);
    rows.push(["Next invoice", next ? `${formatMoney(next.amount, next.currency)} on ${formatDate(next.date)}` : "None", "current-next-invoice"]);
  }
  const pending = s.pending_change;
  return h(
    "section",
    { class: "card", "aria-labelledby": "current-title" },
    h("h2", { id: "current-title" }, "Current plan"),
    h(
      "p",
      { class: "plan-name" },
      h("span", { "data-testid": "current-plan" }, plan?.name ?? titleCase(s.tier)),
      s.effective_tier !== s.tier ? h("span", { class: "note" }, ` (features of ${titleCase(s.effective_tier)} for now)`) : null,
    ),
    h("dl", { class: "facts" }, ...rows.map(([label, value, testId]) => h("div", {}, h("dt", {}, label), h("dd", { "data-testid": testId }, value)))),
    pending
      ? h(
          "p",
          { class: "scheduled" },
          badge("Scheduled", "info", "scheduled-badge"),
          ` ${planOf(pending.target_tier)?.name ?? titleCase(pending.target_tier)}${pending.billing_cycle ? `, ${pending.billing_cycle}` : ""} from ${formatDate(pending.effective_at)} `,
          button("withdraw", "Withdraw change", () => void act("withdraw", withdrawChange)),
        )
      : null,
    subscribed && !s.cancel_at_period_end
      ? h("div", { class: "actions" }, button("cancel", "Cancel subscription", () => openCancelDialog(s)))
      : null,
  );
}

function renderPlans(s: Subscription): HTMLElement {
  const cycleSwitch = h(
    "fieldset",
    { class: "switch" },
    h("legend", {}, "Billing period"),
    ...(["monthly", "yearly"] as const).map((cycle) =>
      h(
        "label",
        {},
        h("input", {
          type: "radio",
          name: "cycle",
          value: cycle,
          id: `cycle-${cycle}`,
          checked: state.cycle === cycle,
          onchange: () => {
            state.cycle = cycle;
            render();
          },
        }),
        ` ${titleCase(cycle)}`,
      ),
    ),
  );
  const subscribed = isSubscribed(s);
  const plans = (state.catalog?.plans ?? []).filter((p) => p.prices.some((price) => price.billing_cycle === state.cycle && price.amount > 0));
  const cards = plans.map((plan) => {
    const price = priceOf(plan.tier, state.cycle);
    const current = subscribed && plan.tier === s.tier && s.billing_cycle === state.cycle;
    const id = `choose-${plan.tier}-${state.cycle}`;
    let label = "Subscribe";
    if (subscribed) label = rankOf(plan.tier) > rankOf(s.tier) ? "Upgrade" : rankOf(plan.tier) < rankOf(s.tier) ? "Downgrade" : `Switch to ${state.cycle}`;
    return h(
      "li",
      { class: current ? "plan current" : "plan", "data-testid": `plan-${plan.tier}` },
      h("h3", { id: `plan-${plan.tier}-name` }, plan.name),
      price ? h("p", { class: "price" }, formatMoney(price.amount, price.currency), h("span", {}, state.cycle === "yearly" ? " / year" : " / month")) : null,
      h("ul", { class: "entitlements", "aria-label": `${plan.name} includes` }, ...Object.entries(plan.entitlements).map(([k, v]) => h("li", {}, formatEntitlement(k, v ?? null)))),
      current
        ? h("p", { class: "current-label" }, "Your current plan")
        : button(id, label, () => void changePlan(plan.tier, state.cycle, id), { primary: true, describedBy: `plan-${plan.tier}-name` }),
    );
  });
  return h(
    "section",
    { class: "card", "aria-labelledby": "plans-title" },
    h("h2", { id: "plans-title" }, subscribed ? "Change plan" : "Choose a plan"),
    cycleSwitch,
    h("ul", { class: "plans" }, ...cards),
  );
}

function renderCards(): HTMLElement {
  const cards = state.cards ?? [];
  return h(
    "section",
    { class: "card", "aria-labelledby": "cards-title" },
    h("h2", { id: "cards-title" }, "Payment methods"),
    cards.length === 0
      ? h("p", { "data-testid": "no-cards" }, "No saved card yet. Your first checkout saves one.")
      : h(
          "ul",
          { class: "saved-cards" },
          ...cards.map((c) =>
            h(
              "li",
              { "data-testid": "saved-card" },
              `${titleCase(c.brand)} •••• ${c.last4}, expires ${String(c.exp_month).padStart(2, "0")}/${c.exp_year}`,
              c.is_default ? badge("Default", "info") : null,
            ),
          ),
        ),
    h("div", { class: "actions" }, button("portal", "Manage cards and invoices", () => void act("portal", openPortal), { disabled: cards.length === 0 && !isSubscribed(state.subscription) })),
  );
}

/** A payment's invoice (its PDF, else the hosted page) and receipt, each opening in a new tab. */
function documentLinks(t: Transaction): Node[] {
  const what = `${t.description ?? (t.kind === "subscription" ? "Subscription" : "Payment")} of ${formatDate(t.paid_at ?? t.created_at)}`;
  const link = (href: string, text: string, label: string, testId: string) =>
    h("a", { href, target: "_blank", rel: "noopener", "aria-label": `${label} for ${what} (opens in a new tab)`, "data-testid": testId }, text);
  const invoice = t.invoice_pdf ?? t.invoice_url;
  const links = [
    invoice ? link(invoice, "Invoice", t.invoice_pdf ? "Invoice PDF" : "Invoice", "invoice-link") : null,
    t.receipt_url ? link(t.receipt_url, "Receipt", "Receipt", "receipt-link") : null,
  ].filter((l): l is HTMLAnchorElement => l !== null);
  return links.length === 0 ? [document.createTextNode("—")] : links;
}

function renderHistory(): HTMLElement {
  const history = state.history;
  const rows = history?.transactions ?? [];
  const table =
    rows.length === 0
      ? h("p", { "data-testid": "no-history" }, "No payments yet.")
      : h(
          "div",
          { class: "table-scroll", tabindex: 0, role: "region", "aria-label": "Payments table" },
          h(
            "table",
            {},
            h("thead", {}, h("tr", {}, ...["Date", "Description", "Amount", "Status", "Card", "Documents"].map((c) => h("th", { scope: "col" }, c)))),
            h(
              "tbody",
              {},
              ...rows.map((t) =>
                h(
                  "tr",
                  { "data-testid": "history-row" },
                  h("td", {}, formatDate(t.paid_at ?? t.created_at)),
                  h("td", {}, t.description ?? (t.kind === "subscription" ? "Subscription" : "Payment")),
                  h("td", { class: "amount" }, formatMoney(t.amount, t.currency)),
                  h("td", {}, badge(titleCase(t.status), STATUS_KIND[t.status] ?? "muted", "history-status"), t.failure_reason ? h("span", { class: "note" }, ` ${t.failure_reason}`) : null),
                  h("td", {}, t.card_brand && t.card_last4 ? `${titleCase(t.card_brand)} •••• ${t.card_last4}` : "—"),
                  h("td", { class: "documents" }, ...documentLinks(t)),
                ),
              ),
            ),
          ),
        );
  const page = state.historyCursors.length + 1;
  return h(
    "section",
    { class: "card", "aria-labelledby": "history-title" },
    h("h2", { id: "history-title" }, "Payment history"),
    table,
    rows.length > 0 || page > 1
      ? h(
          "nav",
          { class: "pager", "aria-label": "Payment history pages" },
          button("history-newer", "Newer", () => void act("history-newer", () => pageHistory("newer")), { disabled: page === 1 }),
          h("span", { "data-testid": "history-page" }, `Page ${page}`),
          button("history-older", "Older", () => void act("history-older", () => pageHistory("older")), { disabled: !history?.next_cursor }),
        )
      : null,
  );
}

function renderNotice(): HTMLElement {
  const notice = state.notice;
  return h(
    "div",
    { id: "notice", class: notice ? `notice ${notice.kind}` : "notice", role: notice?.kind === "error" ? "alert" : "status", "aria-live": "polite", "data-testid": "notice" },
    notice?.text ?? "",
  );
}

function renderSignedOut(): Node[] {
  return [
    h(
      "section",
      { class: "card signin" },
      h("h2", {}, "Sign in to manage billing"),
      h("p", {}, "See your plan, change it, and find your invoices."),
      button("sign-in", "Sign in", () => void act("sign-in", () => session.signIn()), { primary: true }),
    ),
  ];
}

function render(): void {
  const focused = document.activeElement?.id;
  const profile = session.profile;
  const header = h(
    "header",
    { class: "top" },
    h("h1", {}, "Billing"),
    profile ? h("div", { class: "who" }, h("span", { "data-testid": "signed-in-as" }, profile.email ?? profile.name ?? profile.sub), button("sign-out", "Sign out", () => void session.signOut())) : null,
  );
  let body: Node[];
  if (!session.signedIn) body = renderSignedOut();
  else if (state.loading) body = [h("p", { class: "loading", role: "status" }, "Loading your billing…")];
  else if (!state.subscription) body = [];
  else body = [...renderBanners(state.subscription), renderCurrent(state.subscription), renderPlans(state.subscription), renderCards(), renderHistory()];
  root.replaceChildren(header, h("main", {}, renderNotice(), ...body));
  root.setAttribute("aria-busy", state.busy || state.loading ? "true" : "false");
  if (focused) document.getElementById(focused)?.focus();
}

async function boot(): Promise<void> {
  const params = new URLSearchParams(location.search);
  try {
    await session.completeSignIn(params);
  } catch (e) {
    state.notice = { kind: "error", text: `Sign-in failed: ${e instanceof Error ? e.message : e}` };
  }
  const checkoutSession = params.get("checkout_session_id");
  const cancelled = params.has("checkout_cancelled");
  if (params.toString()) history.replaceState(null, "", pageUrl);
  if (!session.signedIn) {
    state.loading = false;
    render();
    return;
  }
  render();
  try {
    if (checkoutSession) {
      const s = await call(api.POST("/api/v1/subscriptions/confirm-upgrade", { params: { query: { checkout_session_id: checkoutSession } } }));
      state.notice = { kind: "success", text: `Thank you! You are subscribed to ${titleCase(s.tier)}.` };
    } else if (cancelled) {
      state.notice = { kind: "info", text: "Checkout was cancelled; nothing was charged." };
    }
    await loadAll();
  } catch (e) {
    state.notice = { kind: "error", text: e instanceof Error ? e.message : String(e) };
  }
  state.loading = false;
  render();
}

void boot();
