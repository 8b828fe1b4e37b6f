// The planner's screens of the disaster overlay (災害対応): the municipality's incidents on the
// role home (a manager sees them too, and may confirm or end one where the server allows), and
// one incident's priority list, safety board, map and printable call sheet. The list and the
// board follow the server by re-fetching (lib/refresh.ts), at once when the incident's live
// updates (incidentUpdates) say it changed; the map is a chunk of its own, loaded
// only when opened, so the first screen stays small.
import type { ComponentType } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { useSession } from "../context";
import { formatDateTime, formatNumber, locale, t, word, type MessageKey } from "../i18n";
import { ApiError, gql, OfflineError } from "../lib/api";
import {
  ASSIGN_SAFETY_CHECK,
  CONFIRM_INCIDENT,
  END_INCIDENT,
  INCIDENTS,
  ME_ID,
  assignableQuery,
  type Assignable,
  PRIORITY_LIST,
  PRIORITY_PAGE,
  SAFETY_PROGRESS,
  TIERS,
  type DistrictProgress,
  type Incident,
  type PriorityEntry,
  type PriorityPage,
  type Tier,
} from "../lib/incidents";
import { reasonPoints, reasonText } from "../lib/reasons";
import { watchIncident } from "../lib/live";
import { INCIDENT_CHANGED_EVENT, useRefresh } from "../lib/refresh";
import { kindOf } from "../lib/roles";
import { href, onLinkClick, type IncidentView, type Route } from "../lib/router";

const problem = (caught: unknown): string =>
  caught instanceof OfflineError ? t("incidents.offline") : caught instanceof ApiError ? caught.message : String(caught);

