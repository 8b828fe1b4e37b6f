// The outbox: posts written on the phone wait here, in IndexedDB, until the server accepts them.
// Each carries the clientId it was made with, so a retry after a lost answer returns the post
// already stored instead of a second copy. Its states tell the user why a post is still here:
//   waiting  - not tried yet, or the network is down (it goes as soon as it is back);
//   sending  - on its way;
//   failed   - the server or network broke mid-way: retried by itself, with growing pauses;
//   refused  - the server said no (a 4xx or a GraphQL error): kept, shown with the reason, not retried.
// A safety status set from the phone (安否確認) is an entry of its own kind, "safety", sent and
// shown the same way; its clientId makes a retried send change nothing on the server.
import type { SafetyStatus, SetSafetyInput } from "./incidents";
import type { Store } from "./store";
import type { CreatePostInput } from "./types";

export type OutboxStatus = "waiting" | "sending" | "failed" | "refused";

/** A photo taken with the post, kept as bytes until it is uploaded (then by its upload id, so a
 *  retry never uploads it twice). Entries from before photos existed have none. */
export interface OutboxPhoto {
  data: ArrayBuffer;
  type: string;
  uploadId: string | null;
}

/** Someone the post mentions, named for the phone's own display (the server gets the ids). */
export interface Mention {
  id: string;
  displayName: string;
}

/** A post waiting to be sent. Entries from before other kinds existed have no `kind`. */
export interface OutboxEntry {
  kind?: "post";
  clientId: string;
  patientId: string;
  input: CreatePostInput;
  photos?: OutboxPhoto[];
  /** Whom `input.mentionIds` names, for showing the post while it waits; entries from before
   *  mentions existed have none. */
  mentions?: Mention[];
  createdAt: string;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: number; // epoch ms; 0 = now
  reason: string | null;
}

/** A safety status waiting to be sent: setSafetyStatus's input, with the person's name kept for
 *  showing it while it waits. */
export interface SafetyOutboxEntry {
  kind: "safety";
  clientId: string;
  patientId: string;
  input: SetSafetyInput;
  patientName: string;
  createdAt: string;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: number;
  reason: string | null;
}

/** Anything the outbox holds. */
export type AnyOutboxEntry = OutboxEntry | SafetyOutboxEntry;

export const isSafetyEntry = (entry: AnyOutboxEntry): entry is SafetyOutboxEntry => entry.kind === "safety";
export const isPostEntry = (entry: AnyOutboxEntry): entry is OutboxEntry => entry.kind !== "safety";

/** What one try to send an entry came to. */
export type SendResult =
  | { outcome: "sent"; postId?: string }
  | { outcome: "offline" }
  | { outcome: "failed"; reason: string }
  | { outcome: "refused"; reason: string };

/** Sends one entry. `progress` stores what was done so far (an uploaded photo's id), so that
 *  the next try goes on from there. */
export type Sender = (
  entry: AnyOutboxEntry,
  progress: (entry: AnyOutboxEntry) => Promise<void>,
) => Promise<SendResult>;

const BASE_DELAY_MS = 2_000;
const MAX_DELAY_MS = 5 * 60_000;

/** The pause before the next try after `attempts` failures: 2 s, 4 s, 8 s ... at most 5 min. */
export function backoff(attempts: number): number {
  return Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.max(0, attempts - 1));
}

export function newClientId(): string {
  return crypto.randomUUID();
}

export async function enqueue(
  db: Store,
  input: Omit<CreatePostInput, "clientId">,
  now = new Date(),
  photos: { data: ArrayBuffer; type: string }[] = [],
  mentions: Mention[] = [],
): Promise<OutboxEntry> {
  const entry: OutboxEntry = {
    clientId: newClientId(),
    patientId: input.patientId,
    input: { ...input, clientId: "", mentionIds: mentions.map((m) => m.id) },
    photos: photos.map((p) => ({ ...p, uploadId: null })),
    mentions,
    createdAt: now.toISOString(),
    status: "waiting",
    attempts: 0,
    nextAttemptAt: 0,
    reason: null,
  };
  entry.input.clientId = entry.clientId;
  await db.put("outbox", entry);
  return entry;
}

