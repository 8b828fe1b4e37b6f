// The vital signs' ranges come from the server (vitalSigns), the one source createPost checks
// against: the form says what the server would answer before the post is sent. Kept on the
// phone (not patient data) so a form opened offline checks too.
import { gql } from "./api";
import type { VitalName } from "./types";

export interface VitalSign {
  name: VitalName;
  unit: string;
  min: number;
  max: number;
  whole: boolean;
  usualLow: number | null;
  usualHigh: number | null;
}

export const VITAL_SIGNS = `query { vitalSigns { name unit min max whole usualLow usualHigh } }`;
const KEPT = "renraku.vitalSigns";

/** What the server would make of a value typed for `sign`. */
export type VitalCheck =
  | { state: "empty" }
  | { state: "ok"; value: number }
  | { state: "unusual"; value: number }
  | { state: "notNumber" }
  | { state: "notWhole" }
  | { state: "outside" };

export function checkVital(sign: VitalSign | undefined, raw: string): VitalCheck {
  const text = raw.trim().replace(",", ".");
  if (!text) return { state: "empty" };
  const value = Number(text);
  if (!Number.isFinite(value)) return { state: "notNumber" };
  if (!sign) return { state: "ok", value }; // ranges not known yet: the server decides
  if (value < sign.min || value > sign.max) return { state: "outside" };
  if (sign.whole && !Number.isInteger(value)) return { state: "notWhole" };
  const usual =
    sign.usualLow === null || sign.usualHigh === null || (value >= sign.usualLow && value <= sign.usualHigh);
  return usual ? { state: "ok", value } : { state: "unusual", value };
}

export function keptSigns(): Map<VitalName, VitalSign> {
  try {
    const kept = JSON.parse(localStorage.getItem(KEPT) ?? "[]") as VitalSign[];
    return new Map(kept.map((s) => [s.name, s]));
  } catch {
    return new Map();
  }
}

/** The ranges, fetched afresh when the network allows and kept for next time. */
export async function loadSigns(): Promise<Map<VitalName, VitalSign>> {
  try {
    const { vitalSigns } = await gql<{ vitalSigns: VitalSign[] }>(VITAL_SIGNS);
    localStorage.setItem(KEPT, JSON.stringify(vitalSigns));
    return new Map(vitalSigns.map((s) => [s.name, s]));
  } catch {
    return keptSigns();
  }
}
