// One line per priority reason, in the reader's language: the server sends each reason's stable
// `factor` key ("device.oxygen", "hazard.level", "visit.stale") and its `params` as JSON; the
// catalogue words them. A factor the catalogue does not know (a newer server) shows the server's
// English `text`, as do params that cannot be read.
import { known, t, type Locale, type MessageKey } from "../i18n";
import type { Reason } from "./incidents";

type Params = Record<string, string | number | null | undefined>;

function readParams(text: string): Params | null {
  if (!text) return {};
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Params) : null;
  } catch {
    return null;
  }
}

const num = (value: unknown): number | null => (typeof value === "number" && Number.isFinite(value) ? value : null);

/** "12:05" in Japan's time, from an ISO time with its offset. */
function clock(iso: unknown, lang: Locale): string | null {
  if (typeof iso !== "string") return null;
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return null;
  return new Intl.DateTimeFormat(lang === "ja" ? "ja-JP" : "en-GB", {
    hour: "2-digit",
    minute: "2-digit",
    timeZone: "Asia/Tokyo",
  }).format(when);
}

const key = (k: string): MessageKey | null => (known(k) ? k : null);

/** The reason as one line in `lang`. */
export function reasonText(reason: Reason, lang: Locale): string {
  const params = readParams(reason.params);
  if (params === null) return reason.text;
  const [group, value = ""] = reason.factor.split(/\.(.*)/s);
  switch (group) {
    case "hazard": {
      const level = num(params.level);
      if (value !== "level" || level === null) break;
      const time = clock(params.onset, lang);
      const matchedBy = key(`reason.matchedBy.${String(params.matched_by)}`);
      return t(
        "reason.hazard.level",
        {
          level,
          time: time ? t("reason.at", { time }, lang) : "",
          matched: matchedBy ? t(matchedBy, {}, lang) : String(params.matched_by ?? ""),
        },
        lang,
      );
    }
    case "time": {
      const hours = num(params.hours);
      if (value !== "onset" || hours === null) break;
      return hours > 0 ? t("reason.time.onset", { hours: Math.round(hours) }, lang) : t("reason.time.now", {}, lang);
    }
    case "device": {
      const device = key(`device.${value}`);
      if (!device) break;
      const hours = num(params.battery_hours);
      const name = t(device, {}, lang);
      return hours === null
        ? t("reason.device.unknown", { device: name }, lang)
        : t("reason.device.hours", { device: name, hours }, lang);
    }
    case "mobility":
    case "care_level": {
      const word = key(`${group === "care_level" ? "careLevel" : "mobility"}.${value}`);
      if (word) return t(word, {}, lang);
      break;
    }
    case "visit": {
      const days = num(params.days);
      if (days === null) return t("reason.visit.none", {}, lang);
      const ago = days === 0 ? t("reason.visit.today", {}, lang) : t("reason.visit.daysAgo", { days }, lang);
      return value === "stale" ? t("reason.visit.stale", { ago }, lang) : ago;
    }
    case "vulnerability": {
      const uncapped = num(params.uncapped);
      if (value === "cap" && uncapped !== null) return t("reason.cap", { uncapped }, lang);
      break;
    }
    case "safety": {
      const status = key(`safety.${value.toUpperCase()}`);
      if (status) return t("reason.resolved", { status: t(status, {}, lang) }, lang);
      break;
    }
    default: {
      const plain = key(`reason.${reason.factor}`);
      if (plain) return t(plain, {}, lang);
    }
  }
  const plain = key(`reason.${reason.factor}`);
  return plain ? t(plain, {}, lang) : reason.text;
}

/** The points a reason adds, signed ("+35", "-10"); empty for the factors that add none. */
export function reasonPoints(reason: Reason): string {
  if (!reason.points) return "";
  return reason.points > 0 ? `+${reason.points}` : `−${Math.abs(reason.points)}`;
}
