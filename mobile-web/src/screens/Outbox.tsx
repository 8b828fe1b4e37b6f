import { useEffect, useState } from "preact/hooks";
import { useSession } from "../context";
import { formatDateTime, formatList, t, word, type MessageKey } from "../i18n";
import { discard, listOutbox, retryNow, type AnyOutboxEntry } from "../lib/outbox";

export function Outbox() {
  const { db, outboxChanged, online } = useSession();
  const [entries, setEntries] = useState<AnyOutboxEntry[] | null>(null);

  useEffect(() => {
    const reload = () => void listOutbox(db).then(setEntries);
    reload();
    // The shell announces each sync; the list follows it.
    addEventListener("renraku:outbox", reload);
    return () => removeEventListener("renraku:outbox", reload);
  }, [db]);


  return (
    <section class="stack">
      <h1>{t("outbox.title")}</h1>
      {entries === null ? (
        <p>{t("app.loading")}</p>
      ) : entries.length === 0 ? (
        <p class="empty">{t("outbox.empty")}</p>
      ) : (
        <ul class="outbox" aria-label={t("outbox.title")}>
          {entries.map((entry) => (
            <li key={entry.clientId} class={`outbox-entry ${entry.status}`} data-status={entry.status}>
              {entry.kind === "safety" ? (
                <>
                  <p class="meta">{formatDateTime(entry.createdAt)}</p>
                  <p class="body">
                    {t("outbox.safety", { name: entry.patientName, status: word("safety", entry.input.status) })}
                    {entry.input.place ? ` · ${t("safety.place", { place: entry.input.place })}` : ""}
                  </p>
                </>
              ) : (
                <>
                  <p class="meta">
                    {t(`category.${entry.input.category}` as MessageKey)} · {formatDateTime(entry.createdAt)}
                  </p>
                  {entry.input.body && <p class="body">{entry.input.body}</p>}
                  {!!entry.photos?.length && <p class="meta">{t("outbox.photos", { count: entry.photos.length })}</p>}
                  {!!entry.mentions?.length && (
                    <p class="meta mentions">
                      {t("timeline.mentions", { names: formatList(entry.mentions.map((m) => m.displayName)) })}
                    </p>
                  )}
                </>
              )}
              <p class="state">{outboxState(entry, online)}</p>
              <div class="actions">
                {(entry.status === "refused" || entry.status === "failed") && (
                  <button type="button" onClick={async () => { await retryNow(db, entry.clientId); outboxChanged(); }}>
                    {t("outbox.retry")}
                  </button>
                )}
                <button type="button" onClick={async () => { await discard(db, entry.clientId); outboxChanged(); }}>
                  {t("outbox.discard")}
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** What the user is told about an entry's state. */
export function outboxState(entry: AnyOutboxEntry, online = navigator.onLine): string {
  switch (entry.status) {
    case "refused":
      return t("outbox.refused", { reason: entry.reason ?? "" });
    case "failed":
      return t("outbox.failed", { attempts: entry.attempts });
    case "sending":
      return online ? t("outbox.sending") : t("outbox.waiting");
    case "waiting":
      return t("outbox.waiting");
  }
}