/** The municipality's incidents in force, on the planner's and the manager's home. */
export function IncidentList() {
  const { me, notify } = useSession();
  const planner = kindOf(me) === "planner";
  const [incidents, setIncidents] = useState<Incident[] | null>(null);
  const [failed, setFailed] = useState("");
  const [busy, setBusy] = useState("");

  const load = async () => {
    try {
      setIncidents((await gql<{ incidents: Incident[] }>(INCIDENTS)).incidents);
      setFailed("");
    } catch (caught) {
      setFailed(caught instanceof OfflineError ? t("incidents.offline") : t("incidents.failed"));
    }
  };
  useRefresh(load);

  const act = async (incident: Incident, mutation: string, done: MessageKey) => {
    setBusy(incident.id);
    try {
      await gql(mutation, { id: incident.id });
      notify(t(done));
      await load();
    } catch (caught) {
      notify(t("incidents.actionFailed", { reason: problem(caught) }));
    } finally {
      setBusy("");
    }
  };

  return (
    <section class="stack" aria-labelledby="incidents-title">
      <h2 id="incidents-title">{t("incidents.title")}</h2>
      {failed && <p class="counts-note">{failed}</p>}
      {incidents === null ? (
        !failed && <p class="counts-note">{t("incidents.loading")}</p>
      ) : incidents.length === 0 ? (
        <p class="empty">{t("incidents.none")}</p>
      ) : (
        <ul class="incidents">
          {incidents.map((incident) => {
            const route: Route = { name: "incident", incidentId: incident.id };
            return (
              <li key={incident.id} class={incident.pending ? "incident pending" : "incident"} data-incident-id={incident.id}>
                <span class="level-line">
                  <span class="level">{t("incidents.level", { level: incident.level })}</span>
                  <strong class="reason">{incident.reason}</strong>
                </span>
                {incident.pending && <span class="sub pending-note">{t("incidents.pending")}</span>}
                <span class="sub">
                  {t("incidents.until", { until: formatDateTime(incident.endsAt) })} ·{" "}
                  {t("incidents.inside", { count: incident.patientCount })}
                </span>
                <span class="actions">
                  {planner && !incident.pending && (
                    <a class="button primary" href={href(route)} onClick={(e) => onLinkClick(e, route)}>
                      {t("incidents.open")}
                    </a>
                  )}
                  {incident.pending && (
                    <button
                      type="button"
                      class="primary"
                      disabled={busy === incident.id}
                      onClick={() => void act(incident, CONFIRM_INCIDENT, "incidents.confirmed")}
                    >
                      {t("incidents.confirm")}
                    </button>
                  )}
                  <button
                    type="button"
                    disabled={busy === incident.id}
                    onClick={() => {
                      if (confirm(t("incidents.endAsk"))) void act(incident, END_INCIDENT, "incidents.ended");
                    }}
                  >
                    {t("incidents.end")}
                  </button>
                </span>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

/** Every entry up to `want` (pages of at most 100, the server's limit), and the counts. */
export async function fetchPriority(incidentId: string, want: number): Promise<PriorityPage> {
  let after: string | null = null;
  let result: PriorityPage | null = null;
  for (;;) {
    const have: number = result?.edges.length ?? 0;
    const first = Math.min(100, Math.max(1, want - have));
    const { priorityList: page }: { priorityList: PriorityPage } = await gql<{ priorityList: PriorityPage }>(
      PRIORITY_LIST,
      { id: incidentId, first, after },
    );
    result = result ? { ...page, edges: [...result.edges, ...page.edges] } : page;
    if (!page.pageInfo.hasNextPage || result.edges.length >= want) return result;
    after = page.pageInfo.endCursor;
  }
}

interface Loaded {
  incident: Incident | null;
  list: PriorityPage;
  progress: DistrictProgress[];
  at: Date;
}

/** The incident, its list (as many entries as shown) and its board, kept fresh. */
function useIncident(incidentId: string, want: number, withProgress: boolean) {
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [error, setError] = useState("");
  const load = async () => {
    try {
      const [{ incidents }, list, progress] = await Promise.all([
        gql<{ incidents: Incident[] }>(INCIDENTS),
        fetchPriority(incidentId, want),
        withProgress
          ? gql<{ safetyProgress: DistrictProgress[] }>(SAFETY_PROGRESS, { id: incidentId }).then((r) => r.safetyProgress)
          : Promise.resolve([]),
      ]);
      setLoaded({ incident: incidents.find((i) => i.id === incidentId) ?? null, list, progress, at: new Date() });
      setError("");
    } catch (caught) {
      const gone = caught instanceof ApiError && ["NOT_FOUND", "FORBIDDEN", "BAD_USER_INPUT"].includes(caught.code);
      setError(gone ? "gone" : problem(caught));
    }
  };
  useRefresh(load, [incidentId, want, withProgress]);
  return { loaded, error, reload: load };
}

const VIEWS: { view: IncidentView; label: MessageKey }[] = [
  { view: "list", label: "incidents.list" },
  { view: "board", label: "incidents.board" },
  { view: "map", label: "incidents.map" },
  { view: "print", label: "incidents.print" },
];

export function IncidentScreen({ incidentId, view }: { incidentId: string; view: IncidentView }) {
  const [want, setWant] = useState(PRIORITY_PAGE);
  // The map and the call sheet hold everyone; the list and the board what was asked for.
  const everyone = view === "print" || view === "map";
  const { loaded, error, reload } = useIncident(incidentId, everyone ? 10_000 : want, view === "board");
  const entries = useMemo(() => loaded?.list.edges.map((e) => e.node) ?? [], [loaded]);
  // The push signal: incidentUpdates says something changed, and the same refresh runs at once.
  useEffect(() => watchIncident(incidentId, () => dispatchEvent(new Event(INCIDENT_CHANGED_EVENT))), [incidentId]);
  const back: Route = { name: "home" };
  const incident = loaded?.incident;
  return (
    <section class={`stack incident-screen view-${view}`}>
      <a class="back no-print" href={href(back)} onClick={(e) => onLinkClick(e, back)}>
        ← {t("incidents.back")}
      </a>
      <h1>
        {view === "print" ? `${t("print.title")}: ` : ""}
        {incident ? incident.reason : t("incidents.title")}
      </h1>
      {incident && (
        <p class="incident-head">
          <span class="level">{t("incidents.level", { level: incident.level })}</span>{" "}
          {t("incidents.until", { until: formatDateTime(incident.endsAt) })}
        </p>
      )}
      <nav class="views no-print" aria-label={t("incidents.views")}>
        {VIEWS.map(({ view: v, label }) => {
          const route: Route = { name: "incident", incidentId, view: v };
          return (
            <a key={v} href={href(route)} aria-current={v === view ? "page" : undefined} onClick={(e) => onLinkClick(e, route)}>
              {t(label)}
            </a>
          );
        })}
      </nav>
      {error === "gone" ? (
        <p class="empty">{t("incidents.gone")}</p>
      ) : (
        <>
          {error && (
            <p class="counts-note no-print" role="status">
              {loaded ? t("incidents.refreshFailed") : error}
            </p>
          )}
          {!loaded ? (
            !error && <p>{t("app.loading")}</p>
          ) : (
            <>
              {view !== "print" && <TierCounts list={loaded.list} at={loaded.at} />}
              {view === "list" && <PriorityList list={loaded.list} onMore={() => setWant(loaded.list.edges.length + PRIORITY_PAGE)} />}
              {view === "board" && (
                <SafetyBoard incidentId={incidentId} list={loaded.list} progress={loaded.progress} reload={reload} />
              )}
              {view === "map" && <LazyMap incidentId={incidentId} entries={entries} />}
              {view === "print" && <CallSheet incidentId={incidentId} list={loaded.list} at={loaded.at} />}
              {view === "board" && loaded.list.pageInfo.hasNextPage && (
                <button type="button" onClick={() => setWant(loaded.list.edges.length + PRIORITY_PAGE)}>
                  {t("priority.more")}
                </button>
              )}
            </>
          )}
        </>
      )}
    </section>
  );
}

function TierCounts({ list, at }: { list: PriorityPage; at: Date }) {
  return (
    <div class="tier-summary">
      <p>
        <strong>{t("priority.total", { count: list.totalCount })}</strong>{" "}
        <span class="sub" data-updated={at.toISOString()}>
          {t("incidents.updated", { time: formatDateTime(at.toISOString()) })}
        </span>
      </p>
      <ul class="tier-counts">
        {TIERS.map((tier, i) => (
          <li key={tier}>
            <TierBadge tier={tier} />
            <span>{formatNumber(list.tierCounts[i] ?? 0)}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** P1/P2/P3/resolved: the short word shown, the whole meaning for screen readers. */
export function TierBadge({ tier }: { tier: Tier }) {
  return (
    <span class={`tier tier-${tier.toLowerCase()}`}>
      <span aria-hidden="true">{t(`tier.${tier}` as MessageKey)}</span>
      <span class="visually-hidden">{t(`tierLong.${tier}` as MessageKey)}</span>
    </span>
  );
}

function Phone({ phone }: { phone: string | null }) {
  if (!phone) return <span class="sub">{t("priority.noPhone")}</span>;
  return (
    <a class="button phone" href={`tel:${phone.replace(/[^0-9+]/g, "")}`}>
      {t("priority.call", { phone })}
    </a>
  );
}

function SafetyLine({ entry }: { entry: PriorityEntry }) {
  const safety = entry.safety;
  if (!safety) return null;
  return (
    <span class="safety-line">
      <span class={`status status-${safety.status.toLowerCase()}`}>
        {t("safety.status", { status: word("safety", safety.status) })}
      </span>
      {safety.place && <span class="sub"> · {t("safety.place", { place: safety.place })}</span>}
      {safety.updatedAt && <span class="sub"> · {t("safety.updated", { time: formatDateTime(safety.updatedAt) })}</span>}
      <span class="sub">
        {" · "}
        {safety.assignee ? t("priority.assignee", { name: safety.assignee.displayName }) : t("priority.unassigned")}
      </span>
    </span>
  );
}

function PriorityList({ list, onMore }: { list: PriorityPage; onMore(): void }) {
  const lang = locale();
  if (!list.edges.length) return <p class="empty">{t("priority.empty")}</p>;
  return (
    <>
      <ol class="priority" aria-label={t("incidents.list")}>
        {list.edges.map(({ node: entry }, i) => (
          <li
            key={entry.patient?.id ?? i}
            class={`priority-entry tier-${entry.tier.toLowerCase()}${entry.overdue ? " overdue" : ""}`}
            data-tier={entry.tier}
          >
            <div class="entry-head">
              <TierBadge tier={entry.tier} />
              <span class="name">{entry.person.displayName}</span>
              <span class="sub kana">{entry.person.kana}</span>
              <span class="score">{t("priority.score", { score: entry.score })}</span>
            </div>
            {entry.overdue && <p class="overdue-flag">{t("priority.overdue")}</p>}
            <SafetyLine entry={entry} />
            <p class="sub address">{entry.person.address}</p>
            <Phone phone={entry.person.phone} />
            <ul class="reasons" aria-label={t("priority.reasons")}>
              {entry.reasons.map((reason, j) => (
                <li key={j} data-factor={reason.factor}>
                  {reasonText(reason, lang)}
                  {reasonPoints(reason) && <span class="points"> {reasonPoints(reason)}</span>}
                </li>
              ))}
            </ul>
          </li>
        ))}
      </ol>
      {list.pageInfo.hasNextPage && (
        <button type="button" class="more" onClick={onMore}>
          {t("priority.more")}
        </button>
      )}
    </>
  );
}

function SafetyBoard(props: {
  incidentId: string;
  list: PriorityPage;
  progress: DistrictProgress[];
  reload(): Promise<void>;
}) {
  const { notify } = useSession();
  const [me, setMe] = useState<{ id: string; displayName: string } | null>(null);
  useEffect(() => {
    gql<{ me: { id: string; displayName: string } }>(ME_ID)
      .then((r) => setMe(r.me))
      .catch(() => undefined);
  }, []);
  // Whom each person's call may go to, as the server says (assignableUsers): asked once for the
  // people shown, and again only for people newly shown (another page, or a refresh that
  // brought someone new).
  const [assignable, setAssignable] = useState<Map<string, Assignable[]>>(() => new Map());
  const shownIds = props.list.edges.flatMap(({ node }) => (node.patient ? [node.patient.id] : []));
  const missing = shownIds.filter((id) => !assignable.has(id));
  const missingKey = missing.join(" ");
  useEffect(() => {
    if (!missing.length) return;
    let stale = false;
    const vars: Record<string, string> = { id: props.incidentId };
    missing.forEach((id, i) => (vars[`p${i}`] = id));
    gql<Record<string, Assignable[]>>(assignableQuery(missing.length), vars)
      .then((found) => {
        if (stale) return;
        setAssignable((current) => {
          const next = new Map(current);
          missing.forEach((id, i) => next.set(id, found[`a${i}`] ?? []));
          return next;
        });
      })
      .catch((caught) => {
        if (!stale) notify(t("incidents.actionFailed", { reason: problem(caught) }));
      });
    return () => {
      stale = true;
    };
  }, [props.incidentId, missingKey]);
  const label = (person: { id: string; displayName: string }) =>
    me && person.id === me.id ? t("board.me", { name: person.displayName }) : person.displayName;
  const assign = async (entry: PriorityEntry, userId: string) => {
    try {
      await gql(ASSIGN_SAFETY_CHECK, { incidentId: props.incidentId, patientId: entry.patient?.id, userId: userId || null });
      notify(t("board.assigned"));
      await props.reload();
    } catch (caught) {
      notify(t("incidents.actionFailed", { reason: problem(caught) }));
    }
  };
  return (
    <>
      <h2>{t("board.title")}</h2>
      <div class="table-scroll" tabIndex={0} role="region" aria-label={t("board.caption")}>
        <table class="count-table board">
          <caption>{t("board.caption")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("board.district")}</th>
              <th scope="col">{t("board.reached")}</th>
              <th scope="col">{t("safety.SAFE")}</th>
              <th scope="col">{t("safety.NEEDS_HELP")}</th>
              <th scope="col">{t("safety.EVACUATED")}</th>
              <th scope="col">{t("safety.HOSPITALISED")}</th>
            </tr>
          </thead>
          <tbody>
            {props.progress.map((d) => (
              <tr key={d.district} data-district={d.district}>
                <th scope="row">{d.district || t("board.unknownDistrict")}</th>
                <td>
                  <span class="visually-hidden">
                    {t("board.progress", { district: d.district || t("board.unknownDistrict"), reached: d.reached, total: d.total })}
                  </span>
                  <span aria-hidden="true" class="reached">
                    {d.reached}/{d.total}
                  </span>
                  <progress max={d.total} value={d.reached} aria-hidden="true" />
                </td>
                <td>{d.safe}</td>
                <td>{d.needsHelp}</td>
                <td>{d.evacuated}</td>
                <td>{d.hospitalised}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>{t("board.people")}</h2>
      <p class="note">{t("board.assignNote")}</p>
      <ul class="board-people">
        {props.list.edges.map(({ node: entry }, i) => (
          <li key={entry.patient?.id ?? i} class="board-entry" data-status={entry.safety?.status ?? "UNKNOWN"}>
            <div class="entry-head">
              <TierBadge tier={entry.tier} />
              <span class="name">{entry.person.displayName}</span>
              {entry.overdue && <span class="overdue-flag">{t("priority.overdue")}</span>}
            </div>
            <SafetyLine entry={entry} />
            {entry.patient && (
              <label class="field assign">
                <span>{t("board.assignTo", { name: entry.person.displayName })}</span>
                <AssignSelect
                  current={entry.safety?.assignee ?? null}
                  people={assignable.get(entry.patient.id) ?? null}
                  label={label}
                  onChange={(userId) => void assign(entry, userId)}
                />
              </label>
            )}
          </li>
        ))}
      </ul>
    </>
  );
}

/** The people a call may go to: the team's professionals, then the municipality's planners and
 *  managers, in groups; whoever holds it now stays listed even if no longer offered. */
function AssignSelect(props: {
  current: { id: string; displayName: string } | null;
  people: Assignable[] | null;
  label(person: { id: string; displayName: string }): string;
  onChange(userId: string): void;
}) {
  const people = props.people ?? [];
  const team = people.filter((p) => p.kind.toUpperCase() === "PROFESSIONAL");
  const staff = people.filter((p) => p.kind.toUpperCase() !== "PROFESSIONAL");
  const current = props.current;
  const stray = current && !people.some((p) => p.id === current.id) ? current : null;
  const option = (p: Assignable) => (
    <option key={p.id} value={p.id}>
      {props.label(p)}
      {p.profession ? ` (${word("profession", p.profession)})` : ""}
    </option>
  );
  return (
    <select
      value={current?.id ?? ""}
      aria-busy={props.people === null ? "true" : "false"}
      onChange={(e) => props.onChange((e.target as HTMLSelectElement).value)}
    >
      <option value="">{props.people === null ? t("board.loadingPeople") : t("board.nobody")}</option>
      {stray && <option value={stray.id}>{props.label(stray)}</option>}
      {team.length > 0 && <optgroup label={t("board.team")}>{team.map(option)}</optgroup>}
      {staff.length > 0 && <optgroup label={t("board.staff")}>{staff.map(option)}</optgroup>}
    </select>
  );
}

type MapProps = { incidentId: string; entries: PriorityEntry[] };

/** The map's chunk (Leaflet and its CSS) is fetched only when the map is opened. */
function LazyMap(props: MapProps) {
  const [Map, setMap] = useState<ComponentType<MapProps> | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    import("./IncidentMap")
      .then((module) => setMap(() => module.IncidentMap))
      .catch(() => setFailed(true));
  }, []);
  if (failed) return <p class="error">{t("map.failed")}</p>;
  if (!Map) return <p>{t("map.loading")}</p>;
  return <Map {...props} />;
}

function CallSheet({ incidentId, list, at }: { incidentId: string; list: PriorityPage; at: Date }) {
  const lang = locale();
  // The server's files of the whole list (audited downloads; the session cookie rides along).
  const file = (kind: "csv" | "geojson") => `/incidents/${encodeURIComponent(incidentId)}/priority.${kind}`;
  return (
    <>
      <p class="no-print note">{t("print.help")}</p>
      <p class="no-print downloads">
        <button type="button" class="primary" onClick={() => print()}>
          {t("print.button")}
        </button>
        <a class="button" href={file("csv")} download>
          {t("print.csv")}
        </a>
        <a class="button" href={file("geojson")} download>
          {t("print.geojson")}
        </a>
      </p>
      <p class="sub">{t("print.printed", { time: formatDateTime(at.toISOString()) })}</p>
      {/* Wider than a phone: a region that scrolls sideways, reachable with the keyboard. */}
      <div class="table-scroll" tabIndex={0} role="region" aria-label={t("print.title")}>
        <table class="call-sheet">
          <thead>
            <tr>
              <th scope="col">{t("print.tier")}</th>
              <th scope="col">{t("print.name")}</th>
              <th scope="col">{t("print.address")}</th>
              <th scope="col">{t("print.phone")}</th>
              <th scope="col">{t("print.reasons")}</th>
              <th scope="col" class="notes">
                {t("print.notes")}
              </th>
            </tr>
          </thead>
          <tbody>
            {list.edges.map(({ node: entry }, i) => (
              <tr key={entry.patient?.id ?? i} data-tier={entry.tier}>
                <td>
                  <TierBadge tier={entry.tier} />
                  {entry.safety && entry.safety.status !== "UNKNOWN" && (
                    <span class="sub"> {word("safety", entry.safety.status)}</span>
                  )}
                </td>
                <td>
                  <span class="name">{entry.person.displayName}</span>
                  <br />
                  <span class="kana">{entry.person.kana}</span>
                </td>
                <td class="address">{entry.person.address}</td>
                <td class="phone">{entry.person.phone ?? ""}</td>
                <td>
                  <ul class="reasons">
                    {entry.reasons.map((r, j) => (
                      <li key={j}>{reasonText(r, lang)}</li>
                    ))}
                  </ul>
                </td>
                <td class="notes" />
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
