import { useEffect, useState } from "preact/hooks";
import { useSession } from "../context";
import { formatDate, t } from "../i18n";
import { gqlPartial, OfflineError } from "../lib/api";
import { PATIENTS_CHANGED_EVENT } from "../lib/events";
import { PATIENTS } from "../lib/queries";
import { readsNotebooks } from "../lib/roles";
import { onLinkClick } from "../lib/router";
import { loadPatients, reconcilePatients, savePatients } from "../lib/store";
import type { PatientRow, Risk } from "../lib/types";
import { InvitationsLink } from "./Invitations";
import { IncidentBadge, IncidentBanner, useMySafetyChecks } from "./SafetyChecks";
import type { MySafetyCheck } from "../lib/incidents";

interface Page {
  patients: { edges: { node: PatientRow }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
}

/** Every page of `patients` (a team's list is short; 100 a page). */
async function fetchAll(search: string | null): Promise<PatientRow[]> {
  const rows: PatientRow[] = [];
  let after: string | null = null;
  for (;;) {
    // Partial: unread counts and risk are null with FORBIDDEN for some roles; the rows still come.
    const { data, errors }: { data: Page | null; errors: { message: string }[] } = await gqlPartial<Page>(PATIENTS, {
      search,
      after,
    });
    if (!data) throw new Error(errors[0]?.message ?? "no data");
    rows.push(...data.patients.edges.map((e) => e.node));
    if (!data.patients.pageInfo.hasNextPage) return rows;
    after = data.patients.pageInfo.endCursor;
  }
}

export function PatientList({ heading = true }: { heading?: boolean }) {
  const { db, me, notify } = useSession();
  const [rows, setRows] = useState<PatientRow[] | null>(null);
  const [query, setQuery] = useState("");
  const [error, setError] = useState("");
  const { checks } = useMySafetyChecks();

  useEffect(() => {
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const fresh = await fetchAll(null);
        if (cancelled) return;
        const dropped = await reconcilePatients(db, new Set(fresh.map((p) => p.id)));
        if (dropped) notify(t("outbox.dropped", { count: dropped }));
        await savePatients(db, fresh);
        setRows(fresh);
      } catch (caught) {
        if (!(caught instanceof OfflineError) && !cancelled) setError(t("app.error", { message: String(caught) }));
      }
    };
    void (async () => {
      setRows(await loadPatients(db)); // what this phone knows first, the server's answer next
      await load();
    })();
    // Live: the shell says when the list changed; a burst of events makes one reload.
    const changed = () => {
      clearTimeout(timer);
      timer = setTimeout(() => void loadPatients(db).then((rows) => !cancelled && setRows(rows)).then(load), 300);
    };
    addEventListener(PATIENTS_CHANGED_EVENT, changed);
    return () => {
      cancelled = true;
      clearTimeout(timer);
      removeEventListener(PATIENTS_CHANGED_EVENT, changed);
    };
  }, [db]);

  const shown = rows === null ? null : filter(rows, query);
  return (
    <section class="stack">
      {heading && <h1>{t("patients.title")}</h1>}
      <IncidentBanner checks={checks} />
      {readsNotebooks(me) && <InvitationsLink />}
      <label class="field">
        <span>{t("patients.search")}</span>
        <input
          type="search"
          name="search"
          placeholder={t("patients.searchPlaceholder")}
          value={query}
          onInput={(e) => setQuery(e.currentTarget.value)}
        />
      </label>
      {error && <p class="error" role="alert">{error}</p>}
      {shown === null ? (
        <p>{t("app.loading")}</p>
      ) : shown.length === 0 ? (
        <p class="empty">{query ? t("patients.noMatch", { query }) : t("patients.none")}</p>
      ) : (
        <ul class="patients" aria-label={t("patients.title")}>
          {shown.map((p) => (
            <PatientItem key={p.id} patient={p} link={readsNotebooks(me)} checks={checks} />
          ))}
        </ul>
      )}
    </section>
  );
}

/** Search on the phone: the list is the user's own few dozen patients, already here offline. */
function filter(rows: PatientRow[], query: string): PatientRow[] {
  const q = query.trim().toLowerCase();
  const sorted = [...rows].sort(
    (a, b) =>
      (b.urgentUnreadCount ?? 0) - (a.urgentUnreadCount ?? 0) ||
      (b.unreadCount ?? 0) - (a.unreadCount ?? 0) ||
      a.kana.localeCompare(b.kana, "ja"),
  );
  if (!q) return sorted;
  return sorted.filter((p) => p.displayName.toLowerCase().includes(q) || p.kana.includes(q));
}

function PatientItem(props: { patient: PatientRow; link: boolean; checks: MySafetyCheck[] | null }) {
  const { patient, link } = props;
  const body = (
    <>
      <span class="row-main">
        <span class="name">{patient.displayName}</span>
        <span class="sub">
          {patient.lastVisitAt ? t("patients.lastVisit", { date: formatDate(patient.lastVisitAt) }) : t("patients.neverVisited")}
        </span>
        <IncidentBadge checks={props.checks} patientId={patient.id} />
        <RiskBadges risk={patient.risk} />
      </span>
      <span class="counts">
        {!!patient.urgentUnreadCount && <span class="count urgent">{t("patients.urgent", { count: patient.urgentUnreadCount })}</span>}
        {!!patient.unreadCount && <span class="count">{t("patients.unread", { count: patient.unreadCount })}</span>}
      </span>
    </>
  );
  const to = { name: "timeline" as const, patientId: patient.id };
  return (
    <li class="patient" data-patient-id={patient.id}>
      {link ? (
        <a class="row" href={`/patients/${encodeURIComponent(patient.id)}`} onClick={(e) => onLinkClick(e, to)}>
          {body}
        </a>
      ) : (
        <div class="row">{body}</div>
      )}
    </li>
  );
}

function RiskBadges({ risk }: { risk: Risk | null }) {
  if (!risk) return null;
  const badges: string[] = [];
  const [kind, level] = risk.careLevel.split("_");
  if (kind === "CARE") badges.push(t("risk.care", { level }));
  if (kind === "SUPPORT") badges.push(t("risk.support", { level }));
  if (risk.mobility === "BEDRIDDEN") badges.push(t("risk.bedridden"));
  if (risk.mobility === "WHEELCHAIR") badges.push(t("risk.wheelchair"));
  if (risk.living === "ALONE") badges.push(t("risk.alone"));
  if (risk.dementia) badges.push(t("risk.dementia"));
  if (risk.sensoryImpairment) badges.push(t("risk.sensory"));
  if (risk.devices.length) badges.push(t("risk.devices"));
  if (!badges.length) return null;
  return (
    <span class="badges">
      {badges.map((b) => (
        <span class="badge" key={b}>
          {b}
        </span>
      ))}
    </span>
  );
}
