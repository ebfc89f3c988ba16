// What the page tells people for each error code the API documents (openapi.yaml).
// `infra/web.sh check` fails when openapi.yaml documents a code this table lacks.

/** People-facing text by the envelope's `code`. */
export const ERROR_MESSAGES: Record<string, string> = {
  unauthorized: "Your session has ended. Sign in again to continue.",
  method_not_allowed: "That action is not available here.",
  temporarily_unavailable: "Billing is briefly unavailable. Please try again in a moment.",
  rate_limited: "Too many attempts in a short time. Please wait a minute and try again.",
  body_too_large: "The request was too large to send.",
  unsupported_media_type: "The request was sent in a format billing does not accept.",
  invalid_body: "The request was not understood. Reload the page and try again.",
  invalid_tier: "That plan does not exist.",
  invalid_billing_cycle: "That billing period does not exist.",
  invalid_plan: "That plan is not offered with this billing period.",
  invalid_proration_date: "The price shown has expired. Open the preview again to see the current amount.",
  invalid_limit: "The payment history could not be paged. Reload the page.",
  invalid_cursor: "The payment history moved on. Showing the latest payments again.",
  invalid_amount: "That amount is outside what can be paid here.",
  invalid_currency: "That currency is not accepted.",
  invalid_description: "The payment description is too long.",
  invalid_idempotency_key: "The payment could not be identified. Reload the page and try again.",
  invalid_checkout_session_id: "The checkout link is not valid.",
  not_a_subscription_checkout: "That checkout was not for a subscription.",
  checkout_session_not_found: "That checkout could not be found for your account.",
  checkout_incomplete: "The checkout has not been paid yet. Finish paying, or choose a plan again.",
  subscription_exists: "You already have a subscription: change it with upgrade or downgrade instead.",
  no_subscription: "You have no subscription yet. Choose a plan to subscribe.",
  no_trial: "That plan has no free trial. Choose it to subscribe.",
  trial_requires_card: "That plan's trial starts with a card: choose the plan to start it in checkout.",
  trial_requires_checkout: "That plan's trial starts in checkout, which asks for your billing address.",
  invalid_flow: "That portal page does not exist. Open the portal from this page instead.",
  invalid_promotion_code: "That promotion code cannot be used here. Check it, or continue without it.",
  trial_not_available: "Your account has already had its free trial. Choose a plan to subscribe.",
  no_change: "You are already on that plan.",
  not_an_upgrade: "That plan is not an upgrade; choose downgrade instead.",
  not_a_downgrade: "That plan is not a downgrade; choose upgrade instead.",
  cancellation_pending: "Your subscription is set to end. Resume it before changing plans.",
  no_pending_change: "There is no scheduled change to withdraw.",
  change_already_applied: "The scheduled change has already taken effect.",
  not_resumable: "There is no subscription to resume.",
  not_canceling: "Your subscription is not set to end, so there is nothing to resume.",
  period_ended: "The billing period has ended; choose a plan to subscribe again.",
  payment_method_required: "No saved card. Add one in the customer portal, then try again.",
  card_declined: "Your card was declined. Try another card.",
  payment_failed: "The payment failed. Try another card.",
  no_billing_account: "You have no billing account yet. Subscribe to a plan first.",
  billing_account_conflict: "Your billing account needs attention from support.",
  customer_conflict: "Your billing account needs attention from support.",
  stripe_refused: "The payment provider refused the change.",
  payment_provider_error: "The payment provider is misconfigured. Support has been notified.",
  not_found: "Your billing record points at something that no longer exists. Contact support.",
  // The Stripe webhook's codes: never answered to the page, listed so the table is complete.
  invalid_signature: "The webhook signature did not verify.",
  invalid_payload: "The webhook body was not understood.",
  unsupported_event: "The webhook event is not handled.",
  duplicate: "The webhook event was already processed.",
  retry_later: "The webhook event will be retried.",
};

/** Codes whose server message (Stripe's reason, e.g. "Your card has insufficient funds.") adds to ours. */
const WITH_SERVER_DETAIL = new Set(["card_declined", "payment_failed", "stripe_refused"]);

/** The sentence to show for an error answer; `status` covers answers without the envelope. */
export function describeError(status: number, body: unknown): string {
  const error = typeof body === "object" && body !== null ? (body as { error?: { code?: unknown; message?: unknown } }).error : undefined;
  const code = typeof error?.code === "string" ? error.code : undefined;
  const detail = typeof error?.message === "string" ? error.message : "";
  if (code && ERROR_MESSAGES[code]) {
    return WITH_SERVER_DETAIL.has(code) && detail ? `${ERROR_MESSAGES[code]} (${detail})` : ERROR_MESSAGES[code];
  }
  if (status === 401) return ERROR_MESSAGES.unauthorized;
  if (status === 0) return "Billing could not be reached. Check your connection and try again.";
  if (status >= 500) return ERROR_MESSAGES.temporarily_unavailable;
  return detail || `Something went wrong (HTTP ${status}).`;
}
