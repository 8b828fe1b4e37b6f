import { useEffect, useState } from "preact/hooks";
import { useSession } from "../context";
import { formatDateTime, t, word, type MessageKey } from "../i18n";
import { gql, OfflineError } from "../lib/api";
import { MARK_NOTICES_READ, NOTICES } from "../lib/queries";
import { kindOf } from "../lib/roles";
import { href, onLinkClick, type Route } from "../lib/router";
import { invitationAnchor, Invitations, loadInvitations, type Invitation } from "./Invitations";

interface Notice {
  id: string;
  kind: string;
  patientId: string | null;
  patient: { displayName: string } | null;
  /** Ids and kinds only: an incident's notice has its incidentId, level and how many are inside. */
  data?: Record<string, unknown> | null;
  createdAt: string;
  readAt: string | null;
}

interface Overdue {
  id: string;
  patientId: string;
  body: string;
  createdAt: string;
  patient: { displayName: string } | null;
}

interface Data {
  myNotices: { unreadCount: number; edges: { node: Notice }[] };
  myOverdueInstructions: Overdue[];
}

const KNOWN = new Set(["post_mention", "urgent_unread", "glass_opened", "member_offboarded"]);
const INCIDENT_KINDS = new Set(["incident_started", "incident_pending"]);
/** An invitation to a care team (no patient: the invitee learns whose team on accepting). */
const INVITATION_KIND = "team_invitation";

const invitationOf = (notice: Notice): string | null =>
  notice.kind === INVITATION_KIND && typeof notice.data?.invitationId === "string" ? notice.data.invitationId : null;

export function noticeText(notice: Notice): string {
  if (INCIDENT_KINDS.has(notice.kind)) {
    const data = notice.data ?? {};
    const level = typeof data.level === "number" ? data.level : "?";
    const patients = typeof data.patients === "number" ? data.patients : "?";
    return t(`notices.${notice.kind}` as MessageKey, { level, patients });
  }
  if (notice.kind === INVITATION_KIND) {
    const role = typeof notice.data?.role === "string" ? notice.data.role.toUpperCase() : "";
    return t("notices.team_invitation", { role: role ? word("role", role) : "—" });
  }
  const key = `notices.${KNOWN.has(notice.kind) ? notice.kind : "other"}` as MessageKey;
  return t(key, { patient: notice.patient?.displayName ?? "" });
}

/** Where a notice leads: an incident's to the incident (a planner) or to my safety checks (the
 *  carers, whose people are inside); a break-the-glass opening to the care team, where
 *  coordinators see who opened the record and why; anything else to the notebook. */
function noticeRoute(notice: Notice, planner: boolean): Route | null {
  if (INCIDENT_KINDS.has(notice.kind)) {
    const incidentId = typeof notice.data?.incidentId === "string" ? notice.data.incidentId : null;
    // A pending one is confirmed from the home's incident list; one in force opens on its list.
    if (planner) return incidentId && notice.kind === "incident_started" ? { name: "incident", incidentId } : { name: "home" };
    return { name: "safety" };
  }
  if (!notice.patientId) return null;
  const patientId = notice.patientId;
  return notice.kind === "glass_opened" ? { name: "team", patientId } : { name: "timeline", patientId };
}

// Notices are read once shown: opening this screen marks the unread ones read.
export function Notices() {
  const { notify, me } = useSession();
  const planner = kindOf(me) === "planner" || kindOf(me) === "municipality";
  const [data, setData] = useState<Data | null>(null);
  const [invitations, setInvitations] = useState<Invitation[]>([]);

  useEffect(() => {
    void loadInvitations().then(setInvitations);
    void (async () => {
      try {
        const loaded = await gql<Data>(NOTICES);
        setData(loaded);
        const unread = loaded.myNotices.edges.map((e) => e.node).filter((n) => !n.readAt);
        if (unread.length) await gql(MARK_NOTICES_READ, { ids: unread.map((n) => n.id) });
      } catch (caught) {
        notify(caught instanceof OfflineError ? t("app.offline") : t("app.error", { message: String(caught) }));
        setData({ myNotices: { unreadCount: 0, edges: [] }, myOverdueInstructions: [] });
      }
    })();
  }, []);

  if (!data) return <p>{t("app.loading")}</p>;
  const notices = data.myNotices.edges.map((e) => e.node);
  return (
    <section class="stack">
      <h1>{t("notices.title")}</h1>
      <Invitations
        invitations={invitations}
        onAnswered={(id) => setInvitations((current) => current.filter((i) => i.id !== id))}
      />
      {data.myOverdueInstructions.length > 0 && (
        <>
          <h2>{t("notices.overdue")}</h2>
          <ul class="notices">
            {data.myOverdueInstructions.map((post) => (
              <li key={post.id} class="notice overdue">
                <a
                  href={`/patients/${encodeURIComponent(post.patientId)}`}
                  onClick={(e) => onLinkClick(e, { name: "timeline", patientId: post.patientId })}
                >
                  <span class="name">{post.patient?.displayName}</span>
                  <span class="sub">{post.body}</span>
                  <span class="sub">{formatDateTime(post.createdAt)}</span>
                </a>
              </li>
            ))}
          </ul>
        </>
      )}
      {notices.length === 0 ? (
        <p class="empty">{t("notices.empty")}</p>
      ) : (
        <ul class="notices" aria-label={t("notices.title")}>
          {notices.map((notice) => {
            const route = noticeRoute(notice, planner);
            const invitationId = invitationOf(notice);
            const open = invitationId !== null && invitations.some((i) => i.id === invitationId);
            return (
              <li key={notice.id} class={`${notice.readAt ? "notice" : "notice unread"} kind-${notice.kind}`}>
                {route ? (
                  <a href={href(route)} onClick={(e) => onLinkClick(e, route)}>
                    <NoticeBody notice={notice} planner={planner} />
                  </a>
                ) : open ? (
                  // To the invitation above, where it is accepted or declined.
                  <a href={`#${invitationAnchor(invitationId)}`} onClick={(e) => toInvitation(e, invitationId)}>
                    <NoticeBody notice={notice} planner={planner} hint={t("notices.toAnswer")} />
                  </a>
                ) : (
                  <div>
                    <NoticeBody
                      notice={notice}
                      planner={planner}
                      hint={invitationId !== null ? t("notices.invitationClosed") : undefined}
                    />
                  </div>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

/** Moves to the invitation's card and puts focus on it (its buttons are next). */
function toInvitation(event: MouseEvent, invitationId: string): void {
  const target = document.getElementById(invitationAnchor(invitationId));
  if (!target) return;
  event.preventDefault();
  target.scrollIntoView({ block: "center" });
  target.focus();
}

function NoticeBody({ notice, planner, hint }: { notice: Notice; planner: boolean; hint?: string }) {
  return (
    <>
      {!notice.readAt && <span class="badge urgent">{t("notices.unread")}</span>}
      <span class="name">{noticeText(notice)}</span>
      {INCIDENT_KINDS.has(notice.kind) && (
        <span class="sub link-hint">
          {t(!planner ? "notices.toChecks" : notice.kind === "incident_pending" ? "notices.toConfirm" : "notices.toIncident")}
        </span>
      )}
      {hint && <span class="sub link-hint">{hint}</span>}
      <span class="sub">{formatDateTime(notice.createdAt)}</span>
    </>
  );
}
