import { useEffect, useRef, useState } from "preact/hooks";
import { useSession } from "../context";
import { formatDate, formatDateTime, t, word } from "../i18n";
import { ApiError, gql, gqlPartial, OfflineError } from "../lib/api";
import { PATIENTS_CHANGED_EVENT } from "../lib/events";
import { glassOpenings, type AccessEntry } from "../lib/glass";
import { openInvitations, rememberInvitation, type SentInvitation } from "../lib/invites";
import { COLLEAGUES, END_MEMBERSHIP, INVITE, TEAM } from "../lib/queries";
import { onLinkClick } from "../lib/router";
import type { Store } from "../lib/store";

interface Member {
  role: string;
  since: string;
  until: string | null;
  user: { id: string; username: string; displayName: string; profession: string | null };
}

type Access = AccessEntry;

interface TeamData {
  patient: {
    id: string;
    displayName: string;
    myRoles: string[];
    careTeam: { members: Member[] } | null;
    accessHistory: { edges: { node: Access }[] } | null; // null for all but coordinators
  } | null;
}

const ROLE_ORDER = ["COORDINATOR", "MEMBER", "FAMILY"];


export function Team({ patientId }: { patientId: string }) {
  const { me, db, notify } = useSession();
  const [data, setData] = useState<TeamData["patient"] | undefined>(undefined);
  const [ending, setEnding] = useState<Member | null>(null);
  const [reason, setReason] = useState("");
  const [error, setError] = useState("");
  const [invited, setInvited] = useState<SentInvitation[]>([]);

  const load = async () => {
    try {
      const { data: loaded } = await gqlPartial<TeamData>(TEAM, { id: patientId });
      setData(loaded?.patient ?? null);
      const memberIds = new Set((loaded?.patient?.careTeam?.members ?? []).map((m) => m.user.id));
      setInvited(await openInvitations(db, patientId, memberIds));
    } catch (caught) {
      setError(caught instanceof OfflineError ? t("app.offline") : t("app.error", { message: String(caught) }));
    }
  };
  useEffect(() => {
    void load();
    // Live: a change on the team (an invitee joins, a member leaves) reaches the shell through the
    // user's feed; a burst of events makes one reload.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const changed = () => {
      clearTimeout(timer);
      timer = setTimeout(() => void load(), 500);
    };
    addEventListener(PATIENTS_CHANGED_EVENT, changed);
    return () => {
      clearTimeout(timer);
      removeEventListener(PATIENTS_CHANGED_EVENT, changed);
    };
  }, [patientId]);

  if (data === undefined) return <p>{error || t("app.loading")}</p>;
  if (data === null) return <p class="empty">{t("timeline.gone")}</p>;
  const coordinator = data.myRoles.some((r) => r.toUpperCase() === "COORDINATOR");
  const members = [...(data.careTeam?.members ?? [])].sort(
    (a, b) => ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role) || a.user.displayName.localeCompare(b.user.displayName, "ja"),
  );

  const end = async (event: Event) => {
    event.preventDefault();
    if (!ending || !reason.trim()) return;
    try {
      await gql(END_MEMBERSHIP, { p: patientId, u: ending.user.id, reason: reason.trim() });
      notify(t("team.ended", { name: ending.user.displayName }));
      setEnding(null);
      setReason("");
      await load();
    } catch (caught) {
      setError(caught instanceof ApiError ? caught.message : t("app.offline"));
    }
  };

  return (
    <section class="stack">
      <a class="back" href={`/patients/${encodeURIComponent(patientId)}`} onClick={(e) => onLinkClick(e, { name: "timeline", patientId })}>
        ← {data.displayName}
      </a>
      <h1>{t("team.title")}</h1>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <ul class="members" aria-label={t("team.title")}>
        {members.map((m) => (
          <li key={m.user.id} class="member">
            <span class="name">{m.user.displayName}</span>
            <span class="sub">
              {word("role", m.role)}
              {m.user.profession ? ` · ${word("profession", m.user.profession)}` : ""}
              {" · "}
              {t("team.since", { date: formatDate(m.since) })}
              {m.until ? ` · ${t("team.until", { date: formatDate(m.until) })}` : ""}
            </span>
            {coordinator && m.user.username !== me.username && ending !== m && (
              <button type="button" onClick={() => setEnding(m)}>
                {t("team.end")}
              </button>
            )}
            {ending === m && (
              <form class="stack" onSubmit={end}>
                <label class="field">
                  <span>{t("team.endReason")}</span>
                  <input name="reason" required value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
                </label>
                <div class="actions">
                  <button type="submit" class="primary">
                    {t("team.endConfirm")}
                  </button>
                  <button type="button" onClick={() => setEnding(null)}>
                    {t("compose.cancel")}
                  </button>
                </div>
              </form>
            )}
          </li>
        ))}
      </ul>
      {coordinator && (
        <Invite
          db={db}
          patientId={patientId}
          memberIds={new Set(members.filter((m) => !m.until || Date.parse(m.until) > Date.now()).map((m) => m.user.id))}
          invitedIds={new Set(invited.flatMap((i) => (i.invitee ? [i.invitee.id] : [])))}
          onInvited={(invitation) => {
            notify(t("team.invited", { name: invitation.invitee?.displayName ?? "" }));
            setInvited([invitation, ...invited]);
            void load(); // the access history has the invitation now
          }}
        />
      )}
      {coordinator && invited.length > 0 && (
        <section class="stack" aria-labelledby="team-invited">
          <h2 id="team-invited">{t("team.invitedTitle")}</h2>
          <p class="note">{t("team.invitedNote")}</p>
          <ul class="members invitations">
            {invited.map((i) => (
              <li key={i.id} class="member">
                <span class="name">{i.invitee?.displayName ?? "—"}</span>
                <span class="sub">
                  {word("role", i.role)} · {t("team.invitedAt", { date: formatDateTime(i.createdAt) })} ·{" "}
                  {t("team.expires", { date: formatDate(i.expiresAt) })}
                </span>
              </li>
            ))}
          </ul>
        </section>
      )}
      {data.accessHistory && <Glass entries={data.accessHistory.edges.map((e) => e.node)} />}
      {data.accessHistory && (
        <>
          <h2>{t("team.history")}</h2>
          {data.accessHistory.edges.length === 0 ? (
            <p class="empty">{t("team.historyNone")}</p>
          ) : (
            <ol class="history">
              {data.accessHistory.edges.map(({ node }, i) => (
                <li key={i} class={node.basis?.kind === "glass" ? "glass" : ""}>
                  <span class="name">{node.actor?.displayName ?? "—"}</span>
                  <span class="sub">
                    {t(node.decision === "deny" ? "access.deny" : "access.allow", { action: word("access", node.action) })}
                    {node.basis ? ` · ${word("basis", node.basis.kind)}` : ""}
                    {node.basis?.reason ? ` (${node.basis.reason})` : ""}
                    {" · "}
                    {formatDateTime(node.at)}
                  </span>
                </li>
              ))}
            </ol>
          )}
        </>
      )}
    </section>
  );
}

