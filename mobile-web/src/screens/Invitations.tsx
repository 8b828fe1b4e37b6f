import { useEffect, useState } from "preact/hooks";
import { useSession } from "../context";
import { formatDate, t, word } from "../i18n";
import { ApiError, gql, OfflineError } from "../lib/api";
import { PATIENTS_CHANGED_EVENT } from "../lib/events";
import { ACCEPT_INVITATION, DECLINE_INVITATION, MY_INVITATIONS } from "../lib/queries";
import { onLinkClick } from "../lib/router";

export interface Invitation {
  id: string;
  role: string;
  createdAt: string;
  expiresAt: string;
  invitedBy: { displayName: string; profession: string | null } | null;
}

/** The user's open invitations; none when offline or refused (they are asked for again later). */
export async function loadInvitations(): Promise<Invitation[]> {
  try {
    return (await gql<{ myInvitations: Invitation[] }>(MY_INVITATIONS)).myInvitations;
  } catch {
    return [];
  }
}

/** Invitations to care teams, answered here (on the notices screen), which loads them and
 *  passes them in (its notices of an invitation lead to one of these). The API does not say
 *  which patient an invitation is for: the patient shows in the list once accepted. */
export function Invitations(props: { invitations: Invitation[]; onAnswered(id: string): void }) {
  const { notify } = useSession();
  const { invitations } = props;
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState("");

  const answer = async (invitation: Invitation, accept: boolean) => {
    setBusy(invitation.id);
    setError("");
    try {
      await gql(accept ? ACCEPT_INVITATION : DECLINE_INVITATION, { id: invitation.id });
      props.onAnswered(invitation.id);
      notify(t(accept ? "invitations.accepted" : "invitations.declined"));
      dispatchEvent(new Event(PATIENTS_CHANGED_EVENT));
    } catch (caught) {
      setError(
        caught instanceof OfflineError
          ? t("invitations.offline")
          : caught instanceof ApiError && caught.code === "NOT_FOUND"
            ? t("invitations.gone")
            : t("invitations.failed", { message: caught instanceof ApiError ? caught.message : String(caught) }),
      );
      if (caught instanceof ApiError && caught.code === "NOT_FOUND") props.onAnswered(invitation.id);
    } finally {
      setBusy(null);
    }
  };

  if (invitations.length === 0 && !error) return null;
  return (
    <section class="stack" aria-labelledby="invitations-title">
      <h2 id="invitations-title">{t("invitations.title")}</h2>
      <p class="note">{t("invitations.patientLater")}</p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <ul class="notices invitations">
        {invitations.map((invitation) => (
          <li key={invitation.id} class="notice invitation" id={invitationAnchor(invitation.id)} tabIndex={-1}>
            <div>
              <span class="name">{t("invitations.from", { name: invitation.invitedBy?.displayName ?? "—" })}</span>
              <span class="sub">
                {t("invitations.detail", { role: word("role", invitation.role), date: formatDate(invitation.expiresAt) })}
              </span>
              <div class="actions">
                <button
                  type="button"
                  class="primary"
                  disabled={busy === invitation.id}
                  onClick={() => void answer(invitation, true)}
                >
                  {t("invitations.accept")}
                </button>
                <button type="button" disabled={busy === invitation.id} onClick={() => void answer(invitation, false)}>
                  {t("invitations.decline")}
                </button>
              </div>
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The element id of an invitation on the notices screen, where its notice leads. */
export function invitationAnchor(id: string): string {
  return `invitation-${id.replace(/[^A-Za-z0-9_-]/g, "")}`;
}

/** On the patient list: a link to the notices when invitations wait for an answer. */
export function InvitationsLink() {
  const [count, setCount] = useState(0);
  useEffect(() => void loadInvitations().then((found) => setCount(found.length)), []);
  if (!count) return null;
  return (
    <a class="button invitations-link" href="/notices" onClick={(e) => onLinkClick(e, { name: "notices" })}>
      {t("invitations.banner", { count })}
    </a>
  );
}
