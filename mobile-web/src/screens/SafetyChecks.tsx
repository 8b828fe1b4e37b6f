// A carer's part of the disaster overlay: the banner on the people inside an incident in force,
// and "my safety checks" (安否確認), where a status is set in two taps (the status, then
// "record"; evacuated and hospitalised ask where to). A status goes through the outbox like a
// post: it waits offline, and its clientId makes a retried send change nothing on the server.
import { useEffect, useState } from "preact/hooks";
import { useSession } from "../context";
import { formatDateTime, t, word } from "../i18n";
import { gql, OfflineError } from "../lib/api";
import { PATIENTS_CHANGED_EVENT } from "../lib/events";
import {
  incidentsByPatient,
  MY_SAFETY_CHECKS,
  NEEDS_PLACE,
  SAFETY_STATUSES,
  sortChecks,
  type MySafetyCheck,
  type SafetyStatus,
} from "../lib/incidents";
import { enqueueSafety, isSafetyEntry, listOutbox, type SafetyOutboxEntry } from "../lib/outbox";
import { readsNotebooks } from "../lib/roles";
import { href, onLinkClick, type Route } from "../lib/router";
import type { Store } from "../lib/store";
import { outboxState } from "./Outbox";

const CACHE_KEY = "safetyChecks";

async function cached(db: Store): Promise<MySafetyCheck[]> {
  const kept = ((await db.get("meta", CACHE_KEY)) as MySafetyCheck[] | undefined) ?? [];
  // Only people this phone still holds: a patient lost meanwhile is not shown.
  const held = new Set(await db.getAllKeys("patients"));
  return kept.filter((c) => held.has(c.patient.id));
}

/** The user's safety checks: what this phone kept first, then the server's answer (kept too).
 *  `offline` says the list is the kept one. */
export function useMySafetyChecks(): { checks: MySafetyCheck[] | null; offline: boolean; reload(): void } {
  const { db, me } = useSession();
  const [checks, setChecks] = useState<MySafetyCheck[] | null>(null);
  const [offline, setOffline] = useState(false);
  const [round, setRound] = useState(0);
  useEffect(() => {
    if (!readsNotebooks(me)) return setChecks([]);
    let cancelled = false;
    void (async () => {
      const kept = await cached(db);
      if (!cancelled) setChecks((now) => now ?? kept);
      try {
        const { mySafetyChecks } = await gql<{ mySafetyChecks: MySafetyCheck[] }>(MY_SAFETY_CHECKS);
        await db.put("meta", mySafetyChecks, CACHE_KEY);
        if (!cancelled) {
          setChecks(mySafetyChecks);
          setOffline(false);
        }
      } catch (caught) {
        if (!cancelled) {
          setChecks((now) => now ?? kept);
          setOffline(caught instanceof OfflineError);
        }
      }
    })();
    // The shell says when the patients changed; a burst of events makes one reload.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const changed = () => {
      clearTimeout(timer);
      timer = setTimeout(() => setRound((r) => r + 1), 1_000);
    };
    addEventListener(PATIENTS_CHANGED_EVENT, changed);
    return () => {
      cancelled = true;
      clearTimeout(timer);
      removeEventListener(PATIENTS_CHANGED_EVENT, changed);
    };
  }, [db, round]);
  return { checks, offline, reload: () => setRound((r) => r + 1) };
}

/** The banner on a patient list or a timeline: the incidents in force its people are inside. */
export function IncidentBanner({ checks, patientId }: { checks: MySafetyCheck[] | null; patientId?: string }) {
  if (!checks?.length) return null;
  const shown = patientId ? checks.filter((c) => c.patient.id === patientId) : checks;
  if (!shown.length) return null;
  const first = [...shown].sort((a, b) => b.incidentLevel - a.incidentLevel)[0];
  const route: Route = { name: "safety" };
  const people = new Set(shown.map((c) => c.patient.id)).size;
  return (
    <div class="incident-banner" role="note">
      <p>
        <strong>{t("banner.incident", { level: first.incidentLevel, reason: first.incidentReason })}</strong>
      </p>
      <a class="button" href={href(route)} onClick={(e) => onLinkClick(e, route)}>
        {patientId ? t("checks.title") : t("banner.checks", { count: people })}
      </a>
    </div>
  );
}

/** A row's small badge: this person is inside an incident in force. */
export function IncidentBadge({ checks, patientId }: { checks: MySafetyCheck[] | null; patientId: string }) {
  const inside = checks ? incidentsByPatient(checks).get(patientId) : undefined;
  if (!inside) return null;
  return <span class="badge incident-badge">{t("banner.patient", { level: inside.level })}</span>;
}

