// The reference billing page: the caller's plan, plan changes with exact previews, cancel and
// resume, saved cards, payment history. Everything it shows comes from the Tierflow API through
// the typed client generated from openapi.yaml.
import { loadAll, openPortal } from "./flows";
import { titleCase } from "./format";
import { api, call, pageUrl, session, setView, state } from "./state";
import { render } from "./views";

setView(render);

async function boot(): Promise<void> {
  const params = new URLSearchParams(location.search);
  try {
    await session.completeSignIn(params);
  } catch (e) {
    state.notice = { kind: "error", text: `Sign-in failed: ${e instanceof Error ? e.message : e}` };
  }
  const checkoutSession = params.get("checkout_session_id");
  const cancelled = params.has("checkout_cancelled");
  const addCard = location.hash === "#add-card";
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
    } else if (addCard) {
      history.replaceState(null, "", pageUrl);
      await openPortal("payment_method_update");
      return;
    }
    await loadAll();
  } catch (e) {
    state.notice = { kind: "error", text: e instanceof Error ? e.message : String(e) };
  }
  state.loading = false;
  render();
}

void boot();
