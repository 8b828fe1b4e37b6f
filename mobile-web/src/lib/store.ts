// The phone's offline store (IndexedDB through idb): the patient list and the timelines read,
// for a reload without network, and the outbox of posts not yet accepted by the server.
// Signing out wipes all of it (wipeStore); losing a patient drops that patient's part (dropPatient).
import { openDB, type DBSchema, type IDBPDatabase } from "idb";
import type { AnyOutboxEntry } from "./outbox";
import type { PatientRow, PostRow } from "./types";

export const DB_NAME = "renraku";
export const DB_VERSION = 1;

interface RenrakuDB extends DBSchema {
  patients: { key: string; value: PatientRow };
  posts: { key: string; value: PostRow; indexes: { byPatient: string } };
  outbox: { key: string; value: AnyOutboxEntry; indexes: { byCreated: string } };
  meta: { key: string; value: unknown };
}

export type Store = IDBPDatabase<RenrakuDB>;

/** Each step brings a store of version `index` to `index + 1`; append, never edit, a step. */
const MIGRATIONS: ((db: IDBPDatabase<RenrakuDB>) => void)[] = [
  (db) => {
    db.createObjectStore("patients", { keyPath: "id" });
    db.createObjectStore("posts", { keyPath: "id" }).createIndex("byPatient", "patientId");
    db.createObjectStore("outbox", { keyPath: "clientId" }).createIndex("byCreated", "createdAt");
    db.createObjectStore("meta");
  },
];

export function openStore(name: string = DB_NAME): Promise<Store> {
  return openDB<RenrakuDB>(name, DB_VERSION, {
    upgrade(db, oldVersion) {
      for (let v = oldVersion; v < DB_VERSION; v++) MIGRATIONS[v](db);
    },
  });
}

export async function wipeStore(db: Store): Promise<void> {
  const tx = db.transaction(["patients", "posts", "outbox", "meta"], "readwrite");
  await Promise.all([
    tx.objectStore("patients").clear(),
    tx.objectStore("posts").clear(),
    tx.objectStore("outbox").clear(),
    tx.objectStore("meta").clear(),
    tx.done,
  ]);
}

/** Replace the cached patient list with `rows` (the server's answer is the whole truth). */
export async function savePatients(db: Store, rows: PatientRow[]): Promise<void> {
  const tx = db.transaction("patients", "readwrite");
  await tx.store.clear();
  for (const row of rows) await tx.store.put(row);
  await tx.done;
}

export async function loadPatients(db: Store): Promise<PatientRow[]> {
  return db.getAll("patients");
}

export async function savePosts(db: Store, rows: PostRow[]): Promise<void> {
  const tx = db.transaction("posts", "readwrite");
  for (const row of rows) await tx.store.put(row);
  await tx.done;
}

/** The cached posts of one patient, newest first. */
export async function loadPosts(db: Store, patientId: string): Promise<PostRow[]> {
  const rows = await db.getAllFromIndex("posts", "byPatient", patientId);
  return rows.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

/** The meta keys kept per patient: its team for mentions, and `invites:` that phones kept of the
 *  invitations they sent before the server listed a team's invitations (wiped with the rest). */
export const patientMetaKeys = (patientId: string): string[] => [`team:${patientId}`, `invites:${patientId}`];

/** Forget a patient the user lost access to: its row, its posts, its unsent posts and what else
 *  was kept of it. Returns how many unsent posts were discarded, to tell the user. */
export async function dropPatient(db: Store, patientId: string): Promise<number> {
  const tx = db.transaction(["patients", "posts", "outbox", "meta"], "readwrite");
  await tx.objectStore("patients").delete(patientId);
  for (const key of patientMetaKeys(patientId)) await tx.objectStore("meta").delete(key);
  const posts = tx.objectStore("posts");
  for (const key of await posts.index("byPatient").getAllKeys(patientId)) await posts.delete(key);
  let dropped = 0;
  const outbox = tx.objectStore("outbox");
  for (const entry of await outbox.getAll()) {
    if (entry.patientId === patientId) {
      await outbox.delete(entry.clientId);
      dropped++;
    }
  }
  await tx.done;
  return dropped;
}

/** Keep only the patients the server still lists (at start-up); returns the unsent posts dropped. */
export async function reconcilePatients(db: Store, visibleIds: Set<string>): Promise<number> {
  const known = new Set<string>([
    ...(await db.getAllKeys("patients")),
    ...(await db.getAll("posts")).map((p) => p.patientId),
    ...(await db.getAll("outbox")).map((e) => e.patientId),
  ]);
  let dropped = 0;
  for (const id of known) if (!visibleIds.has(id)) dropped += await dropPatient(db, id);
  return dropped;
}
