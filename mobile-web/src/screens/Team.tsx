import { useEffect, useState } from "preact/hooks";
import { useSession } from "../context";
import { formatDate, formatDateTime, known, t } from "../i18n";
import { ApiError, gql, gqlPartial, OfflineError } from "../lib/api";
import { END_MEMBERSHIP, TEAM } from "../lib/queries";
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

/** Known words through the catalogue; an unknown one as it came (a newer server). */
function word(prefix: string, value: string): string {
  const key = `${prefix}.${value}`;
  return known(key) ? t(key) : value;
}

export function Team({ patientId }: { patientId: string }) {
  const { me, notify } = useSession();
  const [data, setData] = useState<TeamData["patient"] | undefined>(undefined);
  const [ending, setEnding] = useState<Member | null>(null);
  const [reason, setReason] = useState("");
  const [error, setError] = useState("");

  const load = async () => {
    try {
      const { data: loaded } = await gqlPartial<TeamData>(TEAM, { id: patientId });
      setData(loaded?.patient ?? null);
    } catch (caught) {
      setError(caught instanceof OfflineError ? t("app.offline") : t("app.error", { message: String(caught) }));
    }
  };
  useEffect(() => void load(), [patientId]);

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
