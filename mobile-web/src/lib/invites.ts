// The invitations a coordinator sent from this phone, per patient. The API lists a user's own
// invitations (myInvitations) but not a team's open ones, so the team screen shows those sent
// here, until the invitee is on the team or the invitation has expired. Signing out wipes them
// with the rest of the store.
import type { Store } from "./store";

export interface SentInvitation {
  id: string;
  role: string;
  createdAt: string;
  expiresAt: string;
  invitee: { id: string; displayName: string } | null;
}

const key = (patientId: string) => `invites:${patientId}`;

export async function sentInvitations(db: Store, patientId: string): Promise<SentInvitation[]> {
  return ((await db.get("meta", key(patientId))) as SentInvitation[] | undefined) ?? [];
}

export async function rememberInvitation(db: Store, patientId: string, invitation: SentInvitation): Promise<void> {
  const kept = await sentInvitations(db, patientId);
  await db.put("meta", [invitation, ...kept.filter((i) => i.id !== invitation.id)], key(patientId));
}

/** Those still open as far as the phone can tell: not expired, the invitee not on the team yet.
 *  The rest are forgotten. */
export async function openInvitations(
  db: Store,
  patientId: string,
  memberIds: Set<string>,
  now: number = Date.now(),
): Promise<SentInvitation[]> {
  const kept = await sentInvitations(db, patientId);
  const open = kept.filter((i) => Date.parse(i.expiresAt) > now && !(i.invitee && memberIds.has(i.invitee.id)));
  if (open.length !== kept.length) await db.put("meta", open, key(patientId));
  return open;
}
