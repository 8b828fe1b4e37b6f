import { useEffect, useRef, useState } from "preact/hooks";
import { useSession } from "../context";
import { formatDate, formatDateTime, t, word } from "../i18n";
import { ApiError, gql, gqlPartial, OfflineError } from "../lib/api";
import { PATIENTS_CHANGED_EVENT } from "../lib/events";
import { END_MEMBERSHIP, GLASS_ACCESSES, INVITE, JOINABLE, TEAM, TEAM_INVITATIONS } from "../lib/queries";
import { onLinkClick } from "../lib/router";

interface Member {
  role: string;
  since: string;
  until: string | null;
  user: { id: string; username: string; displayName: string; profession: string | null };
}

interface Access {
  at: string;
  action: string;
  decision: string;
  actor: { displayName: string; profession: string | null } | null;
  basis: { kind: string; reason: string | null } | null;
}

/** An open invitation to the team, as the server lists it. */
interface TeamInvitation {
  id: string;
  role: string;
  createdAt: string;
  expiresAt: string;
  invitee: { id: string; displayName: string; profession: string | null } | null;
  invitedBy: { displayName: string } | null;
}

/** A break-the-glass opening of the record: who, when, why, and whether still in force. */
interface GlassAccess {
  id: string;
  reason: string;
  startsAt: string;
  expiresAt: string;
  endedAt: string | null;
  active: boolean;
  user: { displayName: string; profession: string | null } | null;
}

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
  const { me, notify } = useSession();
  const [data, setData] = useState<TeamData["patient"] | undefined>(undefined);
  const [ending, setEnding] = useState<Member | null>(null);
  const [reason, setReason] = useState("");
  const [error, setError] = useState("");
  // The team's open invitations and its break-the-glass openings: asked only of coordinators
  // (whoever may invite and read the access history); null until then.
  const [invited, setInvited] = useState<TeamInvitation[] | null>(null);
  const [glass, setGlass] = useState<GlassAccess[] | null>(null);

  const load = async () => {
    try {
      const { data: loaded } = await gqlPartial<TeamData>(TEAM, { id: patientId });
      setData(loaded?.patient ?? null);
      if (!loaded?.patient?.myRoles.some((r) => r.toUpperCase() === "COORDINATOR")) return;
      const [invitations, openings] = await Promise.all([
        gqlPartial<{ teamInvitations: TeamInvitation[] }>(TEAM_INVITATIONS, { p: patientId }),
        gqlPartial<{ patientGlassAccesses: GlassAccess[] }>(GLASS_ACCESSES, { p: patientId }),
      ]);
      setInvited(invitations.data?.teamInvitations ?? null);
      setGlass(openings.data?.patientGlassAccesses ?? null);
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
          patientId={patientId}
          invitedIds={new Set((invited ?? []).flatMap((i) => (i.invitee ? [i.invitee.id] : [])))}
          onInvited={(invitation) => {
            notify(t("team.invited", { name: invitation.invitee?.displayName ?? "" }));
            setInvited((current) => [invitation, ...(current ?? []).filter((i) => i.id !== invitation.id)]);
            void load(); // the server's list, and the access history has the invitation now
          }}
        />
      )}
      {coordinator && invited !== null && (
        <section class="stack" aria-labelledby="team-invited">
          <h2 id="team-invited">{t("team.invitedTitle")}</h2>
          {invited.length === 0 ? (
            <p class="empty">{t("team.invitedNone")}</p>
          ) : (
            <ul class="members invitations">
              {invited.map((i) => (
                <li key={i.id} class="member" data-invitation-id={i.id}>
                  <span class="name">
                    {i.invitee?.displayName ?? "—"}
                    {i.invitee?.profession ? ` · ${word("profession", i.invitee.profession)}` : ""}
                  </span>
                  <span class="sub">
                    {word("role", i.role)} · {t("team.invitedAt", { date: formatDateTime(i.createdAt) })}
                    {i.invitedBy ? ` · ${t("team.invitedBy", { name: i.invitedBy.displayName })}` : ""}
                  </span>
                  <span class="sub">{t("team.expires", { date: formatDate(i.expiresAt) })}</span>
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
      {glass !== null && <Glass openings={glass} />}
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

/** Break-the-glass openings of this record, for its coordinators: who, when, why, and whether
 *  the access is still in force. */
function Glass({ openings }: { openings: GlassAccess[] }) {
  return (
    <section class="stack" aria-labelledby="team-glass">
      <h2 id="team-glass">{t("team.glassTitle")}</h2>
      {openings.length === 0 ? (
        <p class="empty">{t("team.glassNone")}</p>
      ) : (
        <ol class="history glass-openings">
          {openings.map((o) => (
            <li key={o.id} class={o.active ? "glass active" : "glass"} data-active={String(o.active)}>
              <span class="name">
                {o.user?.displayName ?? "—"}
                {o.user?.profession ? ` · ${word("profession", o.user.profession)}` : ""}
              </span>
              <span class="sub">{t("team.glassOpened", { date: formatDateTime(o.startsAt) })}</span>
              <span class="sub">{t("team.glassReason", { reason: o.reason || t("team.glassNoReason") })}</span>
              <span class={o.active ? "sub badge urgent" : "sub"}>
                {o.active
                  ? t("team.glassActive", { date: formatDateTime(o.expiresAt) })
                  : t("team.glassEnded", { date: formatDateTime(o.endedAt ?? o.expiresAt) })}
              </span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

interface Joinable {
  id: string;
  username: string;
  displayName: string;
  displayNameKana: string;
  profession: string | null;
}

const INVITE_ROLES = ["MEMBER", "COORDINATOR"] as const;
const MIN_SEARCH = 2; // the server's least
const SEARCH_PAUSE_MS = 300;

/** Invite an account of the municipality not on the team: found by part of a name, reading or
 *  username (the server searches; at least two characters), in a role. */
function Invite(props: { patientId: string; invitedIds: Set<string>; onInvited(invitation: TeamInvitation): void }) {
  const [open, setOpen] = useState(false);
  const [people, setPeople] = useState<Joinable[] | null>([]);
  const [filter, setFilter] = useState("");
  const [chosen, setChosen] = useState("");
  const [role, setRole] = useState<string>("MEMBER");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (open) first.current?.focus();
  }, [open]);

  // The server is asked once typing pauses; an answer to an older search is dropped.
  const wanted = filter.trim();
  useEffect(() => {
    if (!open || wanted.length < MIN_SEARCH) return setPeople([]);
    let stale = false;
    setPeople(null);
    const timer = setTimeout(() => {
      gql<{ joinableUsers: Joinable[] }>(JOINABLE, { p: props.patientId, role, search: wanted })
        .then((found) => {
          if (stale) return;
          setPeople(found.joinableUsers);
          setError("");
        })
        .catch((caught) => {
          if (stale) return;
          setPeople([]);
          setError(inviteError(caught));
        });
    }, SEARCH_PAUSE_MS);
    return () => {
      stale = true;
      clearTimeout(timer);
    };
  }, [open, wanted, role, props.patientId]);

  if (!open) {
    return (
      <div class="actions">
        <button type="button" onClick={() => setOpen(true)}>
          {t("team.invite")}
        </button>
      </div>
    );
  }

  const candidates = (people ?? []).filter((p) => !props.invitedIds.has(p.id));
  const selected = candidates.find((p) => p.id === chosen) ?? null;
  const placeholder =
    people === null
      ? t("team.inviteSearching")
      : wanted.length < MIN_SEARCH
        ? t("team.inviteTypeMore", { count: MIN_SEARCH })
        : t("team.invitePickOption", { count: candidates.length });

  const submit = async (event: Event) => {
    event.preventDefault();
    if (!selected) return setError(t("team.invitePick"));
    setBusy(true);
    setError("");
    try {
      const { inviteToTeam } = await gql<{ inviteToTeam: TeamInvitation }>(INVITE, {
        p: props.patientId,
        u: selected.id,
        role,
      });
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
        <span>{t("team.inviteRole")}</span>
        <select name="role" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
          {INVITE_ROLES.map((r) => (
            <option key={r} value={r}>
              {word("role", r)}
            </option>
          ))}
        </select>
      </label>
      <label class="field">
        <span>{t("team.inviteFilter")}</span>
        <input
          ref={first}
          type="search"
          name="inviteFilter"
          autocomplete="off"
          value={filter}
          onInput={(e) => setFilter(e.currentTarget.value)}
        />
      </label>
      <label class="field">
        <span>{t("team.invitePerson")}</span>
        <select
          name="invitee"
          value={chosen}
          onChange={(e) => setChosen(e.currentTarget.value)}
          aria-busy={people === null ? "true" : "false"}
        >
          <option value="">{placeholder}</option>
          {candidates.map((p) => (
            <option key={p.id} value={p.id}>
              {p.displayName}
              {p.profession ? ` (${word("profession", p.profession)})` : ""}
            </option>
          ))}
        </select>
      </label>
      <p class="sub" role="status" aria-live="polite">
        {people !== null && wanted.length >= MIN_SEARCH ? t("team.inviteFound", { count: candidates.length }) : ""}
      </p>
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
