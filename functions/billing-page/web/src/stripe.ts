// Stripe.js, loaded from the configured URL (Stripe's own in production, the emulator's stand-in
// locally), used for the one thing the page needs it for: 3-D Secure on an upgrade's payment.

interface StripeInstance {
  handleNextAction(options: { clientSecret: string }): Promise<{
    paymentIntent?: { id: string; status: string };
    error?: { message?: string };
  }>;
}

declare global {
  interface Window {
    Stripe?: (publishableKey: string) => StripeInstance;
  }
}

let loading: Promise<void> | undefined;

function load(url: string): Promise<void> {
  loading ??= new Promise<void>((resolve, reject) => {
    const script = document.createElement("script");
    script.src = url;
    script.async = true;
    script.onload = () => resolve();
    script.onerror = () => {
      loading = undefined;
      reject(new Error("Stripe.js could not be loaded"));
    };
    document.head.append(script);
  });
  return loading;
}

/** What came of authenticating a payment. */
export type ActionOutcome = { ok: true } | { ok: false; message: string };

/** Runs the payment's next action (3-D Secure) in Stripe's dialog. */
export async function authenticatePayment(stripeJsUrl: string, publishableKey: string, clientSecret: string): Promise<ActionOutcome> {
  await load(stripeJsUrl);
  if (!window.Stripe) return { ok: false, message: "Stripe.js did not start" };
  const result = await window.Stripe(publishableKey).handleNextAction({ clientSecret });
  if (result.error) return { ok: false, message: result.error.message ?? "The card was not authenticated." };
  const status = result.paymentIntent?.status;
  if (status === "succeeded" || status === "processing") return { ok: true };
  return { ok: false, message: "The card was not authenticated." };
}
