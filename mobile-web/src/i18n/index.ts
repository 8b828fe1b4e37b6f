import { en } from "./en";
import { ja, type MessageKey } from "./ja";

export type Locale = "ja" | "en";
export const LOCALES: readonly Locale[] = ["ja", "en"];
export const CATALOGUES: Record<Locale, Record<MessageKey, string>> = { ja, en };
export type { MessageKey };

const STORAGE_KEY = "renraku.locale"; // a preference, not a secret: localStorage is fine

let current: Locale = initialLocale();

function initialLocale(): Locale {
  try {
    const saved = globalThis.localStorage?.getItem(STORAGE_KEY);
    if (saved === "ja" || saved === "en") return saved;
  } catch {
    // storage can be disabled; Japanese is the default
  }
  return "ja";
}

export function locale(): Locale {
  return current;
}

export function setLocale(next: Locale): void {
  current = next;
  try {
    globalThis.localStorage?.setItem(STORAGE_KEY, next);
  } catch {
    // not remembered, still switched
  }
  if (typeof document !== "undefined") document.documentElement.lang = next;
}

/** Whether `key` is in the catalogue (for words that come from the server, such as enum values). */
export function known(key: string): key is MessageKey {
  return key in CATALOGUES.ja;
}

/** The message `key` in `lang` (default: the current locale) with `{name}` parameters filled. */
export function t(key: MessageKey, params: Record<string, string | number> = {}, lang: Locale = current): string {
  const template = CATALOGUES[lang][key];
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? formatParam(params[name], lang) : whole,
  );
}

function formatParam(value: string | number, lang: Locale): string {
  return typeof value === "number" ? formatNumber(value, lang) : value;
}

const BCP47: Record<Locale, string> = { ja: "ja-JP", en: "en-GB" };

export function formatNumber(value: number, lang: Locale = current): string {
  return new Intl.NumberFormat(BCP47[lang], { maximumFractionDigits: 1 }).format(value);
}

export function formatDateTime(iso: string, lang: Locale = current): string {
  return new Intl.DateTimeFormat(BCP47[lang], {
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZone: "Asia/Tokyo",
  }).format(new Date(iso));
}

export function formatDate(iso: string, lang: Locale = current): string {
  return new Intl.DateTimeFormat(BCP47[lang], { dateStyle: "medium", timeZone: "Asia/Tokyo" }).format(
    new Date(iso),
  );
}

/** A word the server sends (an enum value, an action) through the catalogue as `prefix.value`;
 *  an unknown one as it came (a newer server). */
export function word(prefix: string, value: string): string {
  const key = `${prefix}.${value}`;
  return known(key) ? t(key) : value;
}

/** Names as a list in `lang` ("A、B" in Japanese, "A and B" in English). */
export function formatList(items: string[], lang: Locale = current): string {
  return new Intl.ListFormat(BCP47[lang], { type: "conjunction" }).format(items);
}
