import "fake-indexeddb/auto";
import { afterEach, describe, expect, it } from "vitest";
import {
  backoff,
  discard,
  enqueue,
  listOutbox,
  retryNow,
  sync,
  isPostEntry,
  type AnyOutboxEntry,
  type SendResult,
  type Sender,
} from "../src/lib/outbox";
import { openStore, type Store } from "../src/lib/store";
import type { CreatePostInput } from "../src/lib/types";

let db: Store | null = null;
async function fresh(): Promise<Store> {
  db = await openStore(`outbox-${crypto.randomUUID()}`);
  return db;
}
afterEach(() => db?.close());

/** The posts queued (these tests queue nothing else). */
const listPosts = async (store: Store) => (await listOutbox(store)).filter(isPostEntry);

const draft = (body: string) => ({
  patientId: "p1", category: "VITALS" as const, body, vitals: { temperature: 37.2 }, urgent: false, visibleToFamily: false,
});

/** A fake server: answers each send from `answers` in turn, remembering what it was sent. */
function server(...answers: SendResult["outcome"][]) {
  const sent: CreatePostInput[] = [];
  const send = async (entry: AnyOutboxEntry): Promise<SendResult> => {
    sent.push(entry.input as CreatePostInput);
    const outcome = answers.shift() ?? "sent";
    if (outcome === "sent") return { outcome, postId: `post-${sent.length}` };
    if (outcome === "offline") return { outcome };
    return { outcome, reason: `${outcome} reason` };
  };
  return { send, sent };
}

describe("the outbox", () => {
  it("queues a post with its own clientId, waiting", async () => {
    const store = await fresh();
    const entry = await enqueue(store, draft("a"));
    expect(entry.clientId).toMatch(/^[0-9a-f-]{36}$/);
    expect(entry.input.clientId).toBe(entry.clientId);
    expect(entry.status).toBe("waiting");
  });

  it("sends oldest first and forgets what the server accepted", async () => {
    const store = await fresh();
    await enqueue(store, draft("first"), new Date("2026-01-01T00:00:00Z"));
    await enqueue(store, draft("second"), new Date("2026-01-01T00:00:01Z"));
    const fake = server("sent", "sent");
    const report = await sync(store, fake.send);
    expect(fake.sent.map((i) => i.body)).toEqual(["first", "second"]);
    expect(report.sent).toHaveLength(2);
    expect(await listPosts(store)).toEqual([]);
  });

  it("stops at the first offline answer and keeps everything waiting", async () => {
    const store = await fresh();
    await enqueue(store, draft("a"), new Date("2026-01-01T00:00:00Z"));
    await enqueue(store, draft("b"), new Date("2026-01-01T00:00:01Z"));
    const fake = server("offline");
    const report = await sync(store, fake.send);
    expect(report.stoppedOffline).toBe(true);
    expect(fake.sent).toHaveLength(1);
    expect((await listPosts(store)).map((e) => e.status)).toEqual(["waiting", "waiting"]);
  });

  it("keeps a refused post with its reason and does not send it again by itself", async () => {
    const store = await fresh();
    await enqueue(store, draft("bad"));
    await sync(store, server("refused").send);
    const [entry] = await listPosts(store);
    expect(entry.status).toBe("refused");
    expect(entry.reason).toBe("refused reason");
    const again = server("sent");
    await sync(store, again.send);
    expect(again.sent).toHaveLength(0);
    await retryNow(store, entry.clientId);
    await sync(store, again.send);
    expect(await listPosts(store)).toEqual([]);
  });

  it("retries a failed post after a growing pause, with the same clientId", async () => {
    const store = await fresh();
    const queued = await enqueue(store, draft("flaky"));
    let now = 1_000_000;
    const fake = server("failed", "failed", "sent");
    await sync(store, fake.send, () => now);
    let [entry] = await listPosts(store);
    expect(entry).toMatchObject({ status: "failed", attempts: 1, nextAttemptAt: now + backoff(1) });
    await sync(store, fake.send, () => now); // not due yet
    expect(fake.sent).toHaveLength(1);
    now += backoff(1);
    await sync(store, fake.send, () => now);
    [entry] = await listPosts(store);
    expect(entry).toMatchObject({ status: "failed", attempts: 2 });
    now += backoff(2);
    await sync(store, fake.send, () => now);
    expect(await listPosts(store)).toEqual([]);
    expect(new Set(fake.sent.map((i) => i.clientId))).toEqual(new Set([queued.clientId]));
  });

  it("backs off 2 s, 4 s, 8 s ... up to five minutes", () => {
    expect([1, 2, 3].map(backoff)).toEqual([2_000, 4_000, 8_000]);
    expect(backoff(30)).toBe(300_000);
  });

  it("treats a send that throws as failed, not lost", async () => {
    const store = await fresh();
    await enqueue(store, draft("boom"));
    await sync(store, async () => {
      throw new Error("socket hang up");
    });
    const [entry] = await listPosts(store);
    expect(entry.status).toBe("failed");
  });

  it("sends a post left 'sending' by a closed page again (the clientId makes it safe)", async () => {
    const store = await fresh();
    const entry = await enqueue(store, draft("interrupted"));
    await store.put("outbox", { ...entry, status: "sending" });
    const fake = server("sent");
    await sync(store, fake.send);
    expect(fake.sent.map((i) => i.clientId)).toEqual([entry.clientId]);
  });

  it("does not bring back a post discarded while it was being sent", async () => {
    const store = await fresh();
    const entry = await enqueue(store, draft("gone"));
    await sync(store, async () => {
      await discard(store, entry.clientId);
      return { outcome: "failed", reason: "x" };
    });
    expect(await listPosts(store)).toEqual([]);
  });

  it("runs one sync at a time: a second call joins the first", async () => {
    const store = await fresh();
    await enqueue(store, draft("once"));
    const fake = server("sent");
    await Promise.all([sync(store, fake.send), sync(store, fake.send)]);
    expect(fake.sent).toHaveLength(1);
  });

  it("keeps its photos as bytes and uploads each once, even across a failed try", async () => {
    const store = await fresh();
    const bytes = new Uint8Array([1, 2, 3]).buffer;
    await enqueue(store, draft("with photos"), new Date(), [
      { data: bytes, type: "image/jpeg" },
      { data: bytes, type: "image/jpeg" },
    ]);
    const uploads: number[] = [];
    let tries = 0;
    // Uploads the first photo, then the network breaks; the second try finishes.
    const send: Sender = async (entry, progress) => {
      tries++;
      if (!isPostEntry(entry)) throw new Error("a post was queued");
      const photos = [...(entry.photos ?? [])];
      for (let i = 0; i < photos.length; i++) {
        if (photos[i].uploadId) continue;
        if (tries === 1 && i === 1) return { outcome: "failed", reason: "network" };
        uploads.push(i);
        photos[i] = { ...photos[i], uploadId: `upload-${i}` };
        await progress({ ...entry, photos });
      }
      return { outcome: "sent", postId: "p" };
    };
    let now = 0;
    await sync(store, send, () => now);
    const [waiting] = await listPosts(store);
    expect(waiting.status).toBe("failed");
    expect(waiting.photos?.map((p) => p.uploadId)).toEqual(["upload-0", null]);
    expect(new Uint8Array(waiting.photos![1].data)).toEqual(new Uint8Array([1, 2, 3]));
    now += backoff(1);
    await sync(store, send, () => now);
    expect(uploads).toEqual([0, 1]);
    expect(await listPosts(store)).toEqual([]);
  });
});
