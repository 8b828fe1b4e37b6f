// Which screens an account kind gets. Planners, managers and operators have their own consoles
// later (issue 14's follow-ups); until then they land on a home page that says what exists.
import type { Me } from "./types";

export type Home = "patients" | "roleHome";

export function kindOf(me: Me): string {
  return me.kind.toLowerCase();
}

export function homeFor(me: Me): Home {
  return kindOf(me) === "professional" ? "patients" : "roleHome";
}

/** May this account open notebooks (timelines) and post? */
export function readsNotebooks(me: Me): boolean {
  return ["professional", "family", "patient"].includes(kindOf(me));
}

export function writesPosts(me: Me): boolean {
  return kindOf(me) === "professional";
}

/** Does the account get notices (its teams' news, or a planner's incidents)? */
export function getsNotices(me: Me): boolean {
  return readsNotebooks(me) || ["planner", "municipality"].includes(kindOf(me));
}
