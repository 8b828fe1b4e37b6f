// Break-the-glass on the care-team screen: the openings of a patient's record by clinicians not on
// its team, read out of the access history the coordinator already gets. An opening is logged
// without its reason (action `access.glass_opened`); the reads it allowed carry the reason
// (basis `glass`), so each opening takes the reason of the first read after it by the same person.

export interface AccessEntry {
  at: string;
  action: string;
  decision: string;
  actor: { displayName: string; profession: string | null } | null;
  basis: { kind: string; reason: string | null } | null;
}

export interface GlassOpening {
  at: string;
  actor: { displayName: string; profession: string | null } | null;
  reason: string | null;
  reads: number;
}

export const GLASS_OPENED = "access.glass_opened";

/** The openings found in `entries` (any order), newest first. Reads on a glass basis whose
 *  opening lies beyond the page become an opening of their own, dated by their first read. */
export function glassOpenings(entries: AccessEntry[]): GlassOpening[] {
  const oldestFirst = [...entries].sort((a, b) => a.at.localeCompare(b.at));
  const openings: GlassOpening[] = [];
  const latest = new Map<string, GlassOpening>();
  for (const entry of oldestFirst) {
    const who = entry.actor?.displayName ?? "";
    if (entry.action === GLASS_OPENED && entry.decision === "allow") {
      const opening: GlassOpening = { at: entry.at, actor: entry.actor, reason: null, reads: 0 };
      openings.push(opening);
      latest.set(who, opening);
    } else if (entry.basis?.kind === "glass") {
      let opening = latest.get(who);
      if (!opening) {
        opening = { at: entry.at, actor: entry.actor, reason: null, reads: 0 };
        openings.push(opening);
        latest.set(who, opening);
      }
      opening.reads += 1;
      opening.reason ??= entry.basis.reason;
    }
  }
  return openings.reverse();
}