/** Queue a safety status. A newer status for the same person in the same incident replaces one
 *  still waiting (the newer is what the carer means), keeping its place in the queue. */
export async function enqueueSafety(
  db: Store,
  input: Omit<SetSafetyInput, "clientId">,
  patientName: string,
  now = new Date(),
): Promise<SafetyOutboxEntry> {
  const entry: SafetyOutboxEntry = {
    kind: "safety",
    clientId: newClientId(),
    patientId: input.patientId,
    input: { ...input, clientId: "" },
    patientName,
    createdAt: now.toISOString(),
    status: "waiting",
    attempts: 0,
    nextAttemptAt: 0,
    reason: null,
  };
  entry.input.clientId = entry.clientId;
  for (const old of await listOutbox(db)) {
    const same = isSafetyEntry(old) && old.input.incidentId === input.incidentId && old.patientId === input.patientId;
    if (same && old.status !== "sending") await db.delete("outbox", old.clientId);
  }
  await db.put("outbox", entry);
  return entry;
}

/** The safety statuses waiting for a person, newest last. */
export function waitingStatus(entries: AnyOutboxEntry[], incidentId: string, patientId: string): SafetyStatus | null {
  const mine = entries.filter(
    (e): e is SafetyOutboxEntry => isSafetyEntry(e) && e.input.incidentId === incidentId && e.patientId === patientId,
  );
  return mine.length ? mine[mine.length - 1].input.status : null;
}

/** The entries, oldest first (the order they are sent in). */
export async function listOutbox(db: Store): Promise<AnyOutboxEntry[]> {
  return db.getAllFromIndex("outbox", "byCreated");
}

export async function discard(db: Store, clientId: string): Promise<void> {
  await db.delete("outbox", clientId);
}

/** Make a refused or failed entry due again now (the user pressed "retry"). */
export async function retryNow(db: Store, clientId: string): Promise<void> {
  const entry = await db.get("outbox", clientId);
  if (!entry) return;
  await db.put("outbox", { ...entry, status: "waiting", nextAttemptAt: 0, reason: null });
}

export interface SyncReport {
  sent: string[]; // clientIds accepted by the server
  stoppedOffline: boolean;
}

let running: Promise<SyncReport> | null = null;

/** Send every due entry, oldest first; one sync at a time per page (a second call joins it).
 *  Stops at the first "offline" answer: the rest would fail the same way. */
export function sync(db: Store, send: Sender, now: () => number = Date.now): Promise<SyncReport> {
  running ??= syncOnce(db, send, now).finally(() => {
    running = null;
  });
  return running;
}

async function syncOnce(db: Store, send: Sender, now: () => number): Promise<SyncReport> {
  const report: SyncReport = { sent: [], stoppedOffline: false };
  for (const entry of await listOutbox(db)) {
    // A "sending" entry left by a page that closed mid-way is due again: its clientId makes it safe.
    if (entry.status === "refused" || entry.nextAttemptAt > now()) continue;
    await db.put("outbox", { ...entry, status: "sending" });
    let result: SendResult;
    try {
      result = await send(entry, async (progressed) => {
        // Only while it is still queued: a discarded entry stays discarded.
        if (await db.get("outbox", entry.clientId)) await db.put("outbox", { ...progressed, status: "sending" });
      });
    } catch (error) {
      result = { outcome: "failed", reason: String(error) };
    }
    // The user may have discarded it meanwhile: do not bring it back.
    const current = await db.get("outbox", entry.clientId);
    if (result.outcome === "sent") {
      if (current) await db.delete("outbox", entry.clientId);
      report.sent.push(entry.clientId);
      continue;
    }
    if (!current) continue;
    if (result.outcome === "offline") {
      await db.put("outbox", { ...current, status: "waiting", nextAttemptAt: 0 });
      report.stoppedOffline = true;
      break;
    }
    if (result.outcome === "refused") {
      await db.put("outbox", { ...current, status: "refused", reason: result.reason });
      continue;
    }
    const attempts = current.attempts + 1;
    await db.put("outbox", {
      ...current,
      status: "failed",
      attempts,
      reason: result.reason,
      nextAttemptAt: now() + backoff(attempts),
    });
  }
  return report;
}