export function SafetyChecks() {
  const { db, notify, outboxChanged } = useSession();
  const { checks, offline, reload } = useMySafetyChecks();
  const [waiting, setWaiting] = useState<SafetyOutboxEntry[]>([]);

  useEffect(() => {
    let count = 0;
    const read = () =>
      void listOutbox(db).then((entries) => {
        const mine = entries.filter(isSafetyEntry);
        if (mine.length < count) reload(); // some were sent: show the server's word
        count = mine.length;
        setWaiting(mine);
      });
    read();
    addEventListener("renraku:outbox", read);
    return () => removeEventListener("renraku:outbox", read);
  }, [db]);

  const record = async (check: MySafetyCheck, status: SafetyStatus, place: string, note: string) => {
    await enqueueSafety(
      db,
      { incidentId: check.incidentId, patientId: check.patient.id, status, place, note },
      check.patient.displayName,
    );
    notify(t("checks.queued"));
    outboxChanged();
    setWaiting((await listOutbox(db)).filter(isSafetyEntry));
  };

  if (checks === null) return <p>{t("app.loading")}</p>;
  const sorted = sortChecks(checks);
  const mine = sorted.filter((c) => c.assignedToMe);
  const others = sorted.filter((c) => !c.assignedToMe);
  const card = (check: MySafetyCheck) => (
    <CheckCard
      key={`${check.incidentId}:${check.patient.id}`}
      check={check}
      waiting={waiting.filter((w) => w.input.incidentId === check.incidentId && w.patientId === check.patient.id).pop()}
      onRecord={record}
    />
  );
  return (
    <section class="stack">
      <h1>{t("checks.title")}</h1>
      {offline && (
        <p class="banner offline" role="status">
          {t("checks.offlineList")}
        </p>
      )}
      {checks.length === 0 ? (
        <p class="empty">{t("checks.none")}</p>
      ) : (
        <>
          <p class="note">{t("checks.help")}</p>
          {mine.length > 0 && (
            <>
              <h2>{t("checks.mine")}</h2>
              <ul class="checks">{mine.map(card)}</ul>
            </>
          )}
          {others.length > 0 && (
            <>
              <h2>{t("checks.others")}</h2>
              <ul class="checks">{others.map(card)}</ul>
            </>
          )}
        </>
      )}
    </section>
  );
}

function CheckCard(props: {
  check: MySafetyCheck;
  waiting: SafetyOutboxEntry | undefined;
  onRecord(check: MySafetyCheck, status: SafetyStatus, place: string, note: string): Promise<void>;
}) {
  const { check, waiting } = props;
  const [chosen, setChosen] = useState<SafetyStatus | null>(null);
  const [place, setPlace] = useState("");
  const [note, setNote] = useState("");
  const [error, setError] = useState("");
  const id = `${check.incidentId}-${check.patient.id}`.replace(/[^A-Za-z0-9_-]/g, "");
  const shown = waiting ? waiting.input.status : check.check.status;
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!chosen) return;
    if (NEEDS_PLACE.has(chosen) && !place.trim()) return setError(t("checks.needPlace"));
    await props.onRecord(check, chosen, NEEDS_PLACE.has(chosen) ? place.trim() : "", note.trim());
    setChosen(null);
    setPlace("");
    setNote("");
    setError("");
  };
  const timeline: Route = { name: "timeline", patientId: check.patient.id };
  return (
    <li class={`check-card status-${shown.toLowerCase()}`} data-patient-id={check.patient.id} data-status={shown}>
      <div class="entry-head">
        <a class="name" href={href(timeline)} onClick={(e) => onLinkClick(e, timeline)}>
          {check.patient.displayName}
        </a>
        <span class="sub">{check.patient.kana}</span>
      </div>
      <p class="sub">{t("banner.incident", { level: check.incidentLevel, reason: check.incidentReason })}</p>
      <p class="current">
        <strong>{t("safety.status", { status: word("safety", check.check.status) })}</strong>
        {check.check.place && <span class="sub"> · {t("safety.place", { place: check.check.place })}</span>}
        {check.check.updatedAt && (
          <span class="sub"> · {t("safety.updated", { time: formatDateTime(check.check.updatedAt) })}</span>
        )}
      </p>
      {waiting && (
        <p class={`check-state ${waiting.status}`} data-status={waiting.status}>
          {t("checks.waiting", { status: word("safety", waiting.input.status) })} — {outboxState(waiting)}
        </p>
      )}
      <form class="check-form" onSubmit={submit}>
        <div class="status-buttons" role="group" aria-label={t("checks.choose", { name: check.patient.displayName })}>
          {SAFETY_STATUSES.filter((s) => s !== "UNKNOWN").map((status) => (
            <button
              type="button"
              key={status}
              class={`status-button status-${status.toLowerCase()}`}
              aria-pressed={chosen === status}
              onClick={() => {
                setChosen(status);
                setError("");
              }}
            >
              {word("safety", status)}
            </button>
          ))}
        </div>
        {chosen && NEEDS_PLACE.has(chosen) && (
          <label class="field">
            <span>{t("checks.where")}</span>
            <input
              id={`place-${id}`}
              name="place"
              value={place}
              required
              aria-invalid={error ? "true" : "false"}
              onInput={(e) => setPlace(e.currentTarget.value)}
            />
          </label>
        )}
        {chosen && (
          <>
            <label class="field">
              <span>{t("checks.note")}</span>
              <input name="note" value={note} onInput={(e) => setNote(e.currentTarget.value)} />
            </label>
            {error && (
              <p class="error" role="alert">
                {error}
              </p>
            )}
            <div class="actions">
              <button type="submit" class="primary">
                {t("checks.record")}
              </button>
              <button type="button" onClick={() => setChosen(null)}>
                {t("checks.cancel")}
              </button>
            </div>
          </>
        )}
      </form>
    </li>
  );
}
