// What the page knows and how it asks: its configuration, the signed-in session, the typed API
// client, the state the views draw, and the runner every button's action goes through.
import { createTierflowClient, type Schema } from "../../../../clients/typescript/src/index";
import { Session } from "./auth";
import { describeError } from "./errors";

type BillingConfig = Schema<"BillingConfig">;
type Plan = BillingConfig["plans"][number];
export type Subscription = Schema<"Subscription">;
export type Preview = Schema<"Preview">;
export type Cycle = Schema<"BillingCycle">;
export type Tier = Schema<"Tier">;
type Card = Schema<"PaymentMethods">["payment_methods"][number];
type History = Schema<"History">;
export type Transaction = History["transactions"][number];

/** The configuration the function puts in the page (see functions/billing-page/src/page.rs). */
interface PageConfig {
  api_base_url: string;
  oidc_issuer: string;
  oidc_client_id: string;
  stripe_js_url: string;
}

/** An API answer other than success, with what to tell the person. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(describeError(status, body));
  }

  /** The envelope's `error.code`, when the answer had one. */
  get code(): string | undefined {
    return (this.body as { error?: { code?: string } } | undefined)?.error?.code;
  }
}

export const pageConfig = JSON.parse(document.getElementById("billing-config")?.textContent ?? "{}") as PageConfig;
export const pageUrl = `${location.origin}${location.pathname}`;
export const session = new Session(pageConfig.oidc_issuer, pageConfig.oidc_client_id, pageUrl);
export const api = createTierflowClient({
  baseUrl: pageConfig.api_base_url || location.origin,
  accessToken: () => session.accessToken(),
});

export interface Notice {
  kind: "error" | "success" | "info";
  text: string;
}

export const state: {
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

/** The answer's data, or an {@link ApiFailure}; a 401 also signs the person out. */
export async function call<T>(request: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
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

export function planOf(tier: Tier): Plan | undefined {
  return state.catalog?.plans.find((p) => p.tier === tier);
}

export function priceOf(tier: Tier, cycle: Cycle | null | undefined) {
  return planOf(tier)?.prices.find((p) => p.billing_cycle === (cycle ?? "monthly"));
}

/** The catalog's rank of a tier (a higher rank is an upgrade); -1 for a tier it lacks. */
export function rankOf(tier: Tier): number {
  return planOf(tier)?.rank ?? -1;
}

/** A subscription that renews or will end, as opposed to none at all (the free tier is none). */
export function isSubscribed(s: Subscription | undefined): s is Subscription {
  return !!s && !["none", "canceled", "incomplete_expired"].includes(s.status) && !planOf(s.tier)?.free;
}

/** Draws the page from `state`: main.ts sets it to views.ts's `render` (the views import the
 * actions, so the actions cannot import the views). */
let draw: () => void = () => {};

export function setView(view: () => void): void {
  draw = view;
}

/** Draws the page again from `state`. */
export function redraw(): void {
  draw();
}

/** Runs an action started by button `id`: busy state, then the outcome as a notice. */
export async function act(id: string, action: () => Promise<Notice | void>): Promise<void> {
  if (state.busy) return;
  state.busy = id;
  state.notice = undefined;
  redraw();
  try {
    const notice = await action();
    state.notice = notice ?? undefined;
  } catch (e) {
    state.notice = { kind: "error", text: e instanceof Error ? e.message : String(e) };
  } finally {
    state.busy = undefined;
    redraw();
  }
}