/** Break-the-glass openings of this record, for its coordinators: who, when, why. */
function Glass({ entries }: { entries: Access[] }) {
  const openings = glassOpenings(entries);
  return (
    <section class="stack" aria-labelledby="team-glass">
      <h2 id="team-glass">{t("team.glassTitle")}</h2>
      {openings.length === 0 ? (
        <p class="empty">{t("team.glassNone")}</p>
      ) : (
        <ol class="history glass-openings">
          {openings.map((o, i) => (
            <li key={i} class="glass">
              <span class="name">
                {o.actor?.displayName ?? "—"}
                {o.actor?.profession ? ` · ${word("profession", o.actor.profession)}` : ""}
              </span>
              <span class="sub">{t("team.glassOpened", { date: formatDateTime(o.at) })}</span>
              <span class="sub">{t("team.glassReason", { reason: o.reason ?? t("team.glassNoReason") })}</span>
              {o.reads > 0 && <span class="sub">{t("team.glassReads", { count: o.reads })}</span>}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

interface Colleague {
  id: string;
  username: string;
  displayName: string;
  displayNameKana: string;
  kind: string;
  profession: string | null;
}

interface ColleaguesData {
  patients: { edges: { node: { id: string; careTeam: { members: { user: Colleague }[] } | null } }[] };
}

const INVITE_ROLES = ["MEMBER", "COORDINATOR"] as const;

/** Invite a professional: one the coordinator already works with on her other patients' teams
 *  (the API has no search of users), in a role. */
function Invite(props: {
  db: Store;
  patientId: string;
  memberIds: Set<string>;
  invitedIds: Set<string>;
  onInvited(invitation: SentInvitation): void;
}) {
  const [open, setOpen] = useState(false);
  const [people, setPeople] = useState<Colleague[] | null>(null);
  const [filter, setFilter] = useState("");
  const [chosen, setChosen] = useState("");
  const [role, setRole] = useState<string>("MEMBER");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (open) first.current?.focus();
  }, [open]);

  const start = async () => {
    setOpen(true);
    setError("");
    try {
      const { data } = await gqlPartial<ColleaguesData>(COLLEAGUES);
      const found = new Map<string, Colleague>();
      for (const { node } of data?.patients.edges ?? []) {
        for (const { user } of node.careTeam?.members ?? []) {
          if (user.kind === "PROFESSIONAL") found.set(user.id, user);
        }
      }
      setPeople([...found.values()].sort((a, b) => a.displayNameKana.localeCompare(b.displayNameKana, "ja")));
    } catch (caught) {
      setError(caught instanceof OfflineError ? t("team.inviteOffline") : t("app.error", { message: String(caught) }));
      setPeople([]);
    }
  };

  if (!open) {
    return (
      <div class="actions">
        <button type="button" onClick={() => void start()}>
          {t("team.invite")}
        </button>
      </div>
    );
  }

  const wanted = filter.trim().toLowerCase();
  const candidates = (people ?? []).filter(
    (p) =>
      !props.memberIds.has(p.id) &&
      !props.invitedIds.has(p.id) &&
      (!wanted || [p.displayName, p.displayNameKana, p.username].some((s) => s.toLowerCase().includes(wanted))),
  );
  const selected = candidates.find((p) => p.id === chosen) ?? null;

  const submit = async (event: Event) => {
    event.preventDefault();
    if (!selected) return setError(t("team.invitePick"));
    setBusy(true);
    setError("");
    try {
      const { inviteToTeam } = await gql<{ inviteToTeam: SentInvitation }>(INVITE, {
        p: props.patientId,
        u: selected.id,
        role,
      });
      await rememberInvitation(props.db, props.patientId, inviteToTeam);
      props.onInvited(inviteToTeam);
      setOpen(false);
      setChosen("");
      setFilter("");
    } catch (caught) {
      setError(inviteError(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="stack card invite" onSubmit={submit} aria-labelledby="team-invite">
      <h2 id="team-invite">{t("team.invite")}</h2>
      <p class="note">{t("team.inviteWho")}</p>
      <label class="field">
        <span>{t("team.inviteFilter")}</span>
        <input ref={first} type="search" name="inviteFilter" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
      </label>
      <label class="field">
        <span>{t("team.invitePerson")}</span>
        <select name="invitee" value={chosen} onChange={(e) => setChosen(e.currentTarget.value)} disabled={people === null}>
          <option value="">{people === null ? t("app.loading") : t("team.invitePickOption", { count: candidates.length })}</option>
          {candidates.map((p) => (
            <option key={p.id} value={p.id}>
              {p.displayName}
              {p.profession ? ` (${word("profession", p.profession)})` : ""}
            </option>
          ))}
        </select>
      </label>
      <label class="field">
        <span>{t("team.inviteRole")}</span>
        <select name="role" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
          {INVITE_ROLES.map((r) => (
            <option key={r} value={r}>
              {word("role", r)}
            </option>
          ))}
        </select>
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {t("team.inviteSend")}
        </button>
        <button type="button" onClick={() => setOpen(false)}>
          {t("compose.cancel")}
        </button>
      </div>
    </form>
  );
}

/** What the coordinator is told when an invitation is not sent, in her language. */
function inviteError(caught: unknown): string {
  if (caught instanceof OfflineError) return t("team.inviteOffline");
  if (caught instanceof ApiError) {
    if (caught.code === "BAD_USER_INPUT" && caught.field === "userId") return t("team.inviteTaken");
    if (caught.code === "BAD_USER_INPUT" && caught.field === "role") return t("team.inviteWrongRole");
    if (caught.code === "NOT_FOUND") return t("team.inviteNotFound");
    if (caught.code === "FORBIDDEN") return t("team.inviteForbidden");
    return t("team.inviteRefused", { message: caught.message });
  }
  return t("team.inviteRefused", { message: String(caught) });
}
