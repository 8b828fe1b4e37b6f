// Whom a post may mention: the server takes only active team members who can read the post
// (coordinators and members always; family only on a post visible to family) and refuses the
// whole post otherwise, so the form offers exactly those. The team is kept on the phone per
// patient (meta `team:<id>`), so a post written offline can mention too.
import { MENTIONABLE } from "./queries";
import { gql } from "./api";
import type { Store } from "./store";

export interface TeamMember {
  role: string;
  until: string | null;
  user: { id: string; username: string; displayName: string; profession: string | null };
}

const key = (patientId: string) => `team:${patientId}`;

/** The members a post may mention, by role then name; never the author. */
export function mentionable(
  members: TeamMember[],
  options: { visibleToFamily: boolean; me: string; now?: number },
): TeamMember[] {
  const now = options.now ?? Date.now();
  const roles = options.visibleToFamily ? ["COORDINATOR", "MEMBER", "FAMILY"] : ["COORDINATOR", "MEMBER"];
  return members
    .filter((m) => roles.includes(m.role) && m.user.username !== options.me && (!m.until || Date.parse(m.until) > now))
    .sort(
      (a, b) =>
        roles.indexOf(a.role) - roles.indexOf(b.role) || a.user.displayName.localeCompare(b.user.displayName, "ja"),
    );
}

export async function keptTeam(db: Store, patientId: string): Promise<TeamMember[] | null> {
  return ((await db.get("meta", key(patientId))) as TeamMember[] | undefined) ?? null;
}

/** Keep the team as read with a notebook, for a post written offline later. */
export async function keepTeam(db: Store, patientId: string, members: TeamMember[]): Promise<void> {
  await db.put("meta", members, key(patientId));
}

/** The team as the server has it now, kept for later; null when it cannot be read (offline). */
export async function fetchTeam(db: Store, patientId: string): Promise<TeamMember[] | null> {
  try {
    const data = await gql<{ patient: { careTeam: { members: TeamMember[] } | null } | null }>(MENTIONABLE, {
      id: patientId,
    });
    const members = data.patient?.careTeam?.members ?? null;
    if (members) await keepTeam(db, patientId, members);
    return members;
  } catch {
    return null;
  }
}
