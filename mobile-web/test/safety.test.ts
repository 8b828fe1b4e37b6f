import "fake-indexeddb/auto";
import { afterEach, describe, expect, it } from "vitest";
import { sortChecks, type MySafetyCheck } from "../src/lib/incidents";
import {
  enqueue,
  enqueueSafety,
  isSafetyEntry,
  listOutbox,
  sync,
  waitingStatus,
  type AnyOutboxEntry,
  type SendResult,
} from "../src/lib/outbox";
import { href, parse, redirectFor } from "../src/lib/router";
import { dropPatient, openStore, type Store } from "../src/lib/store";
import { ja } from "../src/i18n/ja";

let db: Store | null = null;
async function fresh(): Promise<Store> {
  db = await openStore(`safety-${crypto.randomUUID()}`);
  return db;
}
afterEach(() => db?.close());

const status = (patientId: string, s: "SAFE" | "EVACUATED" | "NEEDS_HELP", place = "") => ({
  incidentId: "inc-1",
  patientId,
  status: s,
  place,
  note: "",
});

describe("a safety status in the outbox", () => {
  it("is an entry of its own kind, with its clientId in the mutation's input", async () => {
    const store = await fresh();
    const entry = await enqueueSafety(store, status("p1", "EVACUATED", "西浦小学校"), "伊藤 ハル");
    expect(entry.kind).toBe("safety");
    expect(entry.clientId).toMatch(/^[0-9a-f-]{36}$/);
    expect(entry.input).toEqual({ ...status("p1", "EVACUATED", "西浦小学校"), clientId: entry.clientId });
    expect(entry.status).toBe("waiting");
    const [listed] = await listOutbox(store);
    expect(isSafetyEntry(listed)).toBe(true);
    expect(waitingStatus(await listOutbox(store), "inc-1", "p1")).toBe("EVACUATED");
    expect(waitingStatus(await listOutbox(store), "inc-1", "p2")).toBeNull();
  });

  it("replaces a status still waiting for the same person: the newer is what the carer means", async () => {
    const store = await fresh();
    await enqueueSafety(store, status("p1", "NEEDS_HELP"), "A", new Date("2026-01-01T00:00:00Z"));
    await enqueueSafety(store, status("p2", "SAFE"), "B", new Date("2026-01-01T00:00:01Z"));
    await enqueueSafety(store, status("p1", "SAFE"), "A", new Date("2026-01-01T00:00:02Z"));
    const entries = (await listOutbox(store)).filter(isSafetyEntry);
    expect(entries.map((e) => [e.patientId, e.input.status])).toEqual([
      ["p2", "SAFE"],
      ["p1", "SAFE"],
    ]);
  });

  it("goes with the posts, oldest first, and the same clientId on every try", async () => {
    const store = await fresh();
    const post = { patientId: "p1", category: "OTHER" as const, body: "x", vitals: null, urgent: false, visibleToFamily: false };
    await enqueue(store, post, new Date("2026-01-01T00:00:00Z"));
    const safety = await enqueueSafety(store, status("p1", "SAFE"), "A", new Date("2026-01-01T00:00:01Z"));
    const tried: string[] = [];
    const answers: SendResult[] = [{ outcome: "sent" }, { outcome: "offline" }, { outcome: "sent" }, { outcome: "sent" }];
    const send = async (entry: AnyOutboxEntry): Promise<SendResult> => {
      tried.push(isSafetyEntry(entry) ? `safety:${entry.input.clientId}` : "post");
      return answers.shift()!;
    };
    await sync(store, send);
    // The post went; the status met no network and waits, as it was.
    let [waiting] = await listOutbox(store);
    expect(waiting.clientId).toBe(safety.clientId);
    expect(waiting.status).toBe("waiting");
    await sync(store, send);
    expect(await listOutbox(store)).toEqual([]);
    expect(tried).toEqual(["post", `safety:${safety.clientId}`, `safety:${safety.clientId}`]);
  });

  it("is kept when refused, with the reason, and dropped with a patient the user lost", async () => {
    const store = await fresh();
    await enqueueSafety(store, status("p1", "SAFE"), "A");
    await sync(store, async () => ({ outcome: "refused", reason: "This incident has ended." }));
    const [refused] = await listOutbox(store);
    expect([refused.status, refused.reason]).toEqual(["refused", "This incident has ended."]);
    expect(await dropPatient(store, "p1")).toBe(1);
    expect(await listOutbox(store)).toEqual([]);
  });
});

describe("my safety checks", () => {
  const check = (id: string, kana: string, assignedToMe: boolean, s = "UNKNOWN"): MySafetyCheck => ({
    incidentId: "inc-1",
    incidentReason: "大雨",
    incidentLevel: 3,
    assignedToMe,
    patient: { id, displayName: id, kana },
    check: { status: s as MySafetyCheck["check"]["status"], place: "", note: "", updatedAt: null },
  });

  it("lists those assigned to me first, then the people not reached, then by kana", () => {
    const sorted = sortChecks([check("a", "あ", false, "SAFE"), check("b", "い", false), check("c", "う", true, "SAFE"), check("d", "え", true)]);
    expect(sorted.map((c) => c.patient.id)).toEqual(["d", "c", "b", "a"]);
  });
});

describe("the incident screens' addresses", () => {
  it("are plain paths the server answers with the app", () => {
    const map = { name: "incident" as const, incidentId: "SW5j/1", view: "map" as const };
    expect(href(map)).toBe("/incidents/SW5j%2F1/map");
    expect(parse(href(map))).toEqual(map);
    expect(href({ name: "incident", incidentId: "X" })).toBe("/incidents/X");
    expect(href({ name: "incident", incidentId: "X", view: "print" })).toBe("/incidents/X/sheet");
    expect(parse("/incidents/X")).toEqual({ name: "incident", incidentId: "X", view: "list" });
    expect(parse("/incidents/X/board")).toEqual({ name: "incident", incidentId: "X", view: "board" });
    expect(href({ name: "safety" })).toBe("/safety");
    expect(parse("/safety")).toEqual({ name: "safety" });
    expect(parse("/home")).toEqual({ name: "home" });
  });

  it("never take the server's downloads for a view", () => {
    for (const view of ["list", "board", "map", "print"] as const) {
      expect(href({ name: "incident", incidentId: "X", view })).not.toMatch(/\.(csv|geojson)$/);
    }
    expect(parse("/incidents/X/priority.csv")).toEqual({ name: "home" });
  });

  it("send the old /home?… links and roundabout ones to the plain path", () => {
    expect(redirectFor("/home?incident=X&view=map")).toBe("/incidents/X/map");
    expect(redirectFor("/home?incident=X&view=print")).toBe("/incidents/X/sheet");
    expect(redirectFor("/home?incident=X")).toBe("/incidents/X");
    expect(redirectFor("/home?view=safety")).toBe("/safety");
    expect(redirectFor("/incidents/X/list")).toBe("/incidents/X");
    expect(redirectFor("/incidents")).toBe("/");
    expect(redirectFor("/incidents/X/board")).toBeNull();
    expect(redirectFor("/safety")).toBeNull();
    expect(redirectFor("/patients/P1")).toBeNull();
    expect(redirectFor("/home")).toBeNull();
  });
});

describe("the Japanese catalogue", () => {
  it("calls an incident 災害対応, never インシデント (the notebook's incident reports)", () => {
    for (const [key, text] of Object.entries(ja)) expect(text, key).not.toContain("インシデント");
  });
});
