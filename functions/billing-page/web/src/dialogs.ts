// The confirmation dialogs: an upgrade's or a downgrade's exact preview, and cancelling.
import { h } from "./dom";
import { formatDate, formatMoney, titleCase } from "./format";
import { act, type Notice, planOf, type Preview, type Subscription } from "./state";

const dialog = document.getElementById("dialog") as HTMLDialogElement;

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

export function openUpgradeDialog(p: Preview, confirm: () => Promise<Notice | void>): void {
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
    confirm,
  );
}

export function openDowngradeDialog(p: Preview, confirm: () => Promise<Notice>): void {
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
    confirm,
  );
}

export function openCancelDialog(s: Subscription, confirm: () => Promise<Notice>): void {
  showDialog(
    "Cancel your subscription",
    [h("p", {}, `Your plan stays active until ${formatDate(s.current_period_end)} and is not renewed after that. You can resume it until then.`)],
    "Cancel at period end",
    confirm,
  );
}
