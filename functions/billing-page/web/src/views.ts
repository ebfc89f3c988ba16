// The page drawn from `state`: banners, the current plan, the plans to choose from, saved cards,
// payment history, and the notice of the last action.
import { openCancelDialog } from "./dialogs";
import { h } from "./dom";
import { cancelAtPeriodEnd, changePlan, openPortal, pageHistory, resume, startTrial, withdrawChange } from "./flows";
import { formatDate, formatEntitlement, formatMoney, titleCase } from "./format";
import { act, isSubscribed, planOf, priceOf, rankOf, session, state, type Subscription, type Transaction } from "./state";

const root = document.getElementById("app") as HTMLElement;

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
  if (s.status === "trialing") {
    const plan = planOf(s.tier)?.name ?? titleCase(s.tier);
    banners.push(
      h(
        "div",
        { class: "banner info", role: "status", "data-testid": "banner-trial" },
        h("strong", {}, `Your ${plan} trial ends on ${formatDate(s.trial_end)}. `),
        s.has_payment_method
          ? "Your card will then be charged and your plan continues."
          : "Add a card to keep it afterwards.",
        " ",
        ...(s.has_payment_method
          ? []
          : [button("banner-add-card", "Add a card", () => void act("banner-add-card", () => openPortal("payment_method_update")))]),
      ),
    );
  }
  if (s.status === "paused") {
    banners.push(
      h(
        "div",
        { class: "banner warn", role: "status", "data-testid": "banner-paused" },
        h("strong", {}, "Your trial ended without a card, so your subscription is paused. "),
        s.has_payment_method ? "Resume it to get your plan back." : "Add a card, then resume it.",
        " ",
        s.has_payment_method
          ? button("banner-resume", "Resume", () => void act("banner-resume", resume))
          : button("banner-add-card", "Add a card", () => void act("banner-add-card", () => openPortal("payment_method_update"))),
      ),
    );
  }
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
      ? h("div", { class: "actions" }, button("cancel", "Cancel subscription", () => openCancelDialog(s, cancelAtPeriodEnd)))
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
      // Card-less trials start here; one that needs a card starts in Checkout ("Subscribe").
      !subscribed && !state.subscription?.trial_used && plan.trial && !plan.trial.card_required
        ? button(`trial-${plan.tier}`, `Try free for ${plan.trial.days} days`, () => void startTrial(plan.tier, `trial-${plan.tier}`), { describedBy: `plan-${plan.tier}-name` })
        : null,
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

export function render(): void {
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
