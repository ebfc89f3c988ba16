// Pure formatting of the API's values for people: money in minor units, RFC 3339 dates.

/** `1900, "usd"` → `$19.00`: the currency's own number of decimals (none for JPY). */
export function formatMoney(amount: number, currency: string, locale?: string): string {
  const format = new Intl.NumberFormat(locale, { style: "currency", currency: currency.toUpperCase() });
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(amount / 10 ** digits);
}

/** `2026-12-02T09:00:00Z` → `2 Dec 2026` (in UTC, as billing periods are). */
export function formatDate(timestamp: string | null | undefined, locale?: string): string {
  if (!timestamp) return "—";
  const date = new Date(timestamp);
  if (Number.isNaN(date.getTime())) return "—";
  return date.toLocaleDateString(locale ?? "en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
}

/** `professional` → `Professional`. */
export function titleCase(word: string): string {
  return word.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

/** `api_calls` with `null` → `Unlimited API calls`; with 10000 → `10,000 API calls`. */
export function formatEntitlement(name: string, limit: number | null, locale?: string): string {
  const label = name
    .split("_")
    .map((w) => (w === "api" ? "API" : w === "gb" ? "GB" : w))
    .join(" ");
  return limit === null ? `Unlimited ${label}` : `${limit.toLocaleString(locale ?? "en-US")} ${label}`;
}
