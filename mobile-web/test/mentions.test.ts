import "fake-indexeddb/auto";
import { afterEach, describe, expect, it } from "vitest";
import { mentionable, type TeamMember } from "../src/lib/mentions";
import { enqueue, isPostEntry, listOutbox } from "../src/lib/outbox";
import { openStore, type Store } from "../src/lib/store";

const member = (username: string, role: string, until: string | null = null): TeamMember => ({
  role,
  until,
  user: { id: `id-${username}`, username, displayName: username, profession: null },
});
const team = [
  member("nurse", "MEMBER"),
  member("doctor", "MEMBER"),
  member("cm", "COORDINATOR"),
  member("family", "FAMILY"),
  member("gone", "MEMBER", "2020-01-01T00:00:00Z"),
];

describe("mentionable", () => {
  it("offers the professionals who read every post, not the author nor a member who left", () => {
    const names = mentionable(team, { visibleToFamily: false, me: "nurse" }).map((m) => m.user.username);
    expect(names).toEqual(["cm", "doctor"]);
  });

  it("offers family only for a post visible to family", () => {
    const names = mentionable(team, { visibleToFamily: true, me: "nurse" }).map((m) => m.user.username);
    expect(names).toEqual(["cm", "doctor", "family"]);
  });
});

describe("the outbox keeps mentions", () => {
  let db: Store | null = null;
  afterEach(() => db?.close());

  it("as ids for the server and names for the phone", async () => {
    db = await openStore(`mentions-${crypto.randomUUID()}`);
    const input = { patientId: "p1", category: "OTHER" as const, body: "x", vitals: null, urgent: false, visibleToFamily: false };
    await enqueue(db, input, new Date(), [], [{ id: "id-doctor", displayName: "doctor" }]);
    await enqueue(db, input, new Date(Date.now() + 1));
    const [first, second] = (await listOutbox(db)).filter(isPostEntry);
    expect(first.input.mentionIds).toEqual(["id-doctor"]);
    expect(first.mentions).toEqual([{ id: "id-doctor", displayName: "doctor" }]);
    expect(second.input.mentionIds).toEqual([]);
  });
});
