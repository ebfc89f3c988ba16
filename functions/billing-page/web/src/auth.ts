// Sign-in with the identity provider: OpenID Connect authorization code flow with PKCE (RFC 7636)
// for a public client, endpoints discovered from `{issuer}/.well-known/openid-configuration`.
// Tokens live in sessionStorage: gone with the tab, never sent anywhere but the API.

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
  end_session_endpoint?: string;
}

interface StoredTokens {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  /** Epoch milliseconds after which the access token is refreshed first. */
  expires_at: number;
}

interface PendingSignIn {
  state: string;
  verifier: string;
  nonce: string;
}

/** Claims the page shows (from the ID token; not verified here: the API verifies the access token). */
export interface Profile {
  sub: string;
  email?: string;
  name?: string;
}

const TOKENS_KEY = "tierflow.billing.tokens";
const PENDING_KEY = "tierflow.billing.signin";

function base64Url(bytes: Uint8Array): string {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomToken(): string {
  return base64Url(crypto.getRandomValues(new Uint8Array(32)));
}

async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64Url(new Uint8Array(digest));
}

function decodeJwtPayload(jwt: string): Record<string, unknown> | undefined {
  const part = jwt.split(".")[1];
  if (!part) return undefined;
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = Uint8Array.from(json, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** The signed-in session against one issuer and client. */
export class Session {
  private discovery?: Discovery;

  constructor(
    private readonly issuer: string,
    private readonly clientId: string,
    /** This page's URL without query: where the identity provider sends the code back. */
    private readonly redirectUri: string,
  ) {}

  private async endpoints(): Promise<Discovery> {
    if (!this.discovery) {
      const response = await fetch(`${this.issuer}/.well-known/openid-configuration`);
      if (!response.ok) throw new Error(`the identity provider answered ${response.status}`);
      this.discovery = (await response.json()) as Discovery;
    }
    return this.discovery;
  }

  private get tokens(): StoredTokens | undefined {
    const raw = sessionStorage.getItem(TOKENS_KEY);
    return raw ? (JSON.parse(raw) as StoredTokens) : undefined;
  }

  private store(answer: { access_token: string; refresh_token?: string; id_token?: string; expires_in?: number }): void {
    const previous = this.tokens;
    const tokens: StoredTokens = {
      access_token: answer.access_token,
      refresh_token: answer.refresh_token ?? previous?.refresh_token,
      id_token: answer.id_token ?? previous?.id_token,
      // Refreshed 30 s early so a request never leaves with a token about to expire.
      expires_at: Date.now() + Math.max((answer.expires_in ?? 300) - 30, 5) * 1000,
    };
    sessionStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
  }

  /** True when a token is held (possibly expired: {@link accessToken} refreshes it). */
  get signedIn(): boolean {
    return this.tokens !== undefined;
  }

  /** Who is signed in, from the ID token. */
  get profile(): Profile | undefined {
    const tokens = this.tokens;
    const claims = tokens && decodeJwtPayload(tokens.id_token ?? tokens.access_token);
    if (!claims || typeof claims.sub !== "string") return undefined;
    return {
      sub: claims.sub,
      email: typeof claims.email === "string" ? claims.email : undefined,
      name: typeof claims.name === "string" ? claims.name : undefined,
    };
  }

  /** Sends the browser to the identity provider's sign-in page. */
  async signIn(): Promise<void> {
    const { authorization_endpoint } = await this.endpoints();
    const pending: PendingSignIn = { state: randomToken(), verifier: randomToken(), nonce: randomToken() };
    sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
    const url = new URL(authorization_endpoint);
    url.search = new URLSearchParams({
      response_type: "code",
      client_id: this.clientId,
      redirect_uri: this.redirectUri,
      scope: "openid email profile",
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await challengeOf(pending.verifier),
      code_challenge_method: "S256",
    }).toString();
    location.assign(url.toString());
  }

  /**
   * Finishes a sign-in when the URL holds the provider's answer (`code` and `state`); removes
   * them from the address bar either way. Throws with the provider's reason on a refusal.
   */
  async completeSignIn(params: URLSearchParams): Promise<boolean> {
    const code = params.get("code");
    const state = params.get("state");
    const refusal = params.get("error");
    if (!state || (!code && !refusal)) return false;
    const raw = sessionStorage.getItem(PENDING_KEY);
    sessionStorage.removeItem(PENDING_KEY);
    if (refusal) throw new Error(params.get("error_description") ?? refusal);
    const pending = raw ? (JSON.parse(raw) as PendingSignIn) : undefined;
    if (!pending || pending.state !== state) throw new Error("the sign-in answer does not match the request (start again)");
    const { token_endpoint } = await this.endpoints();
    await this.requestTokens(token_endpoint, {
      grant_type: "authorization_code",
      code: code ?? "",
      redirect_uri: this.redirectUri,
      client_id: this.clientId,
      code_verifier: pending.verifier,
    });
    return true;
  }

  private async requestTokens(endpoint: string, form: Record<string, string>): Promise<void> {
    const response = await fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form).toString(),
    });
    const answer = (await response.json().catch(() => ({}))) as { access_token?: string; error_description?: string; error?: string };
    if (!response.ok || !answer.access_token) {
      throw new Error(answer.error_description ?? answer.error ?? `the token endpoint answered ${response.status}`);
    }
    this.store(answer as { access_token: string });
  }

  /** A valid access token, refreshed first when it has expired; undefined when signed out. */
  async accessToken(): Promise<string | undefined> {
    const tokens = this.tokens;
    if (!tokens) return undefined;
    if (Date.now() < tokens.expires_at || !tokens.refresh_token) return tokens.access_token;
    try {
      const { token_endpoint } = await this.endpoints();
      await this.requestTokens(token_endpoint, {
        grant_type: "refresh_token",
        refresh_token: tokens.refresh_token,
        client_id: this.clientId,
      });
      return this.tokens?.access_token;
    } catch {
      this.forget();
      return undefined;
    }
  }

  /** Forgets the tokens (e.g. after the API answered 401). */
  forget(): void {
    sessionStorage.removeItem(TOKENS_KEY);
  }

  /** Signs out here and at the identity provider. */
  async signOut(): Promise<void> {
    const idToken = this.tokens?.id_token;
    this.forget();
    const { end_session_endpoint } = await this.endpoints().catch(() => ({}) as Partial<Discovery>);
    if (!end_session_endpoint) {
      location.assign(this.redirectUri);
      return;
    }
    const url = new URL(end_session_endpoint);
    url.search = new URLSearchParams({
      client_id: this.clientId,
      post_logout_redirect_uri: this.redirectUri,
      ...(idToken ? { id_token_hint: idToken } : {}),
    }).toString();
    location.assign(url.toString());
  }
}
