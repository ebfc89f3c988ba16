// The Tierflow billing API as a typed client: `paths` and `components` are generated from
// openapi.yaml by openapi-typescript (src/schema.d.ts, never edited by hand); openapi-fetch
// turns them into a fetch wrapper whose paths, parameters, bodies and answers are checked.
import createFetchClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, operations, paths } from "./schema";

export type { components, operations, paths };

/** A schema of openapi.yaml by name, e.g. `Schema<"Subscription">`. */
export type Schema<Name extends keyof components["schemas"]> = components["schemas"][Name];

/** The error envelope every failure answers: `{"error": {"code", "message"}}`. */
export type ApiError = Schema<"Error">;

/** A client of the billing API. */
export type TierflowClient = Client<paths>;

/** Options of {@link createTierflowClient}. */
export interface TierflowClientOptions {
  /** The API's origin, e.g. `https://abc.execute-api.us-east-1.amazonaws.com`. */
  baseUrl: string;
  /** The caller's bearer token (an OIDC access token), read before every request. */
  accessToken?: () => string | undefined | Promise<string | undefined>;
  /** A fetch implementation (defaults to the global one). */
  fetch?: typeof globalThis.fetch;
}

/** A typed client that sends the caller's access token as `Authorization: Bearer …`. */
export function createTierflowClient(options: TierflowClientOptions): TierflowClient {
  const client = createFetchClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    fetch: options.fetch,
  });
  const { accessToken } = options;
  if (accessToken) {
    const bearer: Middleware = {
      async onRequest({ request }) {
        const token = await accessToken();
        if (token) request.headers.set("Authorization", `Bearer ${token}`);
        return request;
      },
    };
    client.use(bearer);
  }
  return client;
}

/** The `code` of an error envelope, or undefined for anything else (e.g. API Gateway's 401). */
export function errorCode(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}
