import "fake-indexeddb/auto";
import { afterEach, describe, expect, it } from "vitest";
import { glassOpenings, type AccessEntry } from "../src/lib/glass";
import { openInvitations, rememberInvitation, sentInvitations } from "../src/lib/invites";
import { dropPatient, openStore, type Store } from "../src/lib/store";

const doctor = { displayName: "井上 聡", profession: "DOCTOR" };
const nurse = { displayName: "佐藤 美咲", profession: "NURSE" };
const entry = (at: string, action: string, actor = doctor, basis: AccessEntry["basis"] = null): AccessEntry => ({
  at,
  action,
  decision: "allow",
  actor,
  basis,
});

describe("glassOpenings", () => {
  it("gives each opening the reason of the first read after it by the same person", () => {
    const found = glassOpenings([
      entry("2026-12-07T10:05:00Z", "read", doctor, { kind: "glass", reason: "搬送先で確認" }),
      entry("2026-12-07T10:06:00Z", "read", doctor, { kind: "glass", reason: "搬送先で確認" }),
      entry("2026-12-07T10:04:00Z", "access.glass_opened"),
      entry("2026-12-07T10:07:00Z", "read", nurse, { kind: "member", reason: null }),
    ]);
    expect(found).toEqual([{ at: "2026-12-07T10:04:00Z", actor: doctor, reason: "搬送先で確認", reads: 2 }]);
  });

  it("keeps openings newest first, and reads whose opening is beyond the page as one", () => {
    const found = glassOpenings([
      entry("2026-12-07T09:00:00Z", "read", nurse, { kind: "glass", reason: "夜間の急変" }),
      entry("2026-12-07T11:00:00Z", "access.glass_opened"),
    ]);
    expect(found.map((o) => [o.actor?.displayName, o.reason])).toEqual([
      ["井上 聡", null],
      ["佐藤 美咲", "夜間の急変"],
    ]);
  });

  it("finds nothing in ordinary history", () => {
    expect(glassOpenings([entry("2026-12-07T09:00:00Z", "read", nurse, { kind: "member", reason: null })])).toEqual([]);
  });
});

describe("invitations sent from this phone", () => {
  let db: Store | null = null;
  afterEach(() => db?.close());
  const invitation = (id: string, invitee: string, expiresAt = "2999-01-01T00:00:00Z") => ({
    id,
    role: "MEMBER",
    createdAt: "2026-12-07T00:00:00Z",
    expiresAt,
    invitee: { id: invitee, displayName: invitee },
  });

  it("are open until the invitee is on the team or they expire, then forgotten", async () => {
    db = await openStore(`invites-${crypto.randomUUID()}`);
    await rememberInvitation(db, "p1", invitation("i1", "u1"));
    await rememberInvitation(db, "p1", invitation("i2", "u2"));
    await rememberInvitation(db, "p1", invitation("i3", "u3", "2000-01-01T00:00:00Z"));
    await rememberInvitation(db, "p2", invitation("i4", "u1"));
    const open = await openInvitations(db, "p1", new Set(["u1"]));
    expect(open.map((i) => i.id)).toEqual(["i2"]);
    expect((await sentInvitations(db, "p1")).map((i) => i.id)).toEqual(["i2"]);
    expect((await sentInvitations(db, "p2")).map((i) => i.id)).toEqual(["i4"]);
  });

  it("go with the patient when access is lost", async () => {
    db = await openStore(`invites-${crypto.randomUUID()}`);
    await rememberInvitation(db, "p1", invitation("i1", "u1"));
    await db.put("meta", [], "team:p1");
    await dropPatient(db, "p1");
    expect(await sentInvitations(db, "p1")).toEqual([]);
    expect(await db.get("meta", "team:p1")).toBeUndefined();
  });
});
