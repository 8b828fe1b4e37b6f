import "fake-indexeddb/auto";
import { openDB } from "idb";
import { afterEach, describe, expect, it } from "vitest";
import { enqueue, listOutbox } from "../src/lib/outbox";
import {
  DB_VERSION,
  dropPatient,
  loadPatients,
  loadPosts,
  openStore,
  reconcilePatients,
  savePatients,
  savePosts,
  wipeStore,
  type Store,
} from "../src/lib/store";
import type { PatientRow, PostRow } from "../src/lib/types";

let name = "";
let db: Store | null = null;
async function fresh(): Promise<Store> {
  name = `test-${crypto.randomUUID()}`;
  db = await openStore(name);
  return db;
}
afterEach(() => db?.close());

const patient = (id: string): PatientRow => ({
  id, displayName: `患者 ${id}`, kana: id, lastVisitAt: null, unreadCount: 0, urgentUnreadCount: 0, risk: null,
});
const post = (id: string, patientId: string, createdAt: string): PostRow => ({
  id, clientId: id, patientId, author: null, category: "OTHER", body: id, vitals: null, urgent: false,
  visibleToFamily: false, createdAt, editedAt: null, retractedAt: null, retractReason: null, readBy: null,
  acknowledgedBy: null, awaitingAcknowledgement: null, overdue: false, photos: [],
});
const draft = (patientId: string) => ({
  patientId, category: "OTHER" as const, body: "x", vitals: null, urgent: false, visibleToFamily: false,
});

describe("the offline store", () => {
  it("creates every store at the current version from nothing", async () => {
    const store = await fresh();
    expect(store.version).toBe(DB_VERSION);
    expect([...store.objectStoreNames].sort()).toEqual(["meta", "outbox", "patients", "posts"]);
  });

  it("keeps what a store at an earlier version held when it opens (migrations only add)", async () => {
    name = `test-${crypto.randomUUID()}`;
    const old = await openDB(name, 1, {
      upgrade(raw) {
        raw.createObjectStore("patients", { keyPath: "id" });
        raw.createObjectStore("posts", { keyPath: "id" }).createIndex("byPatient", "patientId");
        raw.createObjectStore("outbox", { keyPath: "clientId" }).createIndex("byCreated", "createdAt");
        raw.createObjectStore("meta");
      },
    });
    await old.put("patients", patient("p1"));
    old.close();
    db = await openStore(name);
    expect((await loadPatients(db)).map((p) => p.id)).toEqual(["p1"]);
  });

  it("replaces the patient list with the server's answer", async () => {
    const store = await fresh();
    await savePatients(store, [patient("a"), patient("b")]);
    await savePatients(store, [patient("b")]);
    expect((await loadPatients(store)).map((p) => p.id)).toEqual(["b"]);
  });

  it("gives one patient's posts, newest first", async () => {
    const store = await fresh();
    await savePosts(store, [post("1", "a", "2026-01-01T00:00:00Z"), post("2", "a", "2026-01-02T00:00:00Z"), post("3", "b", "2026-01-03T00:00:00Z")]);
    expect((await loadPosts(store, "a")).map((p) => p.id)).toEqual(["2", "1"]);
  });

  it("drops a lost patient's row, posts and unsent posts, counting the unsent", async () => {
    const store = await fresh();
    await savePatients(store, [patient("a"), patient("b")]);
    await savePosts(store, [post("1", "a", "2026-01-01T00:00:00Z"), post("2", "b", "2026-01-01T00:00:00Z")]);
    await enqueue(store, draft("a"));
    await enqueue(store, draft("a"));
    await enqueue(store, draft("b"));
    expect(await dropPatient(store, "a")).toBe(2);
    expect((await loadPatients(store)).map((p) => p.id)).toEqual(["b"]);
    expect(await loadPosts(store, "a")).toEqual([]);
    expect((await listOutbox(store)).map((e) => e.patientId)).toEqual(["b"]);
  });

  it("reconciles with the patients the server still lists", async () => {
    const store = await fresh();
    await savePatients(store, [patient("a"), patient("b")]);
    await savePosts(store, [post("1", "c", "2026-01-01T00:00:00Z")]);
    await enqueue(store, draft("b"));
    expect(await reconcilePatients(store, new Set(["a"]))).toBe(1);
    expect((await loadPatients(store)).map((p) => p.id)).toEqual(["a"]);
    expect(await loadPosts(store, "c")).toEqual([]);
  });

  it("wipes everything on sign-out", async () => {
    const store = await fresh();
    await savePatients(store, [patient("a")]);
    await savePosts(store, [post("1", "a", "2026-01-01T00:00:00Z")]);
    await enqueue(store, draft("a"));
    await store.put("meta", { username: "x" }, "me");
    await wipeStore(store);
    for (const s of ["patients", "posts", "outbox", "meta"] as const) expect(await store.count(s)).toBe(0);
  });
});
